/**
 * Every Redis key Herald writes, in one place. All keys start with the
 * configured prefix, so a `{hash-tag}` prefix keeps them in one Cluster slot
 * (the Lua scripts touch several keys at once).
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
  /** hash: delivery id → Delivery record JSON, one per update */
  deliveries(updateId: string): string;
  /**
   * hash: target key → space-separated "updateId/deliveryId" tokens, oldest
   * first. The head is the delivery in flight; the rest wait for it, which is
   * how updates reach each target in order.
   */
  lanes(incidentId: string, channel: ChannelName): string;
  /** hash: delivery id → the token that followed it in its lane ("" for none) */
  successors(incidentId: string): string;
  /** hash: "channel|targetKey" → ThreadState JSON (Slack root ts, last post id, email references) */
  threads(incidentId: string): string;
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
  /** string (with expiry): set while a channel is rate-limited; value is the epoch ms it ends */
  channelPause(channel: ChannelName): string;
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
    deliveries: (updateId) => k('deliveries', updateId),
    lanes: (incidentId, channel) => k('lanes', incidentId, channel),
    successors: (incidentId) => k('successors', incidentId),
    threads: (incidentId) => k('threads', incidentId),
    idempotency: (tokenName, key) => k('idempotency', tokenName, key),
    signingSecret: k('secret', 'signing'),
    deliveryCounts: k('metrics', 'deliveries'),
    cadenceCounts: k('metrics', 'cadence'),
    channelPause: (channel) => k('pause', channel),
    deadAlert: (updateId) => k('alerted', updateId),
  };
}
