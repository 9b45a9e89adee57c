/**
 * The cadence's arithmetic: when an open incident's next update is due, and
 * when its commander is reminded of it. Computed here and nowhere else; the
 * store's scripts receive the results and only compare and store them.
 */
import { nextUpdateDue } from './incident.js';

/**
 * How long before an update is due the commander is reminded (ms): the
 * configured lead, capped at half the cadence so that a reminder never comes
 * before the previous broadcast has had half its interval.
 */
export function reminderLeadMs(cadenceSeconds: number, configuredLeadMs: number): number {
  return Math.min(configuredLeadMs, Math.floor((cadenceSeconds * 1000) / 2));
}

/** When the commander is reminded of an update due at `dueAtMs` (ms), or null when the lead is nothing. */
export function reminderAt(dueAtMs: number, cadenceSeconds: number, configuredLeadMs: number): number | null {
  const lead = reminderLeadMs(cadenceSeconds, configuredLeadMs);
  return lead > 0 ? dueAtMs - lead : null;
}

/** An open incident's clock after a broadcast: what the schedules hold for it. */
export interface CadenceClock {
  /** When the next update is due (ms); a holding statement goes out then if none came. */
  nextUpdateDueAt: number;
  /** When the commander (if the incident has one) is reminded (ms); null when the lead is nothing. */
  remindAt: number | null;
}

/** The clock of an incident of this cadence whose last broadcast was at `broadcastAtMs`. */
export function clockAfter(broadcastAtMs: number, cadenceSeconds: number, configuredLeadMs: number): CadenceClock {
  const due = nextUpdateDue(new Date(broadcastAtMs), cadenceSeconds).getTime();
  return { nextUpdateDueAt: due, remindAt: reminderAt(due, cadenceSeconds, configuredLeadMs) };
}
