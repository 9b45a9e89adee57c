/**
 * Every Redis key Herald writes, in one place. All keys start with the
 * configured prefix.
 *
 * Incidents and maintenances ("places": conversations of updates) live in
 * shards. On one Redis (or a Sentinel-watched master) there is one shard
 * and the keys are named as they always were. On a Redis Cluster there are
 * several, each with a hash tag of its own (`herald:{s3}:…`): everything of
 * one place — its hash, its updates, its deliveries, lanes, threads and
 * totals — and its shard's schedules, pending broadcasts and BullMQ queues
 * share one slot, so that every script touches one slot, and the shards'
 * tags are chosen so that their slots lie evenly over the 16,384: a cluster
 * whose masters hold equal slot ranges holds equal numbers of shards.
 */
import slotOf from 'cluster-key-slot';
import type { ChannelName } from '../channels/channel.js';
import { ConfigError } from '../config.js';
import type { RedisClient } from '../redis/connection.js';

/** The slots of a Redis Cluster (`CLUSTER KEYSLOT` answers 0 … 16383). */
const CLUSTER_SLOTS = 16_384;

/** The keys of one shard: what its places share, and where its queues are. */
export interface ShardKeys {
  /** 0 … shards − 1. */
  index: number;
  /** The prefix of this shard's BullMQ queues: their keys share the shard's slot. */
  queuePrefix: string;
  /** zset: the shard's incident ids, scored by creation time (ms) */
  incidents: string;
  /** zset: the shard's open incident ids, scored by creation time (ms) */
  openIncidents: string;
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
  /** zset: resolved incident ids, scored by when their delivery records are to be removed (ms) */
  deliveryRetention: string;
  /** hash: "holding" / "reminder" → holding statements posted and commanders reminded, by every process */
  cadenceCounts: string;
  /** string (with expiry): written by readiness probes, one per shard, so that each shard's master is asked whether it takes writes */
  readyProbe: string;
}

export interface Keys {
  /** One shard on a single Redis; `HERALD_CLUSTER_SHARDS` on a Cluster. */
  shards: readonly ShardKeys[];
  /** The shard an incident or maintenance lives in, with every key and queue job of it. */
  shardOf(placeId: string): ShardKeys;
  /** hash: audience name → Audience JSON */
  audiences: string;
  /** string: a random version, new with every change to the audiences hash (lets processes cache it) */
  audiencesVersion: string;
  /** hash: the incident's (or maintenance's) fields */
  incident(id: string): string;
  /** list: the incident's updates (JSON), in `seq` order */
  updates(incidentId: string): string;
  /**
   * hash: target key → delivery record (`<state>|<next>|<details JSON>`, see
   * src/store/lua/lib/lanes.lua), one hash per update and channel.
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
  /** string: a stored Idempotency-Key result */
  idempotency(tokenName: string, key: string): string;
  /** string: the secret signing unsubscribe links, shared by every process */
  signingSecret: string;
  /** string (with expiry): set once the commander was alerted of a dead delivery of this update */
  deadAlert(updateId: string): string;
  /** hash: "channel:state" → count of deliveries that reached that state, by every process */
  deliveryCounts: string;
}

/**
 * The hash tag of shard `index` of `count`: the first of `s<index>`,
 * `s<index>.1`, `s<index>.2`, … whose slot lies in the shard's even share of
 * the slots.
 */
export function shardTag(index: number, count: number): string {
  const from = Math.floor((index * CLUSTER_SLOTS) / count);
  const to = Math.floor(((index + 1) * CLUSTER_SLOTS) / count);
  for (let n = 0; ; n++) {
    const tag = n === 0 ? `s${index}` : `s${index}.${n}`;
    const slot = slotOf(tag);
    if (slot >= from && slot < to) return tag;
  }
}

function shardKeys(index: number, base: string, queuePrefix: string): ShardKeys {
  const k = (...parts: string[]): string => [base, ...parts].join(':');
  return {
    index,
    queuePrefix,
    incidents: k('incidents'),
    openIncidents: k('incidents', 'open'),
    holdingSchedule: k('schedule', 'holding'),
    reminderSchedule: k('schedule', 'reminder'),
    maintenances: k('maintenances'),
    maintenanceSchedule: k('schedule', 'maintenance'),
    pendingBroadcasts: k('broadcasts', 'pending'),
    deliveryRetention: k('retention', 'deliveries'),
    cadenceCounts: k('metrics', 'cadence'),
    readyProbe: k('readyz'),
  };
}

/**
 * Herald's keys under `prefix`: in one shard (`shards` = 1, a single Redis
 * or a Sentinel-watched master) or spread over `shards` hash tags (a Cluster).
 */
export function keysFor(prefix: string, shards = 1): Keys {
  if (!Number.isInteger(shards) || shards < 1) throw new RangeError(`shards must be a whole number ≥ 1, got ${shards}`);
  const k = (...parts: string[]): string => [prefix, ...parts].join(':');
  if (shards === 1) {
    const only = shardKeys(0, prefix, prefix);
    return {
      shards: [only],
      shardOf: () => only,
      audiences: k('audiences'),
      audiencesVersion: k('audiences', 'version'),
      incident: (id) => k('incident', id),
      updates: (id) => k('incident', id, 'updates'),
      // An incident's delivery keys carry its id as hash tag, as they did before shards.
      deliveries: (incidentId, updateId, channel) => k(`{${incidentId}}`, 'deliveries', updateId, channel),
      lanes: (incidentId, channel) => k(`{${incidentId}}`, 'lanes', channel),
      threads: (incidentId) => k(`{${incidentId}}`, 'threads'),
      totals: (incidentId, updateId) => k(`{${incidentId}}`, 'totals', updateId),
      idempotency: (tokenName, key) => k('idempotency', tokenName, key),
      signingSecret: k('secret', 'signing'),
      deadAlert: (updateId) => k('alerted', updateId),
      deliveryCounts: k('metrics', 'deliveries'),
    };
  }
  const bases = Array.from({ length: shards }, (_, i) => k(`{${shardTag(i, shards)}}`));
  const all = bases.map((base, i) => shardKeys(i, base, base));
  // A place's shard follows its id's own slot: ids spread over the shards as keys do over slots.
  const indexOf = (placeId: string): number => Math.floor((slotOf(placeId) * shards) / CLUSTER_SLOTS);
  const baseOf = (placeId: string): string => bases[indexOf(placeId)]!;
  return {
    shards: all,
    shardOf: (placeId) => all[indexOf(placeId)]!,
    // The audiences (read and written together by scripts) live in the first shard's slot.
    audiences: `${bases[0]!}:audiences`,
    audiencesVersion: `${bases[0]!}:audiences:version`,
    incident: (id) => `${baseOf(id)}:incident:${id}`,
    updates: (id) => `${baseOf(id)}:incident:${id}:updates`,
    deliveries: (incidentId, updateId, channel) => `${baseOf(incidentId)}:${incidentId}:deliveries:${updateId}:${channel}`,
    lanes: (incidentId, channel) => `${baseOf(incidentId)}:${incidentId}:lanes:${channel}`,
    threads: (incidentId) => `${baseOf(incidentId)}:${incidentId}:threads`,
    totals: (incidentId, updateId) => `${baseOf(incidentId)}:${incidentId}:totals:${updateId}`,
    // Keys used alone carry no tag: they spread over the masters by their own hash.
    idempotency: (tokenName, key) => k('idempotency', tokenName, key),
    signingSecret: k('secret', 'signing'),
    deadAlert: (updateId) => k('alerted', updateId),
    deliveryCounts: k('metrics', 'deliveries'),
  };
}

/**
 * How many shards this deployment's keys are in on a Cluster: `wanted` when
 * this is the first process to write there, else what the first one chose
 * (recorded under `<prefix>:shards`). A different number would look for
 * incidents in the wrong shards: refused, naming the setting.
 */
export async function settledShardCount(redis: RedisClient, prefix: string, wanted: number): Promise<number> {
  const key = `${prefix}:shards`;
  await redis.set(key, String(wanted), 'NX');
  const settled = Number(await redis.get(key));
  if (settled !== wanted) {
    throw new ConfigError(
      'HERALD_CLUSTER_SHARDS',
      `is ${wanted}, but Herald's data under the prefix "${prefix}" on this cluster is laid out in ${settled} shards; set it to ${settled}`,
    );
  }
  return settled;
}
