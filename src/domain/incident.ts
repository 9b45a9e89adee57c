/**
 * The incident world: what an incident is, what an update is, and the pure
 * rules that relate them. No I/O lives here.
 */

export const SEVERITIES = ['critical', 'major', 'minor', 'maintenance'] as const;
export type Severity = (typeof SEVERITIES)[number];

export const STATUSES = ['investigating', 'identified', 'monitoring', 'resolved'] as const;
export type IncidentStatus = (typeof STATUSES)[number];

/**
 * What an incident update is, which selects the template it is rendered from.
 * `holding` is the statement Herald broadcasts itself when the cadence lapses.
 */
export const INCIDENT_KINDS = ['opened', 'update', 'holding', 'resolved'] as const;
export type IncidentKind = (typeof INCIDENT_KINDS)[number];

/** The announcements of a scheduled maintenance, each a template of its own. */
export const MAINTENANCE_KINDS = [
  'maintenance-scheduled',
  'maintenance-reminder',
  'maintenance-started',
  'maintenance-completed',
  'maintenance-rescheduled',
  'maintenance-cancelled',
] as const;
export type MaintenanceKind = (typeof MAINTENANCE_KINDS)[number];

/** Everything broadcast to audiences. */
export const UPDATE_KINDS = [...INCIDENT_KINDS, ...MAINTENANCE_KINDS] as const;
export type UpdateKind = (typeof UPDATE_KINDS)[number];

/**
 * Messages to the commander only, never to audiences; Slack DM and email, so
 * only those channels have templates for them.
 */
export const COMMANDER_KINDS = ['reminder', 'delivery-failed'] as const;
export type CommanderKind = (typeof COMMANDER_KINDS)[number];

export const MAINTENANCE_STATUSES = ['scheduled', 'in_progress', 'completed', 'cancelled'] as const;
export type MaintenanceStatus = (typeof MAINTENANCE_STATUSES)[number];

/** The status an update reports: an incident's, or a maintenance's. */
export type UpdateStatus = IncidentStatus | MaintenanceStatus;

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
  status: UpdateStatus;
  message: string;
  /** The token name that posted it, or `"herald"` for a holding statement. */
  author: string;
  postedAt: string;
  /** Maintenance announcements only: the window as it stood when this was posted. */
  maintenance?: MaintenanceWindow;
}

/** When a maintenance happens; on a reschedule, also when it was to happen. */
export interface MaintenanceWindow {
  startsAt: string;
  endsAt: string;
  previous?: { startsAt: string; endsAt: string };
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

export function isOpen(incident: Pick<Incident, 'status'>): boolean {
  return incident.status !== 'resolved';
}

/** When the next update is due after a broadcast at `broadcastAt`. */
export function nextUpdateDue(broadcastAt: Date, cadenceSeconds: number): Date {
  return new Date(broadcastAt.getTime() + cadenceSeconds * 1000);
}
