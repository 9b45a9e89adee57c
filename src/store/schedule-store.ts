/**
 * Claiming what is due on the cadence schedules. Any number of processes
 * poll; a claim is atomic and leases the entry (moves its score a little
 * into the future), so exactly one process acts on it — and if that process
 * dies, the lease runs out and another one does. The due ids are read
 * first, then each incident is claimed by a script that declares that
 * incident's keys (no script reaches a key it was not given). The posting
 * script itself checks the due time again (`expectedDueAt`), so a claim that
 * lost a race with a manual update sends nothing.
 *
 * Each shard has its own schedules (on a Cluster, in its own slot): every
 * claim looks at all of them.
 */
import type { RedisClient } from '../redis/connection.js';
import { reminderAt } from '../domain/cadence.js';
import type { Keys, ShardKeys } from './keys.js';
import { RedisScript } from './redis-script.js';

/** How long a claim holds before another process may take it over. */
export const CLAIM_LEASE_MS = 5_000;

const CLAIM_HOLDING = new RedisScript('claim-holding-statement');
const CLAIM_REMINDER = new RedisScript('claim-reminder');
const MARK_REMINDED = new RedisScript('mark-reminded');
const CLAIM_ANNOUNCEMENTS = new RedisScript('claim-maintenance-announcements');

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

/** The claimed ones of `[id, due or null]` pairs. */
function entries(claims: ReadonlyArray<readonly [string, string | null]>): DueEntry[] {
  return claims.filter(([, due]) => due !== null).map(([incidentId, due]) => ({ incidentId, dueAt: new Date(Number(due)) }));
}

export class ScheduleStore {
  constructor(
    private readonly redis: RedisClient,
    private readonly keys: Keys,
    private readonly reminderLeadMs: number,
  ) {}

  /**
   * Incidents whose holding statement is due at `now`, claimed for this
   * process: the due ids are read, then each is claimed by a script that
   * names its incident's keys (another process may have claimed it in
   * between; the script then leaves it). At most `limit` per shard.
   */
  async claimHolding(now: Date, limit: number): Promise<DueEntry[]> {
    return this.inEveryShard((shard) => this.claimHoldingIn(shard, now, limit));
  }

  private async claimHoldingIn(shard: ShardKeys, now: Date, limit: number): Promise<DueEntry[]> {
    const ids = await this.dueIds(shard.holdingSchedule, now, limit);
    const leasedUntil = now.getTime() + CLAIM_LEASE_MS;
    const claims = await Promise.all(
      ids.map(async (id) => {
        const keys = [shard.holdingSchedule, this.keys.incident(id)];
        return [id, (await CLAIM_HOLDING.run(this.redis, keys, [id, now.getTime(), leasedUntil])) as string | null] as const;
      }),
    );
    return entries(claims);
  }

  /**
   * Commanders to remind at `now`, claimed for this process. When each is
   * reminded is computed here, from the incident's clock as read (the
   * reminder lead is this process's); the claiming script checks that clock
   * has not moved since. At most `limit` per shard.
   */
  async claimReminders(now: Date, limit: number): Promise<DueEntry[]> {
    return this.inEveryShard((shard) => this.claimRemindersIn(shard, now, limit));
  }

  private async claimRemindersIn(shard: ShardKeys, now: Date, limit: number): Promise<DueEntry[]> {
    const ids = await this.dueIds(shard.reminderSchedule, now, limit);
    if (ids.length === 0) return [];
    const pipeline = this.redis.pipeline();
    for (const id of ids) pipeline.hmget(this.keys.incident(id), 'nextUpdateDueAt', 'cadenceSeconds');
    const clocks = (await pipeline.exec()) ?? [];
    const leasedUntil = now.getTime() + CLAIM_LEASE_MS;
    const claims = await Promise.all(
      ids.map(async (id, i) => {
        const [due, cadence] = (clocks[i]?.[1] as Array<string | null> | undefined) ?? [];
        const remindAt = due && cadence ? reminderAt(Number(due), Number(cadence), this.reminderLeadMs) : null;
        const keys = [shard.reminderSchedule, this.keys.incident(id)];
        const args = [id, now.getTime(), leasedUntil, due ?? '', cadence ?? '', remindAt ?? ''];
        return [id, (await CLAIM_REMINDER.run(this.redis, keys, args)) as string | null] as const;
      }),
    );
    return entries(claims);
  }

  /** Maintenance announcements due at `now`, claimed for this process, in the order they were due in each shard; at most `limit` per shard. */
  async claimMaintenance(now: Date, limit: number): Promise<string[]> {
    const args = [now.getTime(), now.getTime() + CLAIM_LEASE_MS, limit];
    return this.inEveryShard(async (shard) => (await CLAIM_ANNOUNCEMENTS.run(this.redis, [shard.maintenanceSchedule], args)) as string[]);
  }

  async markReminded(entry: DueEntry): Promise<void> {
    const shard = this.keys.shardOf(entry.incidentId);
    const keys = [shard.reminderSchedule, this.keys.incident(entry.incidentId), shard.cadenceCounts];
    await MARK_REMINDED.run(this.redis, keys, [entry.incidentId, entry.dueAt.getTime()]);
  }

  /** Ids on a schedule due at `now` (not yet claimed: a claim moves its entry past now). */
  private dueIds(schedule: string, now: Date, limit: number): Promise<string[]> {
    return this.redis.zrangebyscore(schedule, '-inf', now.getTime(), 'LIMIT', 0, limit);
  }

  /** What `each` answers for every shard, side by side, one list. */
  private async inEveryShard<T>(each: (shard: ShardKeys) => Promise<T[]>): Promise<T[]> {
    return (await Promise.all(this.keys.shards.map(each))).flat();
  }

  /** Counts a posted holding statement of an incident for `/metrics` (in its shard). */
  async countHoldingStatement(incidentId: string): Promise<void> {
    await this.redis.hincrby(this.keys.shardOf(incidentId).cadenceCounts, 'holding', 1);
  }

  /** The cadence's counts (added up over the shards) and the longest current silence, as of `now`. */
  async snapshot(now: Date): Promise<CadenceSnapshot> {
    const [counts, silences] = await Promise.all([
      Promise.all(this.keys.shards.map((shard) => this.redis.hmget(shard.cadenceCounts, 'holding', 'reminder'))),
      Promise.all(this.keys.shards.map((shard) => this.oldestBroadcast(shard))),
    ]);
    const oldest = silences.map(([, o]) => o).filter((o): o is number => o !== undefined);
    return {
      holdingStatements: counts.reduce((sum, [holding]) => sum + Number(holding ?? 0), 0),
      reminders: counts.reduce((sum, [, reminders]) => sum + Number(reminders ?? 0), 0),
      openIncidents: silences.reduce((sum, [open]) => sum + open, 0),
      longestSilenceMs: oldest.length === 0 ? 0 : Math.max(0, now.getTime() - Math.min(...oldest)),
    };
  }

  /**
   * How many of a shard's incidents are open, and the oldest last broadcast
   * (ms) of them. One field of each open incident: the holding schedule's
   * scores are due times (last broadcast + that incident's cadence, or a
   * lease), so the silence cannot be read off them without each cadence
   * anyway. Open incidents are few — each one is a live outage — so a scrape
   * costs two round trips per shard and one hash read per open incident,
   * never a walk through any incident's updates. Nothing here needs one
   * moment of all of them.
   */
  private async oldestBroadcast(shard: ShardKeys): Promise<[open: number, oldest: number | undefined]> {
    const ids = await this.redis.zrange(shard.openIncidents, 0, -1);
    if (ids.length === 0) return [0, undefined];
    const pipeline = this.redis.pipeline();
    for (const id of ids) pipeline.hmget(this.keys.incident(id), 'status', 'lastBroadcastAt');
    let open = 0;
    let oldest: number | undefined;
    for (const [, reply] of (await pipeline.exec()) ?? []) {
      const [status, lastBroadcastAt] = (reply as Array<string | null> | undefined) ?? [];
      const last = lastBroadcastAt ? Number(lastBroadcastAt) : Number.NaN;
      if (!status || status === 'resolved' || Number.isNaN(last)) continue;
      open++;
      if (oldest === undefined || last < oldest) oldest = last;
    }
    return [open, oldest];
  }

  /** The earliest time anything on any shard's schedules is due (ms), or undefined when they are empty. */
  async earliest(): Promise<number | undefined> {
    const scores = await this.inEveryShard(async (shard) => {
      const results = (await this.redis
        .multi()
        .zrange(shard.holdingSchedule, 0, 0, 'WITHSCORES')
        .zrange(shard.reminderSchedule, 0, 0, 'WITHSCORES')
        .zrange(shard.maintenanceSchedule, 0, 0, 'WITHSCORES')
        .exec()) as Array<[unknown, string[]]>;
      return results.map(([, first]) => first[1]).filter((score): score is string => score !== undefined).map(Number);
    });
    return scores.length === 0 ? undefined : Math.min(...scores);
  }
}
