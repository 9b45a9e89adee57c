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

/** A field of a request that breaks a rule, and how. */
export interface WindowProblem {
  field: string;
  message: string;
}

/** What is wrong with a window, or null. */
export function windowProblem(startsAt: number, endsAt: number, now: number, started: boolean): WindowProblem | null {
  if (!Number.isFinite(startsAt)) return { field: 'body.startsAt', message: 'is not a valid time' };
  if (!Number.isFinite(endsAt)) return { field: 'body.endsAt', message: 'is not a valid time' };
  if (!started && startsAt <= now) return { field: 'body.startsAt', message: 'must be in the future' };
  if (endsAt <= startsAt) return { field: 'body.endsAt', message: 'must be after startsAt' };
  if (endsAt <= now) return { field: 'body.endsAt', message: 'must be in the future' };
  return null;
}

/**
 * What is wrong with moving a maintenance to a new window, or null. Judged
 * against the state the change is applied to, so a change that raced
 * another is judged again on its retry.
 */
export function rescheduleProblem(
  current: { status: MaintenanceStatus; startsAt: number },
  next: { startsAt: number; endsAt: number },
  now: number,
): WindowProblem | null {
  const started = current.status === 'in_progress';
  if (started && next.startsAt !== current.startsAt) {
    return { field: 'body.startsAt', message: 'cannot change once the maintenance has started' };
  }
  return windowProblem(next.startsAt, next.endsAt, now, started);
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
