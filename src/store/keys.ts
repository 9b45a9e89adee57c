/**
 * Every Redis key Herald writes, in one place. All keys start with the
 * configured prefix. An incident's delivery keys carry its id as hash tag, so
 * that each delivery script touches one Cluster slot; a `{hash-tag}` prefix
 * still keeps every key in one slot.
 */
import type { ChannelName } from '../channels/channel.js';

export interface Keys {
  /** hash: audience name → Audience JSON */
  audiences: string;
  /** string: a random version, new with every change to the audiences hash (lets processes cache it) */
  audiencesVersion: string;
  /** zset: every incident id, scored by creation time (ms) */
  incidents: string;
  /** zset: open incident ids, scored by creation time (ms) */
  openIncidents: string;
  /** hash: the incident's fields */
  incident(id: string): string;
  /** list: the incident's updates (JSON), in `seq` order */
  updates(incidentId: string): string;
  /** zset: open incident ids, scored by when a holding statement is due (their nextUpdateDueAt, ms) */
  holdingSchedule: string;
  /** zset: open incident ids, scored by when their commander is to be reminded (ms) */
  reminderSchedule: string;
  /** zset: maintenance ids, scored by creation time (ms) */
  maintenances: string;
  /** zset: a maintenance's future announcements, members `id|version|kind|atMs`, scored by when they are due */
  maintenanceSchedule: string;
  /** zset: "incidentId/updateId" of updates whose broadcast has not finished, scored by post time */
  pendingBroadcasts: string;
  /**
   * hash: target key → delivery record (`<state>|<next>|<details JSON>`, see
   * src/store/lua/lib/lanes.lua), one hash per update and channel. Like every
   * key of one incident's deliveries, it carries the incident's id as its hash
   * tag: one incident's delivery scripts run in one Cluster slot, and
   * different incidents spread over the masters.
   */
  deliveries(incidentId: string, updateId: string, channel: ChannelName): string;
  /**
   * hash: target key → the target's lane: the update ids whose delivery to it
   * is not final, oldest first, space-separated; the head, in flight, may
   * carry a job's lease (`updateId|owner|untilMs`). Only the head is sent,
   * which is how updates reach each target in order.
   */
  lanes(incidentId: string, channel: ChannelName): string;
  /** hash: "channel|targetKey" → ThreadState JSON (Slack root ts, last post id, email references) */
  threads(incidentId: string): string;
  /** hash: "channel:state" → deliveries of the update in that state; kept forever */
  totals(incidentId: string, updateId: string): string;
  /** zset: resolved incident ids, scored by when their delivery records are to be removed (ms) */
  deliveryRetention: string;
  /** string: a stored Idempotency-Key result */
  idempotency(tokenName: string, key: string): string;
  /** string: the secret signing unsubscribe links, shared by every process */
  signingSecret: string;
  /** hash: "channel:state" → count of deliveries that reached that state */
  deliveryCounts: string;
  /** hash: "holding" / "reminder" → holding statements posted and commanders reminded, by every process */
  cadenceCounts: string;
  /** string (with expiry): set once the commander was alerted of a dead delivery of this update */
  deadAlert(updateId: string): string;
}

export function keysFor(prefix: string): Keys {
  const k = (...parts: string[]): string => [prefix, ...parts].join(':');
  return {
    audiences: k('audiences'),
    audiencesVersion: k('audiences', 'version'),
    incidents: k('incidents'),
    openIncidents: k('incidents', 'open'),
    incident: (id) => k('incident', id),
    holdingSchedule: k('schedule', 'holding'),
    reminderSchedule: k('schedule', 'reminder'),
    maintenances: k('maintenances'),
    maintenanceSchedule: k('schedule', 'maintenance'),
    updates: (id) => k('incident', id, 'updates'),
    pendingBroadcasts: k('broadcasts', 'pending'),
    deliveries: (incidentId, updateId, channel) => k(`{${incidentId}}`, 'deliveries', updateId, channel),
    lanes: (incidentId, channel) => k(`{${incidentId}}`, 'lanes', channel),
    threads: (incidentId) => k(`{${incidentId}}`, 'threads'),
    totals: (incidentId, updateId) => k(`{${incidentId}}`, 'totals', updateId),
    deliveryRetention: k('retention', 'deliveries'),
    idempotency: (tokenName, key) => k('idempotency', tokenName, key),
    signingSecret: k('secret', 'signing'),
    deliveryCounts: k('metrics', 'deliveries'),
    cadenceCounts: k('metrics', 'cadence'),
    deadAlert: (updateId) => k('alerted', updateId),
  };
}
