/**
 * Scheduled maintenances. A maintenance is kept like an incident (the same
 * hash layout, `type: maintenance`, its announcements as updates), so
 * fan-out, ordering and threading serve it unchanged.
 *
 * Its future announcements are members of a schedule zset, named
 * `id|version|kind|at`. Every change bumps the version and replaces the
 * members in the same script, and firing an announcement removes its member
 * in the script that posts it: an announcement goes out once, and never for
 * a window that was rescheduled or cancelled since.
 */
import type { RedisClient } from '../redis/connection.js';
import { newUlid } from '../domain/ids.js';
import type { IncidentUpdate, MaintenanceKind, MaintenanceStatus, MaintenanceWindow } from '../domain/incident.js';
import {
  isFinished,
  rescheduleProblem,
  statusAfter,
  timeline,
  type Maintenance,
  type MaintenanceWithUpdates,
  type TimelineEvent,
  type WindowProblem,
} from '../domain/maintenance.js';
import { NotFoundError } from './errors.js';
import type { Keys } from './keys.js';
import { RedisScript, scriptErrorCode } from './redis-script.js';

/** The maintenance is completed or cancelled; it takes no more changes. */
export class MaintenanceFinishedError extends Error {
  constructor(
    readonly maintenanceId: string,
    readonly status: MaintenanceStatus,
  ) {
    super(`maintenance "${maintenanceId}" is ${status}; it takes no more changes`);
    this.name = 'MaintenanceFinishedError';
  }
}

/** A change would leave the maintenance with a window that breaks a rule (judged against the stored state). */
export class InvalidWindowError extends Error {
  constructor(readonly problem: WindowProblem) {
    super(`${problem.field} ${problem.message}`);
    this.name = 'InvalidWindowError';
  }
}

/**
 * Other changes kept landing between our read and our write of the
 * maintenance; this one was not applied. The caller may read it again and retry.
 */
export class MaintenanceChangedError extends Error {
  constructor(readonly maintenanceId: string) {
    super(`maintenance "${maintenanceId}" was changed by other requests while this one was applied; read it again and retry`);
    this.name = 'MaintenanceChangedError';
  }
}

/** Someone changed the maintenance between our read and our write. */
class ConcurrentChangeError extends Error {}

/**
 * How many times a change is decided again on fresh state after losing a
 * race before the caller hears 409: enough for a handful of concurrent
 * editors, few enough that a stampede is answered quickly.
 */
const MAX_CHANGE_ATTEMPTS = 5;

const APPLY = new RedisScript('apply-maintenance-change');
const FIRE = new RedisScript('fire-maintenance-announcement');

export interface NewMaintenance {
  title: string;
  message: string;
  components: string[];
  audiences: string[];
  startsAt: Date;
  endsAt: Date;
  remindBeforeSeconds: number[];
  author: string;
}

export interface MaintenanceChange {
  title?: string;
  message?: string;
  components?: string[];
  startsAt?: Date;
  endsAt?: Date;
  remindBeforeSeconds?: number[];
}

/** A claimed schedule member, decoded. */
export interface DueAnnouncement {
  member: string;
  maintenanceId: string;
  version: string;
  kind: TimelineEvent['kind'];
  at: number;
}

export function parseMember(member: string): DueAnnouncement | null {
  const [maintenanceId, version, kind, at] = member.split('|');
  if (maintenanceId === undefined || version === undefined || kind === undefined || at === undefined) return null;
  return { member, maintenanceId, version, kind: kind as TimelineEvent['kind'], at: Number(at) };
}

const iso = (ms: string | undefined): string | null => (ms === undefined || ms === '' ? null : new Date(Number(ms)).toISOString());

function toMaintenance(h: Record<string, string>): Maintenance {
  return {
    id: h.id!,
    title: h.title!,
    message: h.message ?? '',
    components: JSON.parse(h.components ?? '[]') as string[],
    audiences: JSON.parse(h.audiences ?? '[]') as string[],
    startsAt: iso(h.startsAt)!,
    endsAt: iso(h.endsAt)!,
    remindBeforeSeconds: JSON.parse(h.remindBefore ?? '[]') as number[],
    status: h.status as MaintenanceStatus,
    createdAt: iso(h.createdAt)!,
    updatedAt: iso(h.updatedAt)!,
    cancelledAt: iso(h.cancelledAt),
  };
}

function windowOf(m: Pick<Maintenance, 'startsAt' | 'endsAt'>): MaintenanceWindow {
  return { startsAt: m.startsAt, endsAt: m.endsAt };
}

export class MaintenanceStore {
  constructor(
    private readonly redis: RedisClient,
    private readonly keys: Keys,
  ) {}

  async create(input: NewMaintenance, now = new Date()): Promise<{ maintenance: Maintenance; update: IncidentUpdate }> {
    const id = `mnt_${newUlid(now.getTime())}`;
    const fields: Record<string, string | number> = {
      id,
      type: 'maintenance',
      title: input.title,
      severity: 'maintenance',
      status: 'scheduled',
      message: input.message,
      components: JSON.stringify(input.components),
      audiences: JSON.stringify(input.audiences),
      cadenceSeconds: 0,
      commander: '',
      createdAt: now.getTime(),
      lastBroadcastAt: now.getTime(),
      nextUpdateDueAt: '',
      resolvedAt: '',
      cancelledAt: '',
      startsAt: input.startsAt.getTime(),
      endsAt: input.endsAt.getTime(),
      remindBefore: JSON.stringify(input.remindBeforeSeconds),
      version: 0,
      seq: 0,
    };
    const window = { startsAt: input.startsAt.toISOString(), endsAt: input.endsAt.toISOString() };
    const update = this.announcement(id, 'maintenance-scheduled', 'scheduled', input.message, input.author, now, window);
    const json = await this.apply(id, '', now, update, fields, this.members(id, 1, input, now));
    const maintenance = await this.get(id);
    return { maintenance: maintenance!, update: JSON.parse(json!) as IncidentUpdate };
  }

  /**
   * Applies a change: only the fields it names, each judged and written
   * against the same version of the maintenance, so a concurrent change is
   * neither undone nor judged against a window that is no longer stored.
   * A new window is announced (`maintenance-rescheduled`) and replaces the
   * timeline; other changes are saved quietly.
   *
   * @throws {@link InvalidWindowError} when the new window breaks a rule
   * @throws {@link MaintenanceChangedError} when other changes kept winning the race
   */
  async change(id: string, change: MaintenanceChange, author: string, now = new Date()): Promise<{ maintenance: Maintenance; update: IncidentUpdate | null }> {
    return this.retrying(id, async (current, version) => {
      if (isFinished(current.status)) throw new MaintenanceFinishedError(id, current.status);
      const startsAt = change.startsAt ?? new Date(current.startsAt);
      const endsAt = change.endsAt ?? new Date(current.endsAt);
      if (change.startsAt !== undefined || change.endsAt !== undefined) {
        const problem = rescheduleProblem(
          { status: current.status, startsAt: Date.parse(current.startsAt) },
          { startsAt: startsAt.getTime(), endsAt: endsAt.getTime() },
          now.getTime(),
        );
        if (problem !== null) throw new InvalidWindowError(problem);
      }
      const remindBeforeSeconds = change.remindBeforeSeconds ?? current.remindBeforeSeconds;
      const message = change.message ?? current.message;
      const moved = startsAt.getTime() !== Date.parse(current.startsAt) || endsAt.getTime() !== Date.parse(current.endsAt);
      const fields: Record<string, string | number> = {
        startsAt: startsAt.getTime(),
        endsAt: endsAt.getTime(),
        remindBefore: JSON.stringify(remindBeforeSeconds),
        message,
        ...(change.title !== undefined && { title: change.title }),
        ...(change.components !== undefined && { components: JSON.stringify(change.components) }),
      };
      const window: MaintenanceWindow = {
        startsAt: startsAt.toISOString(),
        endsAt: endsAt.toISOString(),
        previous: windowOf(current),
      };
      const update = moved ? this.announcement(id, 'maintenance-rescheduled', current.status, message, author, now, window) : null;
      const started = current.status === 'in_progress';
      const members = this.members(id, version + 1, { startsAt, endsAt, remindBeforeSeconds }, now, started);
      return this.apply(id, `${version}|${current.status}`, now, update, fields, members);
    });
  }

  /** Cancels and announces it once; cancelling again changes and announces nothing. */
  async cancel(id: string, author: string, now = new Date()): Promise<{ maintenance: Maintenance; update: IncidentUpdate | null }> {
    return this.retrying(id, async (current, version) => {
      if (current.status === 'cancelled') return null;
      if (current.status === 'completed') throw new MaintenanceFinishedError(id, current.status);
      const update = this.announcement(id, 'maintenance-cancelled', 'cancelled', current.message, author, now, windowOf(current));
      const fields = { status: 'cancelled', cancelledAt: now.getTime() };
      return this.apply(id, `${version}|${current.status}`, now, update, fields, []);
    });
  }

  /** Posts a due timeline announcement; null when it no longer applies (or already went out). */
  async fire(due: DueAnnouncement, now = new Date()): Promise<IncidentUpdate | null> {
    const current = await this.get(due.maintenanceId);
    if (current === null) return null;
    const status = statusAfter(due.kind, current.status);
    const update = this.announcement(due.maintenanceId, due.kind, status, current.message, 'herald', now, windowOf(current));
    const shard = this.keys.shardOf(due.maintenanceId);
    const keys = [this.keys.incident(due.maintenanceId), this.keys.updates(due.maintenanceId), shard.pendingBroadcasts, shard.maintenanceSchedule];
    const json = (await FIRE.run(this.redis, keys, [due.member, due.version, now.getTime(), JSON.stringify(update), status])) as
      | string
      | null;
    return json === null ? null : (JSON.parse(json) as IncidentUpdate);
  }

  async get(id: string): Promise<Maintenance | null> {
    const h = await this.redis.hgetall(this.keys.incident(id));
    return h.type === 'maintenance' ? toMaintenance(h) : null;
  }

  async getWithUpdates(id: string): Promise<MaintenanceWithUpdates | null> {
    const [maintenance, updates] = await Promise.all([this.get(id), this.redis.lrange(this.keys.updates(id), 0, -1)]);
    return maintenance === null ? null : { ...maintenance, updates: updates.map((u) => JSON.parse(u) as IncidentUpdate) };
  }

  /** Newest first, from every shard, optionally only those in one status. */
  async list(status?: MaintenanceStatus, limit = 100): Promise<Maintenance[]> {
    const perShard = await Promise.all(
      this.keys.shards.map(async (shard) => {
        const ids = await this.redis.zrevrange(shard.maintenances, 0, -1);
        // One pipeline per shard: a Cluster pipeline stays in one slot.
        const pipeline = this.redis.pipeline();
        for (const id of ids) pipeline.hgetall(this.keys.incident(id));
        const results = (await pipeline.exec()) ?? [];
        return results.map(([, h]) => h as Record<string, string>).filter((h) => h.type === 'maintenance').map(toMaintenance);
      }),
    );
    return perShard
      .flat()
      .filter((maintenance) => status === undefined || maintenance.status === status)
      .sort((a, b) => Date.parse(b.createdAt) - Date.parse(a.createdAt) || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0))
      .slice(0, limit);
  }

  private announcement(
    id: string,
    kind: MaintenanceKind,
    status: MaintenanceStatus,
    message: string,
    author: string,
    now: Date,
    window: MaintenanceWindow,
  ): Omit<IncidentUpdate, 'seq'> {
    return { id: `upd_${newUlid(now.getTime())}`, incidentId: id, kind, status, message, author, postedAt: now.toISOString(), maintenance: window };
  }

  private members(
    id: string,
    version: number,
    window: { startsAt: Date; endsAt: Date; remindBeforeSeconds: readonly number[] },
    now: Date,
    started = false,
  ): Array<[string, number]> {
    const events = timeline(
      { startsAt: window.startsAt.getTime(), endsAt: window.endsAt.getTime(), remindBeforeSeconds: window.remindBeforeSeconds },
      now.getTime(),
    ).filter((e) => !(started && e.kind !== 'maintenance-completed'));
    return events.map((e) => [`${id}|${version}|${e.kind}|${e.at}`, e.at]);
  }

  private async apply(
    id: string,
    expectedState: string,
    now: Date,
    update: Omit<IncidentUpdate, 'seq'> | null,
    fields: Record<string, string | number>,
    members: ReadonlyArray<[string, number]>,
  ): Promise<string | null> {
    const shard = this.keys.shardOf(id);
    const keys = [this.keys.incident(id), this.keys.updates(id), shard.pendingBroadcasts, shard.maintenanceSchedule, shard.maintenances];
    const entries = Object.entries(fields);
    const args: Array<string | number> = [id, expectedState, now.getTime(), update === null ? '' : JSON.stringify(update), entries.length];
    for (const [name, value] of entries) args.push(name, value);
    for (const [member, score] of members) args.push(member, score);
    try {
      return (await APPLY.run(this.redis, keys, args)) as string | null;
    } catch (error) {
      const code = scriptErrorCode(error);
      if (code === 'NOTFOUND') throw new NotFoundError('maintenance', id);
      if (code === 'STALE') throw new ConcurrentChangeError();
      throw error;
    }
  }

  /** Read, decide, write under the version read; again if someone wrote in between. */
  private async retrying(
    id: string,
    decide: (current: Maintenance, version: number) => Promise<string | null>,
  ): Promise<{ maintenance: Maintenance; update: IncidentUpdate | null }> {
    for (let attempt = 0; attempt < MAX_CHANGE_ATTEMPTS; attempt++) {
      const h = await this.redis.hgetall(this.keys.incident(id));
      if (h.type !== 'maintenance') throw new NotFoundError('maintenance', id);
      try {
        const json = await decide(toMaintenance(h), Number(h.version));
        const maintenance = await this.get(id);
        return { maintenance: maintenance!, update: json === null ? null : (JSON.parse(json) as IncidentUpdate) };
      } catch (error) {
        if (!(error instanceof ConcurrentChangeError)) throw error;
      }
    }
    throw new MaintenanceChangedError(id);
  }
}
