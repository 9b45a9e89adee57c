/**
 * Claiming what is due on the cadence schedules. Any number of processes
 * poll; a claim is atomic and leases the entry (moves its score a little
 * into the future), so exactly one process acts on it — and if that process
 * dies, the lease runs out and another one does. The posting script itself
 * checks the due time again (`expectedDueAt`), so a claim that lost a race
 * with a manual update sends nothing.
 */
import type { Redis } from 'ioredis';
import type { Keys } from './keys.js';
import { LuaScript } from './lua-script.js';

/** How long a claim holds before another process may take it over. */
export const CLAIM_LEASE_MS = 5_000;

/**
 * KEYS: holding schedule. ARGV: incident key prefix, nowMs, leaseMs, limit.
 * Returns [id, dueMs, id, dueMs, …] of incidents whose statement is due.
 * Entries that no longer match their incident (resolved, rescheduled) are
 * repaired on the way, so the schedule heals itself.
 */
const CLAIM_HOLDING = new LuaScript(
  'claim-holding',
  `
local prefix, now, lease, limit = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, limit)
local claimed = {}
for _, id in ipairs(ids) do
  local h = redis.call('HMGET', prefix .. id, 'status', 'nextUpdateDueAt')
  local due = tonumber(h[2])
  if not h[1] or h[1] == 'resolved' or not due then
    redis.call('ZREM', KEYS[1], id)
  elseif due > now then
    redis.call('ZADD', KEYS[1], due, id)
  else
    redis.call('ZADD', KEYS[1], now + lease, id)
    claimed[#claimed + 1] = id
    claimed[#claimed + 1] = h[2]
  end
end
return claimed
`,
);

/**
 * KEYS: reminder schedule. ARGV: incident key prefix, nowMs, leaseMs, limit, leadMs.
 * Returns [id, dueMs, …] of commanders to remind now. A reminder whose update
 * is already due, or that was sent for this due time, is dropped.
 */
const CLAIM_REMINDERS = new LuaScript(
  'claim-reminders',
  `
local prefix, now, lease, limit, leadMs = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, limit)
local claimed = {}
for _, id in ipairs(ids) do
  local h = redis.call('HMGET', prefix .. id, 'status', 'nextUpdateDueAt', 'cadenceSeconds', 'remindedFor')
  local due = tonumber(h[2])
  if not h[1] or h[1] == 'resolved' or not due or due <= now or h[4] == h[2] then
    redis.call('ZREM', KEYS[1], id)
  else
    local remindAt = due - math.min(leadMs, math.floor(tonumber(h[3]) * 1000 / 2))
    if remindAt > now then
      redis.call('ZADD', KEYS[1], remindAt, id)
    else
      redis.call('ZADD', KEYS[1], now + lease, id)
      claimed[#claimed + 1] = id
      claimed[#claimed + 1] = h[2]
    end
  end
end
return claimed
`,
);

/**
 * KEYS: reminder schedule, incident hash, cadence counts. ARGV: id, dueMs.
 * Records that the reminder for this due time went out, and counts it once;
 * it leaves the schedule unless a newer update has already put the next one there.
 */
const MARK_REMINDED = new LuaScript(
  'mark-reminded',
  `
if redis.call('HGET', KEYS[2], 'remindedFor') ~= ARGV[2] then redis.call('HINCRBY', KEYS[3], 'reminder', 1) end
redis.call('HSET', KEYS[2], 'remindedFor', ARGV[2])
if redis.call('HGET', KEYS[2], 'nextUpdateDueAt') == ARGV[2] then redis.call('ZREM', KEYS[1], ARGV[1]) end
return 1
`,
);

/**
 * KEYS: a schedule. ARGV: nowMs, leaseMs, limit.
 * Returns the members due, each leased. Their own script removes them when
 * they fire; one whose process died comes due again when the lease runs out.
 */
const CLAIM_MEMBERS = new LuaScript(
  'claim-members',
  `
local now, lease, limit = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local members = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, limit)
for _, member in ipairs(members) do redis.call('ZADD', KEYS[1], now + lease, member) end
return members
`,
);

/**
 * KEYS: open incidents. ARGV: incident key prefix.
 * Returns [open incidents, oldest lastBroadcastAt (ms) of them, or -1].
 * One field of each open incident: the holding schedule's scores are due
 * times (last broadcast + that incident's cadence, or a lease), so the
 * silence cannot be read off them without each cadence anyway. Open
 * incidents are few — each one is a live outage — so a scrape costs one
 * call and one hash read per open incident inside Redis, never a walk
 * through any incident's updates.
 */
const OLDEST_BROADCAST = new LuaScript(
  'oldest-broadcast',
  `
local ids = redis.call('ZRANGE', KEYS[1], 0, -1)
local open, oldest = 0, -1
for _, id in ipairs(ids) do
  local h = redis.call('HMGET', ARGV[1] .. id, 'status', 'lastBroadcastAt')
  local last = tonumber(h[2])
  if h[1] and h[1] ~= 'resolved' and last then
    open = open + 1
    if oldest < 0 or last < oldest then oldest = last end
  end
end
return { open, oldest }
`,
);

/** What `/metrics` shows of the cadence, from Redis: the same in every process. */
export interface CadenceSnapshot {
  /** Holding statements posted, by every process, ever (under this prefix). */
  holdingStatements: number;
  /** Commanders reminded that an update is due, by every process, ever. */
  reminders: number;
  openIncidents: number;
  /** Longest time an open incident has gone without a broadcast (ms); 0 when none is open. */
  longestSilenceMs: number;
}

export interface DueEntry {
  incidentId: string;
  dueAt: Date;
}

function pairs(reply: unknown): DueEntry[] {
  const flat = reply as string[];
  const entries: DueEntry[] = [];
  for (let i = 0; i < flat.length; i += 2) entries.push({ incidentId: flat[i]!, dueAt: new Date(Number(flat[i + 1])) });
  return entries;
}

export class ScheduleStore {
  constructor(
    private readonly redis: Redis,
    private readonly keys: Keys,
    private readonly reminderLeadMs: number,
  ) {}

  /** Incidents whose holding statement is due at `now`, claimed for this process. */
  async claimHolding(now: Date, limit: number): Promise<DueEntry[]> {
    const args = [this.keys.incidentPrefix, now.getTime(), CLAIM_LEASE_MS, limit];
    return pairs(await CLAIM_HOLDING.run(this.redis, [this.keys.holdingSchedule], args));
  }

  /** Commanders to remind at `now`, claimed for this process. */
  async claimReminders(now: Date, limit: number): Promise<DueEntry[]> {
    const args = [this.keys.incidentPrefix, now.getTime(), CLAIM_LEASE_MS, limit, this.reminderLeadMs];
    return pairs(await CLAIM_REMINDERS.run(this.redis, [this.keys.reminderSchedule], args));
  }

  /** Maintenance announcements due at `now`, claimed for this process, in the order they were due. */
  async claimMaintenance(now: Date, limit: number): Promise<string[]> {
    return (await CLAIM_MEMBERS.run(this.redis, [this.keys.maintenanceSchedule], [now.getTime(), CLAIM_LEASE_MS, limit])) as string[];
  }

  async markReminded(entry: DueEntry): Promise<void> {
    const keys = [this.keys.reminderSchedule, this.keys.incident(entry.incidentId), this.keys.cadenceCounts];
    await MARK_REMINDED.run(this.redis, keys, [entry.incidentId, entry.dueAt.getTime()]);
  }

  /** Counts a posted holding statement for `/metrics`. */
  async countHoldingStatement(): Promise<void> {
    await this.redis.hincrby(this.keys.cadenceCounts, 'holding', 1);
  }

  /** The cadence's counts and the longest current silence, as of `now`. */
  async snapshot(now: Date): Promise<CadenceSnapshot> {
    const [[holding, reminders], [open, oldest]] = await Promise.all([
      this.redis.hmget(this.keys.cadenceCounts, 'holding', 'reminder'),
      OLDEST_BROADCAST.run(this.redis, [this.keys.openIncidents], [this.keys.incidentPrefix]) as Promise<[number, number]>,
    ]);
    return {
      holdingStatements: Number(holding ?? 0),
      reminders: Number(reminders ?? 0),
      openIncidents: open,
      longestSilenceMs: oldest < 0 ? 0 : Math.max(0, now.getTime() - oldest),
    };
  }

  /** The earliest time anything on the schedules is due (ms), or undefined when they are empty. */
  async earliest(): Promise<number | undefined> {
    const results = (await this.redis
      .multi()
      .zrange(this.keys.holdingSchedule, 0, 0, 'WITHSCORES')
      .zrange(this.keys.reminderSchedule, 0, 0, 'WITHSCORES')
      .zrange(this.keys.maintenanceSchedule, 0, 0, 'WITHSCORES')
      .exec()) as Array<[unknown, string[]]>;
    const scores = results.map(([, first]) => first[1]).filter((s): s is string => s !== undefined).map(Number);
    return scores.length === 0 ? undefined : Math.min(...scores);
  }
}
