/**
 * Scheduled maintenance: announced at once, reminded at each lead time
 * before it starts, announced when it starts and when it completes. Pure
 * rules only: the timeline and what may change when.
 */
import type { IncidentUpdate, MaintenanceKind, MaintenanceStatus } from './incident.js';

export interface Maintenance {
  id: string;
  title: string;
  message: string;
  components: string[];
  audiences: string[];
  startsAt: string;
  endsAt: string;
  /** Lead times (seconds before `startsAt`) at which audiences are reminded. */
  remindBeforeSeconds: number[];
  status: MaintenanceStatus;
  createdAt: string;
  updatedAt: string;
  cancelledAt: string | null;
}

export interface MaintenanceWithUpdates extends Maintenance {
  updates: IncidentUpdate[];
}

/** One announcement on a maintenance's timeline. */
export interface TimelineEvent {
  kind: Extract<MaintenanceKind, 'maintenance-reminder' | 'maintenance-started' | 'maintenance-completed'>;
  at: number;
  /** For reminders: how long before the start. */
  leadSeconds?: number;
}

/** The announcements still to come for a window, as of `now` (epoch ms), in time order. */
export function timeline(window: { startsAt: number; endsAt: number; remindBeforeSeconds: readonly number[] }, now: number): TimelineEvent[] {
  const events: TimelineEvent[] = [];
  for (const lead of window.remindBeforeSeconds) {
    const at = window.startsAt - lead * 1000;
    // A reminder whose moment has passed is not sent late: the announcement already said when.
    if (at > now) events.push({ kind: 'maintenance-reminder', at, leadSeconds: lead });
  }
  if (window.startsAt >= now) events.push({ kind: 'maintenance-started', at: window.startsAt });
  events.push({ kind: 'maintenance-completed', at: window.endsAt });
  return events.sort((a, b) => a.at - b.at);
}

/** What is wrong with a window, or null. */
export function windowProblem(startsAt: number, endsAt: number, now: number, started: boolean): { field: string; message: string } | null {
  if (!started && startsAt <= now) return { field: 'body.startsAt', message: 'must be in the future' };
  if (endsAt <= startsAt) return { field: 'body.endsAt', message: 'must be after startsAt' };
  if (endsAt <= now) return { field: 'body.endsAt', message: 'must be in the future' };
  return null;
}

/** A maintenance that is over (completed or cancelled) takes no more changes. */
export function isFinished(status: MaintenanceStatus): boolean {
  return status === 'completed' || status === 'cancelled';
}

/** The status a timeline announcement moves the maintenance to. */
export function statusAfter(kind: TimelineEvent['kind'], current: MaintenanceStatus): MaintenanceStatus {
  if (kind === 'maintenance-started') return 'in_progress';
  if (kind === 'maintenance-completed') return 'completed';
  return current;
}
