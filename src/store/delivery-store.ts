/**
 * Deliveries, the lanes that keep each target's updates in order, and the
 * thread state that lets a reply find its parent.
 *
 * A lane is the queue of one target (one Slack channel, one address, one
 * webhook URL) within one incident and channel. Only its head is sent; when
 * the head reaches a final state it is popped and its successor is released.
 * Each step (enqueue, claim, record) is one Lua script, safe to run twice: a
 * job re-run after a crash finds the same answer.
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
  /**
   * X: a digest of the text the thread's last post was rendered from, so
   * that a repeat of it is told apart before X refuses it as a duplicate.
   */
  lastText?: string;
}

/**
 * Lua shared by the scripts below. `isHead`: whether a delivery's token heads
 * its lane. `popLane`: pops a final delivery off its lane and collects the
 * successor it releases; run again for the same delivery, it returns the
 * same successor (recorded when it was popped). `releaseLease`: deletes a
 * lease only if `owner` still holds it.
 */
const LANE_FUNCTIONS = `
local function isHead(lane, token)
  return lane and (lane == token or string.sub(lane, 1, #token + 1) == token .. ' ')
end
local function popLane(lanes, successors, target, token, released)
  local id = string.match(token, '/(.*)$')
  local lane = redis.call('HGET', lanes, target)
  if isHead(lane, token) then
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
local function releaseLease(key, owner)
  if redis.call('GET', key) == owner then redis.call('DEL', key) end
end
`;

/**
 * KEYS: deliveries hash (of the update), lanes hash (incident, channel)
 * ARGV: updateId, then (deliveryId, targetKey, recordJson) triples
 * Returns the ids that are at the head of their lane and so may be sent now.
 */
const ENQUEUE = new LuaScript(
  'enqueue-deliveries',
  `${LANE_FUNCTIONS}
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
  elseif isHead(lane, token) then
    ready[#ready + 1] = id
  end
end
return ready
`,
);

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
  /** Its stored record cannot be read (not JSON, or not a delivery): it can never be sent. */
  undecodable: 5,
} as const;
type ClaimStatus = (typeof CLAIM_STATUS)[keyof typeof CLAIM_STATUS];

/**
 * KEYS: deliveries hash (update), lanes hash (incident, channel), then one
 * lease key per delivery id
 * ARGV: owner, lease ms, updateId, then the delivery ids
 * Returns (status, record JSON or '', detail) per id; detail is the
 * record's target key. A lease this same owner took before (the job is a
 * retry of itself) is still its own. A record that does not decode is
 * reported, not raised on — one bad record must not fail its batch-mates'
 * claim: its detail is JSON of the decoder's complaint and the target key of
 * the lane it is in ('' if none), found by looking through the lanes (rare,
 * so the cost of a scan is fine).
 */
const CLAIM = new LuaScript(
  'claim-deliveries',
  `${LANE_FUNCTIONS}
local deliveries, lanes = KEYS[1], KEYS[2]
local owner, ttl, updateId = ARGV[1], ARGV[2], ARGV[3]
local function decodeRecord(json)
  local ok, record = pcall(cjson.decode, json)
  if not ok then return nil, tostring(record) end
  if type(record) ~= 'table' or type(record.state) ~= 'string' or type(record.target) ~= 'table' or type(record.target.key) ~= 'string' then
    return nil, 'not a delivery record'
  end
  return record
end
local laneOfToken = nil
local function laneOf(token)
  if not laneOfToken then
    -- Read once per call, however many records of the batch cannot be read.
    laneOfToken = {}
    local all = redis.call('HGETALL', lanes)
    for j = 1, #all, 2 do
      for t in string.gmatch(all[j + 1], '%S+') do laneOfToken[t] = all[j] end
    end
  end
  return laneOfToken[token] or ''
end
local out = {}
for i = 4, #ARGV do
  local id = ARGV[i]
  local token = updateId .. '/' .. id
  local json = redis.call('HGET', deliveries, id)
  local status = 0
  local detail = ''
  if json then
    local record, complaint = decodeRecord(json)
    if not record then
      status = 5
      detail = cjson.encode({ error = complaint, targetKey = laneOf(token) })
    elseif record.state == 'sent' or record.state == 'dead' then
      status = 1
      detail = record.target.key
    else
      detail = record.target.key
      if not isHead(redis.call('HGET', lanes, record.target.key), token) then
        status = 2
      else
        local lease = KEYS[i - 1]
        if redis.call('SET', lease, owner, 'PX', ttl, 'NX') or redis.call('GET', lease) == owner then
          status = 3
        else
          status = 4
        end
      end
    end
  end
  out[#out + 1] = status
  out[#out + 1] = json or ''
  out[#out + 1] = detail
end
return out
`,
);

/**
 * Records what one flush of a job learned, in one step: thread state first
 * (a successor released below must find its parent's reference), then the
 * records and their counters, the job's leases on them given back (only
 * where it still holds them), and final deliveries popped off their lanes.
 *
 * KEYS: threads hash (incident), deliveries hash (update), counts hash,
 * lanes hash (incident, channel), successors hash (incident), then one lease
 * key per saved record
 * ARGV: owner, thread field count n, n (field, JSON) pairs, saved record
 * count m, m (id, JSON, counter field or '') triples, then (targetKey,
 * token) pairs of final deliveries to pop
 * Returns the tokens released to be sent next.
 */
const RECORD = new LuaScript(
  'record-deliveries',
  `${LANE_FUNCTIONS}
local threads, deliveries, counts, lanes, successors = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local owner = ARGV[1]
local i = 2
local n = tonumber(ARGV[i])
for j = 1, n do
  redis.call('HSET', threads, ARGV[i + 2 * j - 1], ARGV[i + 2 * j])
end
i = i + 2 * n + 1
local m = tonumber(ARGV[i])
for j = 1, m do
  local at = i + 3 * (j - 1)
  redis.call('HSET', deliveries, ARGV[at + 1], ARGV[at + 2])
  if ARGV[at + 3] ~= '' then redis.call('HINCRBY', counts, ARGV[at + 3], 1) end
  releaseLease(KEYS[5 + j], owner)
end
i = i + 3 * m + 1
local released = {}
for j = i, #ARGV, 2 do
  popLane(lanes, successors, ARGV[j], ARGV[j + 1], released)
end
return released
`,
);

/** KEYS: lease keys. ARGV: owner. Deletes only the leases that owner holds. */
const RELEASE = new LuaScript(
  'release-leases',
  `${LANE_FUNCTIONS}
for _, key in ipairs(KEYS) do releaseLease(key, ARGV[1]) end
return 1`,
);

/**
 * KEYS: threads hash (incident)
 * ARGV: field, Message-ID just sent, the most References to keep
 * Adds a sent message to a commander's email thread: a merge, not an
 * overwrite, so a reminder and an alert sent at once both stay in the chain;
 * a Message-ID already in it (a retried send) changes nothing.
 */
const ADD_TO_COMMANDER_THREAD = new LuaScript(
  'add-to-commander-thread',
  `
local raw = redis.call('HGET', KEYS[1], ARGV[1])
local state = raw and cjson.decode(raw) or {}
local references = state.references or {}
for _, id in ipairs(references) do
  if id == ARGV[2] then return 0 end
end
references[#references + 1] = ARGV[2]
local max = tonumber(ARGV[3])
if #references > max then
  local kept = { references[1] }
  for i = #references - max + 2, #references do kept[#kept + 1] = references[i] end
  references = kept
end
state.root = state.root or ARGV[2]
state.last = ARGV[2]
state.references = references
redis.call('HSET', KEYS[1], ARGV[1], cjson.encode(state))
return 1
`,
);

/** One delivery of a job, as {@link DeliveryStore.claim} found it. */
export type Claimed =
  | { status: Exclude<ClaimStatus, typeof CLAIM_STATUS.undecodable>; record: DeliveryRecord | null }
  | { status: typeof CLAIM_STATUS.undecodable; record: null; unreadable: UnreadableDelivery };

/** A delivery whose stored record cannot be read. */
export interface UnreadableDelivery {
  id: string;
  /** Why it cannot be read (the decoder's complaint). */
  error: string;
  /** The key of the target whose lane holds it, or '' when no lane does. */
  targetKey: string;
}

/** What one flush of a delivery job writes; see {@link DeliveryStore.record}. */
export interface Recording {
  incidentId: string;
  updateId: string;
  channel: ChannelName;
  owner: string;
  /** Thread state per target key, for the targets that have one. */
  threads: ReadonlyMap<string, ThreadState>;
  /** Outcomes of attempts; their leases are given back. */
  saved: readonly DeliveryRecord[];
  /** The state each saved record had before, for the counters. */
  previous: ReadonlyMap<string, DeliveryRecord['state']>;
  /** Deliveries in a final state, popped off their lanes. */
  final: readonly DeliveryRecord[];
}

/** A stored delivery record, or null when it is not JSON or not a delivery. */
function parseRecord(json: string): DeliveryRecord | null {
  try {
    const record = JSON.parse(json) as Partial<DeliveryRecord> | null;
    return typeof record?.state === 'string' && typeof record.target?.key === 'string' ? (record as DeliveryRecord) : null;
  } catch {
    return null;
  }
}

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

  /** Every delivery of these updates, in update order then fan-out order. */
  async listForUpdates(updateIds: readonly string[]): Promise<DeliveryRecord[]> {
    if (updateIds.length === 0) return [];
    const pipeline = this.redis.pipeline();
    for (const id of updateIds) pipeline.hvals(this.keys.deliveries(id));
    const results = (await pipeline.exec()) ?? [];
    const records: DeliveryRecord[] = [];
    for (const [, values] of results) {
      for (const v of (values as string[] | undefined) ?? []) {
        // An unreadable record is left out until its job marks it dead (and readable) again.
        const record = parseRecord(v);
        if (record !== null) records.push(record);
      }
    }
    return records.sort((a, b) => a.seq - b.seq || a.index - b.index);
  }

  /**
   * Reads a job's deliveries and takes a lease on each that is its lane's
   * head and not final yet, in one step. A delivery another live job holds
   * is left to that job.
   */
  async claim(owner: string, updateId: string, incidentId: string, channel: ChannelName, ids: readonly string[]): Promise<Claimed[]> {
    if (ids.length === 0) return [];
    const keys = [this.keys.deliveries(updateId), this.keys.lanes(incidentId, channel), ...ids.map((id) => this.leaseKey(id))];
    const out = (await CLAIM.run(this.redis, keys, [owner, LEASE_MS, updateId, ...ids])) as Array<number | string>;
    const claimed: Claimed[] = [];
    for (let i = 0; i < out.length; i += 3) {
      const id = ids[i / 3]!;
      const status = out[i] as ClaimStatus;
      const json = out[i + 1] as string;
      if (status === CLAIM_STATUS.undecodable) {
        const { error, targetKey } = JSON.parse(out[i + 2] as string) as { error: string; targetKey: string };
        claimed.push({ status, record: null, unreadable: { id, error, targetKey } });
        continue;
      }
      const record = json === '' ? null : parseRecord(json);
      if (json !== '' && record === null) {
        // Lua read it, JavaScript cannot: as unreadable, in the lane Lua found it in.
        claimed.push({ status: CLAIM_STATUS.undecodable, record: null, unreadable: { id, error: 'not a delivery record', targetKey: out[i + 2] as string } });
      } else {
        claimed.push({ status: status as Exclude<ClaimStatus, typeof CLAIM_STATUS.undecodable>, record });
      }
    }
    return claimed;
  }

  /**
   * Writes one flush of a job atomically (see the RECORD script) and
   * returns the lane tokens it released. Counters for /metrics count each
   * failed attempt, and each delivery entering a final state once.
   */
  async record(r: Recording): Promise<LaneToken[]> {
    if (r.threads.size === 0 && r.saved.length === 0 && r.final.length === 0) return [];
    const args: Array<string | number> = [r.owner, r.threads.size];
    for (const [key, state] of r.threads) args.push(threadField(r.channel, key), JSON.stringify(state));
    args.push(r.saved.length);
    for (const record of r.saved) {
      const before = r.previous.get(record.id);
      const counted = isFinal(record.state) ? before !== record.state : record.state === 'failed';
      args.push(record.id, JSON.stringify(record), counted ? `${record.channel}:${record.state}` : '');
    }
    for (const record of r.final) args.push(record.target.key, laneToken(record.updateId, record.id));
    const keys = [
      this.keys.threads(r.incidentId),
      this.keys.deliveries(r.updateId),
      this.keys.deliveryCounts,
      this.keys.lanes(r.incidentId, r.channel),
      this.keys.successors(r.incidentId),
      ...r.saved.map((record) => this.leaseKey(record.id)),
    ];
    return (await RECORD.run(this.redis, keys, args)) as LaneToken[];
  }

  /** Gives back the leases this owner still holds; a lease another job took since is left alone. */
  async release(owner: string, ids: readonly string[]): Promise<void> {
    if (ids.length === 0) return;
    await RELEASE.run(this.redis, ids.map((id) => this.leaseKey(id)), [owner]);
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
