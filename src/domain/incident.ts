/**
 * The incident world: what an incident is, what an update is, and the pure
 * rules that relate them. No I/O lives here.
 */

export const SEVERITIES = ['critical', 'major', 'minor', 'maintenance'] as const;
export type Severity = (typeof SEVERITIES)[number];

export const STATUSES = ['investigating', 'identified', 'monitoring', 'resolved'] as const;
export type IncidentStatus = (typeof STATUSES)[number];

/**
 * What an update is, which selects the template it is rendered from.
 * `holding` is the statement Herald broadcasts itself when the cadence lapses.
 */
export const UPDATE_KINDS = ['opened', 'update', 'holding', 'resolved'] as const;
export type UpdateKind = (typeof UPDATE_KINDS)[number];

/** The person running the incident; reminders go to them, never to audiences. */
export interface Commander {
  name?: string;
  email?: string;
  slackUserId?: string;
}

/** One message of an incident, in the order it was posted (`seq` 1, 2, …). */
export interface IncidentUpdate {
  id: string;
  incidentId: string;
  seq: number;
  kind: UpdateKind;
  status: IncidentStatus;
  message: string;
  /** The token name that posted it, or `"herald"` for a holding statement. */
  author: string;
  postedAt: string;
}

export interface Incident {
  id: string;
  title: string;
  severity: Severity;
  status: IncidentStatus;
  components: string[];
  audiences: string[];
  cadenceSeconds: number;
  commander: Commander | null;
  createdAt: string;
  updatedAt: string;
  lastBroadcastAt: string;
  /** When partners are promised the next update; null once resolved. */
  nextUpdateDueAt: string | null;
  resolvedAt: string | null;
}

export interface IncidentWithUpdates extends Incident {
  updates: IncidentUpdate[];
}

/** Author recorded on statements Herald makes on its own behalf. */
export const HERALD_AUTHOR = 'herald';

/** The kind of an update a commander posts, given the status it sets. */
export function kindOfPostedUpdate(status: IncidentStatus): UpdateKind {
  return status === 'resolved' ? 'resolved' : 'update';
}

export function isOpen(incident: Pick<Incident, 'status'>): boolean {
  return incident.status !== 'resolved';
}

/** When the next update is due after a broadcast at `broadcastAt`. */
export function nextUpdateDue(broadcastAt: Date, cadenceSeconds: number): Date {
  return new Date(broadcastAt.getTime() + cadenceSeconds * 1000);
}
