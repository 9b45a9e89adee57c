/**
 * Deliveries, the lanes that keep each target's updates in order, and the
 * thread state that lets a reply find its parent.
 *
 * A lane is the queue of one target (one Slack channel, one address, one
 * webhook URL) within one incident and channel. Only its head is sent; when
 * the head reaches a final state it is popped and its successor is released.
 * Each step (enqueue, claim, record) is one Lua script (src/store/lua/), safe
 * to run twice: a job re-run after a crash finds the same answer. What a
 * delivery costs in Redis is one small hash field (see delivery-record.ts)
 * and, while it waits or is sent, a few bytes of its target's lane.
 */
import type { RedisClient } from '../redis/connection.js';
import { CHANNEL_NAMES, type ChannelName } from '../channels/channel.js';
import type { RecordedTarget } from '../domain/audience.js';
import { DELIVERY_STATES, NOT_ATTEMPTED, isFinal, type DeliveryRecord, type DeliveryState } from '../domain/delivery.js';
import { decodeDelivery, encodeDelivery, type DeliveryPlace } from './delivery-record.js';
import type { Keys } from './keys.js';
import { RedisScript } from './redis-script.js';

const ENQUEUE = new RedisScript('deliveries-enqueue');
const CLAIM = new RedisScript('deliveries-claim');
const RECORD = new RedisScript('deliveries-record');
const RELEASE = new RedisScript('deliveries-release');
const ADD_TO_COMMANDER_THREAD = new RedisScript('threads-add-commander-message');

/**
 * Where a target's conversation stands: Slack's first message `ts`, the last
 * X post id, an email recipient's Message-ID chain.
 */
export interface ThreadState {
  root?: string;
  /** Slack: the channel id Slack answered with (`chat.update` refuses `#names`). */
  channelId?: string;
  last?: string;
  references?: string[];
  /**
   * X: a digest of the text the thread's last post was rendered from, so
   * that a repeat of it is told apart before X refuses it as a duplicate.
   */
  lastText?: string;
}

/** What {@link DeliveryStore.claim} found for each delivery of a job. */
export const CLAIM_STATUS = {
  missing: 0,
  /** Sent or dead already. */
  final: 1,
  /** Not its turn: an earlier update to the same target is still in its lane. */
  waiting: 2,
  /** Its turn, and this job now holds its lease. */
  mine: 3,
  /** Its turn, but another live job holds it. */
  held: 4,
  /** Its stored record cannot be read: it can never be sent. */
  undecodable: 5,
} as const;
type ClaimStatus = (typeof CLAIM_STATUS)[keyof typeof CLAIM_STATUS];

/** One delivery of a job, as {@link DeliveryStore.claim} found it. */
export type Claimed =
  | { status: typeof CLAIM_STATUS.missing; targetKey: string; record: null }
  | { status: typeof CLAIM_STATUS.undecodable; targetKey: string; record: null }
  | {
      status: Exclude<ClaimStatus, 0 | 5>;
      targetKey: string;
      record: DeliveryRecord;
      /** A final delivery's successor: the update its lane released ('' for none). */
      next: string;
    };

/** A delivery to plan: its target and its place in the update's fan-out. */
export interface PlannedDelivery {
  target: RecordedTarget;
  index: number;
}

/** The deliveries of one update on one channel that a job works on, by target key. */
export interface DeliveryBatch extends DeliveryPlace {
  targets: readonly string[];
}

/** What one flush of a delivery job writes; see {@link DeliveryStore.record}. */
export interface Recording extends DeliveryPlace {
  owner: string;
  /** Thread state per target key, for the targets that have one. */
  threads: ReadonlyMap<string, ThreadState>;
  /** Outcomes of attempts; their leases are given back, final ones popped off their lanes. */
  saved: readonly DeliveryRecord[];
}

/** A delivery released by a lane: the next update to send to that target. */
export interface Released {
  updateId: string;
  targetKey: string;
}

/** Deliveries of an update per channel and state, as the API shows them. */
export type DeliveryTotals = Partial<Record<ChannelName, Record<DeliveryState, number>>>;

/** Email clients need only the start and the recent end of a References chain: partners' and commanders' threads keep this many. */
export const MAX_REFERENCES = 20;

/** A target's field in the incident's threads hash. */
function threadField(channel: ChannelName, targetKey: string): string {
  return `${channel}|${targetKey}`;
}

/** A commander's field in the incident's threads hash: no channel name, so never a target's. */
function commanderThreadField(addressKey: string): string {
  return `commander|${addressKey}`;
}

/** How long one job may hold a delivery before another may take it over. */
const LEASE_MS = 120_000;

/** How often a process adds its delivery counts to the shared counters. */
const COUNTS_WRITTEN_EVERY_MS = 1_000;

export class DeliveryStore {
  private readonly unsavedCounts = new Map<string, number>();
  private countsTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly redis: RedisClient,
    private readonly keys: Keys,
  ) {}

  /**
   * Records new deliveries of one update on one channel and appends each to
   * its target's lane. Returns the target keys whose delivery may be sent
   * now. Idempotent.
   */
  async enqueue(place: DeliveryPlace, planned: readonly PlannedDelivery[]): Promise<string[]> {
    if (planned.length === 0) return [];
    const { incidentId, updateId, channel } = place;
    const args: string[] = [updateId, channel];
    for (const { target, index } of planned) args.push(target.key, encodeDelivery({ ...NOT_ATTEMPTED, index, target }));
    const keys = [this.keys.deliveries(incidentId, updateId, channel), this.keys.lanes(incidentId, channel), this.keys.totals(incidentId, updateId)];
    return (await ENQUEUE.run(this.redis, keys, args)) as string[];
  }

  /** Every delivery of these updates of one incident, in update order then fan-out order. */
  async listForUpdates(incidentId: string, updateIds: readonly string[]): Promise<DeliveryRecord[]> {
    if (updateIds.length === 0) return [];
    const pipeline = this.redis.pipeline();
    const places: DeliveryPlace[] = [];
    for (const updateId of updateIds) {
      for (const channel of CHANNEL_NAMES) {
        places.push({ incidentId, updateId, channel });
        pipeline.hgetall(this.keys.deliveries(incidentId, updateId, channel));
      }
    }
    const results = (await pipeline.exec()) ?? [];
    const byUpdate = new Map<string, DeliveryRecord[]>(updateIds.map((id) => [id, []]));
    results.forEach(([error, values], at) => {
      if (error) throw error;
      const place = places[at]!;
      for (const [key, value] of Object.entries(values as Record<string, string>)) {
        // An unreadable record is left out until its job marks it dead (and readable) again.
        const stored = decodeDelivery(place, key, value);
        if (stored !== null) byUpdate.get(place.updateId)!.push(stored.record);
      }
    });
    // Within an update, in fan-out order across its channels.
    return [...byUpdate.values()].flatMap((records) => records.sort((a, b) => a.index - b.index));
  }

  /** Each update's deliveries per channel and state; kept after the records themselves are gone. */
  async totals(incidentId: string, updateIds: readonly string[]): Promise<Map<string, DeliveryTotals>> {
    const pipeline = this.redis.pipeline();
    for (const updateId of updateIds) pipeline.hgetall(this.keys.totals(incidentId, updateId));
    const results = (await pipeline.exec()) ?? [];
    const totals = new Map<string, DeliveryTotals>();
    results.forEach(([error, fields], at) => {
      if (error) throw error;
      const byChannel: DeliveryTotals = {};
      for (const [field, count] of Object.entries(fields as Record<string, string>)) {
        const [channel, state] = field.split(':') as [ChannelName, DeliveryState];
        if (!CHANNEL_NAMES.includes(channel) || !DELIVERY_STATES.includes(state)) continue;
        byChannel[channel] ??= { queued: 0, sent: 0, failed: 0, dead: 0 };
        byChannel[channel][state] = Number(count);
      }
      totals.set(updateIds[at]!, byChannel);
    });
    return totals;
  }

  /**
   * Reads a job's deliveries and takes a lease on each that is its lane's
   * head and not final yet, in one step. A delivery another live job holds
   * is left to that job.
   */
  async claim(owner: string, batch: DeliveryBatch): Promise<Claimed[]> {
    const { incidentId, updateId, channel, targets } = batch;
    if (targets.length === 0) return [];
    const keys = [this.keys.deliveries(incidentId, updateId, channel), this.keys.lanes(incidentId, channel)];
    const out = (await CLAIM.run(this.redis, keys, [updateId, owner, LEASE_MS, ...targets])) as Array<number | string>;
    return targets.map((targetKey, i): Claimed => {
      const status = out[2 * i] as ClaimStatus;
      if (status === CLAIM_STATUS.missing) return { status, targetKey, record: null };
      const stored = status === CLAIM_STATUS.undecodable ? null : decodeDelivery(batch, targetKey, out[2 * i + 1] as string);
      // Lua read its state; if JavaScript cannot read the rest, it is just as unreadable.
      if (stored === null) return { status: CLAIM_STATUS.undecodable, targetKey, record: null };
      return { status: status as Exclude<ClaimStatus, 0 | 5>, targetKey, record: stored.record, next: stored.next };
    });
  }

  /**
   * Writes one flush of a job atomically (see deliveries-record.lua) and
   * returns the deliveries it released. /metrics counts each failed attempt,
   * and each delivery entering a final state once.
   */
  async record(r: Recording): Promise<Released[]> {
    if (r.threads.size === 0 && r.saved.length === 0) return [];
    const args: Array<string | number> = [r.updateId, r.owner, r.channel, r.threads.size];
    for (const [key, state] of r.threads) args.push(threadField(r.channel, key), JSON.stringify(state));
    for (const record of r.saved) args.push(record.target.key, encodeDelivery(record));
    const keys = [
      this.keys.threads(r.incidentId),
      this.keys.deliveries(r.incidentId, r.updateId, r.channel),
      this.keys.totals(r.incidentId, r.updateId),
      this.keys.lanes(r.incidentId, r.channel),
    ];
    const [changed, ...pairs] = (await RECORD.run(this.redis, keys, args)) as string[];
    this.count(r.saved.filter((record, i) => (isFinal(record.state) ? changed![i] === '1' : record.state === 'failed')));
    const released: Released[] = [];
    for (let i = 0; i < pairs.length; i += 2) released.push({ targetKey: pairs[i]!, updateId: pairs[i + 1]! });
    return released;
  }

  /** Gives back the leases this owner still holds; a lease another job took since is left alone. */
  async release(owner: string, batch: DeliveryBatch): Promise<void> {
    if (batch.targets.length === 0) return;
    await RELEASE.run(this.redis, [this.keys.lanes(batch.incidentId, batch.channel)], [batch.updateId, owner, ...batch.targets]);
  }

  /**
   * Adds to the counters behind `herald_deliveries_total`, shared by every
   * process. They are one key for all incidents, so not written by the
   * scripts (each touches one incident's slot); and added up here and
   * written at most once a second, so that a batch's flushes are one write
   * each, not two. A process that crashes loses at most that second's counts.
   */
  private count(records: readonly DeliveryRecord[]): void {
    for (const { channel, state } of records) this.addCount(`${channel}:${state}`, 1);
  }

  private addCount(field: string, n: number): void {
    this.unsavedCounts.set(field, (this.unsavedCounts.get(field) ?? 0) + n);
    if (this.countsTimer === undefined) {
      this.countsTimer = setTimeout(() => void this.flushCounts().catch(() => {}), COUNTS_WRITTEN_EVERY_MS);
      this.countsTimer.unref();
    }
  }

  /** Writes the counts added since the last write (on a timer, and when the process stops). */
  async flushCounts(): Promise<void> {
    clearTimeout(this.countsTimer);
    this.countsTimer = undefined;
    if (this.unsavedCounts.size === 0) return;
    const counts = [...this.unsavedCounts];
    this.unsavedCounts.clear();
    const pipeline = this.redis.pipeline();
    for (const [field, n] of counts) pipeline.hincrby(this.keys.deliveryCounts, field, n);
    const results = await pipeline.exec().catch((error: unknown) => [[error, null]] as const);
    if ((results ?? []).some(([error]) => error)) {
      // Redis is away: kept for the next try.
      for (const [field, n] of counts) this.addCount(field, n);
      throw new Error('could not write the delivery counters; kept for the next try');
    }
  }

  /**
   * Marks a resolved incident's delivery records to be removed at `atMs`
   * (HERALD_RETENTION_SECONDS after it was resolved); see {@link expire}.
   */
  async expireAt(incidentId: string, atMs: number): Promise<void> {
    await this.redis.zadd(this.keys.shardOf(incidentId).deliveryRetention, atMs, incidentId);
  }

  /** Whether the incident's delivery records are still to be removed (not yet due, or kept while a delivery is not final). */
  async awaitingExpiry(incidentId: string): Promise<boolean> {
    return (await this.redis.zscore(this.keys.shardOf(incidentId).deliveryRetention, incidentId)) !== null;
  }

  /** Incidents whose delivery records are due to be removed, at most `limit` from each shard. */
  async dueToExpire(now: number, limit: number): Promise<string[]> {
    const perShard = await Promise.all(
      this.keys.shards.map((shard) => this.redis.zrangebyscore(shard.deliveryRetention, '-inf', now, 'LIMIT', 0, limit)),
    );
    return perShard.flat();
  }

  /**
   * Removes the records of an incident's single deliveries, its lanes and
   * its thread state; each update's totals stay. Safe to run twice.
   */
  async expire(incidentId: string, updateIds: readonly string[]): Promise<void> {
    const keys = [this.keys.threads(incidentId)];
    for (const channel of CHANNEL_NAMES) {
      keys.push(this.keys.lanes(incidentId, channel));
      for (const updateId of updateIds) keys.push(this.keys.deliveries(incidentId, updateId, channel));
    }
    // One slot (the incident's hash tag, or its shard's): one UNLINK, freed in the background.
    await this.redis.unlink(...keys);
    await this.redis.zrem(this.keys.shardOf(incidentId).deliveryRetention, incidentId);
  }

  async threads(incidentId: string, channel: ChannelName, targetKeys: readonly string[]): Promise<Map<string, ThreadState>> {
    const map = new Map<string, ThreadState>();
    if (targetKeys.length === 0) return map;
    const values = await this.redis.hmget(this.keys.threads(incidentId), ...targetKeys.map((k) => threadField(channel, k)));
    targetKeys.forEach((k, i) => {
      const v = values[i];
      if (v != null) map.set(k, JSON.parse(v) as ThreadState);
    });
    return map;
  }

  /**
   * The email thread of an incident's messages to its commander at one
   * address (reminders, delivery alerts), kept beside the targets' threads
   * under a field of its own; undefined before the first message.
   */
  async commanderThread(incidentId: string, addressKey: string): Promise<ThreadState | undefined> {
    const raw = await this.redis.hget(this.keys.threads(incidentId), commanderThreadField(addressKey));
    return raw === null ? undefined : (JSON.parse(raw) as ThreadState);
  }

  /** Adds a message sent to the commander to that thread, keeping the first and the last `maxReferences - 1` Message-IDs. */
  async addToCommanderThread(incidentId: string, addressKey: string, messageId: string, maxReferences: number): Promise<void> {
    await ADD_TO_COMMANDER_THREAD.run(this.redis, [this.keys.threads(incidentId)], [commanderThreadField(addressKey), messageId, maxReferences]);
  }

  /** Claims the one dead-delivery alert of an update; false if it was already claimed. */
  async claimDeadAlert(updateId: string): Promise<boolean> {
    // Kept a week: long past any retry of that update.
    return (await this.redis.set(this.keys.deadAlert(updateId), '1', 'EX', 7 * 86_400, 'NX')) === 'OK';
  }

  /** Gives the claim back (the alert could not be sent), so a later dead delivery may try. */
  async releaseDeadAlert(updateId: string): Promise<void> {
    await this.redis.del(this.keys.deadAlert(updateId));
  }

  /** Counts of deliveries that reached each state, by channel, across all processes. */
  async counts(): Promise<Record<string, string>> {
    return this.redis.hgetall(this.keys.deliveryCounts);
  }

}
