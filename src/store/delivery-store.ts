/**
 * Deliveries, the lanes that keep each target's updates in order, and the
 * thread state that lets a reply find its parent.
 *
 * A lane is the queue of one target (one Slack channel, one address, one
 * webhook URL) within one incident and channel. Only its head is sent; when
 * the head reaches a final state it is popped and its successor is released.
 * Both steps are Lua scripts, and both are safe to run twice: a job re-run
 * after a crash finds the same answer.
 */
import type { Redis } from 'ioredis';
import type { ChannelName } from '../channels/channel.js';
import { isFinal, type DeliveryRecord } from '../domain/delivery.js';
import type { Keys } from './keys.js';
import { LuaScript } from './lua-script.js';

/** `updateId/deliveryId`: how a lane names a delivery. */
export type LaneToken = string;

export function laneToken(updateId: string, deliveryId: string): LaneToken {
  return `${updateId}/${deliveryId}`;
}

export function parseLaneToken(token: LaneToken): { updateId: string; deliveryId: string } {
  const slash = token.indexOf('/');
  return { updateId: token.slice(0, slash), deliveryId: token.slice(slash + 1) };
}

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
}

/**
 * KEYS: deliveries hash (of the update), lanes hash (incident, channel)
 * ARGV: updateId, then (deliveryId, targetKey, recordJson) triples
 * Returns the ids that are at the head of their lane and so may be sent now.
 */
const ENQUEUE = new LuaScript(
  'enqueue-deliveries',
  `
local deliveries, lanes = KEYS[1], KEYS[2]
local updateId = ARGV[1]
local ready = {}
for i = 2, #ARGV, 3 do
  local id, target, json = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  local token = updateId .. '/' .. id
  local lane = redis.call('HGET', lanes, target)
  if redis.call('HSETNX', deliveries, id, json) == 1 then
    if not lane then
      redis.call('HSET', lanes, target, token)
      ready[#ready + 1] = id
    else
      redis.call('HSET', lanes, target, lane .. ' ' .. token)
    end
  elseif lane and (lane == token or string.sub(lane, 1, #token + 1) == token .. ' ') then
    ready[#ready + 1] = id
  end
end
return ready
`,
);

/**
 * KEYS: lanes hash (incident, channel), successors hash (incident)
 * ARGV: (targetKey, token) pairs of deliveries that reached a final state
 * Returns the tokens released to be sent next. Run again for the same
 * delivery, it returns the same successor (recorded when it was popped).
 */
const COMPLETE = new LuaScript(
  'complete-deliveries',
  `
local lanes, successors = KEYS[1], KEYS[2]
local released = {}
for i = 1, #ARGV, 2 do
  local target, token = ARGV[i], ARGV[i + 1]
  local id = string.match(token, '/(.*)$')
  local lane = redis.call('HGET', lanes, target)
  if lane and (lane == token or string.sub(lane, 1, #token + 1) == token .. ' ') then
    local rest = string.sub(lane, #token + 2)
    if rest == '' then redis.call('HDEL', lanes, target) else redis.call('HSET', lanes, target, rest) end
    local nextToken = string.match(rest, '^(%S+)') or ''
    redis.call('HSET', successors, id, nextToken)
    if nextToken ~= '' then released[#released + 1] = nextToken end
  else
    local nextToken = redis.call('HGET', successors, id)
    if nextToken and nextToken ~= '' then released[#released + 1] = nextToken end
  end
end
return released
`,
);

/** KEYS: lease keys. ARGV: owner. Deletes only the leases that owner holds. */
const RELEASE = new LuaScript(
  'release-leases',
  `for _, key in ipairs(KEYS) do
  if redis.call('GET', key) == ARGV[1] then redis.call('DEL', key) end
end
return 1`,
);

/** How long one job may hold a delivery before another may take it over. */
const LEASE_MS = 120_000;

export class DeliveryStore {
  constructor(
    private readonly redis: Redis,
    private readonly keys: Keys,
  ) {}

  /**
   * Records new deliveries of one update on one channel and appends each to
   * its target's lane. Returns the ids that may be sent now. Idempotent.
   */
  async enqueue(records: readonly DeliveryRecord[]): Promise<string[]> {
    const first = records[0];
    if (first === undefined) return [];
    const args: string[] = [first.updateId];
    for (const r of records) args.push(r.id, r.target.key, JSON.stringify(r));
    const keys = [this.keys.deliveries(first.updateId), this.keys.lanes(first.incidentId, first.channel)];
    return (await ENQUEUE.run(this.redis, keys, args)) as string[];
  }

  /** Pops final deliveries off their lanes; returns what each released. */
  async complete(incidentId: string, channel: ChannelName, records: readonly DeliveryRecord[]): Promise<LaneToken[]> {
    if (records.length === 0) return [];
    const args: string[] = [];
    for (const r of records) args.push(r.target.key, laneToken(r.updateId, r.id));
    const keys = [this.keys.lanes(incidentId, channel), this.keys.successors(incidentId)];
    return (await COMPLETE.run(this.redis, keys, args)) as LaneToken[];
  }

  /** Whether each delivery is at the head of its lane (its turn to be sent). */
  async areLaneHeads(incidentId: string, channel: ChannelName, records: readonly DeliveryRecord[]): Promise<boolean[]> {
    if (records.length === 0) return [];
    const lanes = await this.redis.hmget(this.keys.lanes(incidentId, channel), ...records.map((r) => r.target.key));
    return records.map((r, i) => {
      const lane = lanes[i];
      const token = laneToken(r.updateId, r.id);
      return lane != null && (lane === token || lane.startsWith(`${token} `));
    });
  }

  async getMany(updateId: string, ids: readonly string[]): Promise<Array<DeliveryRecord | null>> {
    if (ids.length === 0) return [];
    const values = await this.redis.hmget(this.keys.deliveries(updateId), ...ids);
    return values.map((v) => (v === null ? null : (JSON.parse(v) as DeliveryRecord)));
  }

  /** Every delivery of these updates, in update order then fan-out order. */
  async listForUpdates(updateIds: readonly string[]): Promise<DeliveryRecord[]> {
    if (updateIds.length === 0) return [];
    const pipeline = this.redis.pipeline();
    for (const id of updateIds) pipeline.hvals(this.keys.deliveries(id));
    const results = (await pipeline.exec()) ?? [];
    const records: DeliveryRecord[] = [];
    for (const [, values] of results) {
      for (const v of (values as string[] | undefined) ?? []) records.push(JSON.parse(v) as DeliveryRecord);
    }
    return records.sort((a, b) => a.seq - b.seq || a.index - b.index);
  }

  /**
   * Saves records and counts them for /metrics: each failed attempt, and each
   * delivery entering a final state once (`previous` is the state it had).
   */
  async save(records: readonly DeliveryRecord[], previous: ReadonlyMap<string, DeliveryRecord['state']>): Promise<void> {
    if (records.length === 0) return;
    const pipeline = this.redis.pipeline();
    for (const r of records) {
      pipeline.hset(this.keys.deliveries(r.updateId), r.id, JSON.stringify(r));
      const before = previous.get(r.id);
      if (isFinal(r.state) ? before !== r.state : r.state === 'failed') {
        pipeline.hincrby(this.keys.deliveryCounts, `${r.channel}:${r.state}`, 1);
      }
    }
    await pipeline.exec();
  }

  /**
   * Takes a lease on each delivery for this job; returns which were taken.
   * A delivery another live job holds is skipped here: that job finishes it.
   */
  async lease(owner: string, ids: readonly string[]): Promise<boolean[]> {
    if (ids.length === 0) return [];
    const pipeline = this.redis.pipeline();
    for (const id of ids) pipeline.set(this.leaseKey(id), owner, 'PX', LEASE_MS, 'NX');
    const results = (await pipeline.exec()) ?? [];
    const taken: boolean[] = [];
    const recheck: number[] = [];
    results.forEach(([, value], i) => {
      taken.push(value === 'OK');
      if (value !== 'OK') recheck.push(i);
    });
    // A lease this same job took before it was retried is still ours.
    if (recheck.length > 0) {
      const owners = await this.redis.mget(...recheck.map((i) => this.leaseKey(ids[i]!)));
      recheck.forEach((i, j) => {
        if (owners[j] === owner) taken[i] = true;
      });
    }
    return taken;
  }

  /** Gives back the leases this owner still holds; a lease another job took since is left alone. */
  async release(owner: string, ids: readonly string[]): Promise<void> {
    if (ids.length === 0) return;
    await RELEASE.run(this.redis, ids.map((id) => this.leaseKey(id)), [owner]);
  }

  async threads(incidentId: string, channel: ChannelName, targetKeys: readonly string[]): Promise<Map<string, ThreadState>> {
    const map = new Map<string, ThreadState>();
    if (targetKeys.length === 0) return map;
    const values = await this.redis.hmget(this.keys.threads(incidentId), ...targetKeys.map((k) => `${channel}|${k}`));
    targetKeys.forEach((k, i) => {
      const v = values[i];
      if (v != null) map.set(k, JSON.parse(v) as ThreadState);
    });
    return map;
  }

  async saveThreads(incidentId: string, channel: ChannelName, states: ReadonlyMap<string, ThreadState>): Promise<void> {
    if (states.size === 0) return;
    const fields: string[] = [];
    for (const [k, state] of states) fields.push(`${channel}|${k}`, JSON.stringify(state));
    await this.redis.hset(this.keys.threads(incidentId), ...fields);
  }

  /** Stops every process sending on `channel` until `untilMs` (a provider's rate limit). */
  async pause(channel: ChannelName, untilMs: number): Promise<void> {
    const ms = Math.max(1, Math.ceil(untilMs - Date.now()));
    await this.redis.set(this.keys.channelPause(channel), String(untilMs), 'PX', ms);
  }

  /** Epoch ms until which `channel` is paused, or 0. */
  async pausedUntil(channel: ChannelName): Promise<number> {
    const value = await this.redis.get(this.keys.channelPause(channel));
    return value === null ? 0 : Number(value);
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

  private leaseKey(deliveryId: string): string {
    return `${this.keys.deliveries('lease')}:${deliveryId}`;
  }
}
