/**
 * Incidents and their updates in Redis. Posting an update is one Lua script:
 * it numbers the update, appends it, moves the incident's clock and marks the
 * broadcast as pending, so no reader ever sees half of it.
 */
import type { RedisClient } from '../redis/connection.js';
import { clockAfter } from '../domain/cadence.js';
import { newUlid } from '../domain/ids.js';
import {
  isOpen,
  type Commander,
  type Incident,
  type IncidentStatus,
  type IncidentUpdate,
  type IncidentWithUpdates,
  type Severity,
  type UpdateKind,
} from '../domain/incident.js';
import { NotFoundError, ResolvedError } from './errors.js';
import type { Keys, ShardKeys } from './keys.js';
import { RedisScript, scriptErrorCode } from './redis-script.js';

export interface NewIncident {
  title: string;
  severity: Severity;
  status: IncidentStatus;
  message: string;
  components: string[];
  audiences: string[];
  cadenceSeconds: number;
  commander: Commander | null;
  author: string;
}

export interface NewUpdate {
  message: string;
  /** Absent: the status stays as it is. */
  status?: IncidentStatus;
  kind: Exclude<UpdateKind, 'opened'>;
  author: string;
}

export interface IncidentPatch {
  title?: string;
  components?: string[];
  cadenceSeconds?: number;
}

const POST_UPDATE = new RedisScript('post-incident-update');
const PATCH_INCIDENT = new RedisScript('patch-incident');
const MARK_FANNED_OUT = new RedisScript('mark-fanned-out');
const READ_MOMENT = new RedisScript('read-incident-moment');

/**
 * How many times an update or patch is computed again after the incident's
 * clock moved between the read it was computed from and its script (a
 * concurrent cadence change or broadcast): enough for any real race.
 */
const MAX_CLOCK_ATTEMPTS = 10;

/**
 * Incidents whose cadence a process keeps in mind, so that posting an update
 * needs no read first: some 100 bytes each (a megabyte at most), and open
 * incidents are few; an incident forgotten is read again.
 */
const KNOWN_CADENCES = 10_000;

function iso(ms: string | undefined): string | null {
  return ms === undefined || ms === '' ? null : new Date(Number(ms)).toISOString();
}

/** One update of an incident (or maintenance), with what fan-out and delivery need around it. */
export interface Moment {
  incident: Incident;
  type: 'incident' | 'maintenance';
  update: IncidentUpdate;
  /** The incident's first update (its opening, or a maintenance's announcement). */
  opening: IncidentUpdate;
  /** The highest seq whose fan-out had finished at that moment (see {@link IncidentStore.fannedOutThrough}). */
  fannedOutSeq: number;
}

function toIncident(h: Record<string, string>): Incident {
  return {
    id: h.id!,
    title: h.title!,
    severity: h.severity as Severity,
    status: h.status as IncidentStatus,
    components: JSON.parse(h.components!) as string[],
    audiences: JSON.parse(h.audiences!) as string[],
    cadenceSeconds: Number(h.cadenceSeconds),
    commander: h.commander ? (JSON.parse(h.commander) as Commander) : null,
    createdAt: iso(h.createdAt)!,
    updatedAt: iso(h.updatedAt)!,
    lastBroadcastAt: iso(h.lastBroadcastAt)!,
    nextUpdateDueAt: iso(h.nextUpdateDueAt),
    resolvedAt: iso(h.resolvedAt),
  };
}

/** A stored update as JSON.parse reads it, or null when it is not JSON or not an update. */
function parseUpdate(json: string): IncidentUpdate | null {
  try {
    const update = JSON.parse(json) as Partial<IncidentUpdate> | null;
    return typeof update?.id === 'string' && typeof update.seq === 'number' ? (update as IncidentUpdate) : null;
  } catch {
    return null;
  }
}

/** The readable updates of a list; an unreadable one is left out (its broadcast reports it). */
function readableUpdates(list: readonly string[]): IncidentUpdate[] {
  return list.map(parseUpdate).filter((u): u is IncidentUpdate => u !== null);
}

/**
 * An update's stored record cannot be read, so it can never be broadcast;
 * `seq` is where it stands in its incident, when that could be told.
 */
export class UnreadableUpdateError extends Error {
  constructor(
    readonly incidentId: string,
    readonly updateId: string,
    readonly seq: number | undefined,
    readonly reason: string,
  ) {
    super(`the stored record of update ${updateId} of incident ${incidentId} cannot be read: ${reason}`);
    this.name = 'UnreadableUpdateError';
  }
}

function scriptError(error: unknown, incidentId: string): never {
  const code = scriptErrorCode(error);
  if (code === 'NOTFOUND') throw new NotFoundError('incident', incidentId);
  if (code === 'RESOLVED') throw new ResolvedError(incidentId);
  if (code === 'STALE') throw new StaleScheduleError(incidentId);
  throw error;
}

/** Marker of a holding statement that lost the race to a newer broadcast. */
export class StaleScheduleError extends Error {
  constructor(incidentId: string) {
    super(`incident ${incidentId} was broadcast since this statement was scheduled`);
    this.name = 'StaleScheduleError';
  }
}

export interface IncidentStoreOptions {
  /**
   * How long before an update is due its commander is reminded; capped at
   * half the incident's cadence.
   * @defaultValue 300
   */
  reminderLeadSeconds?: number;
}

export class IncidentStore {
  private readonly reminderLeadMs: number;
  /**
   * Each incident's cadence (as stored) when this process last saw it. An
   * update's clock is computed from it; when another process changed it
   * since, the script refuses the clock (CLOCK) and it is read again.
   */
  readonly #cadences = new Map<string, string>();

  constructor(
    private readonly redis: RedisClient,
    private readonly keys: Keys,
    options: IncidentStoreOptions = {},
  ) {
    this.reminderLeadMs = (options.reminderLeadSeconds ?? 300) * 1000;
  }

  /** Stores a new incident and its opening update, marked for broadcast. */
  async create(input: NewIncident, now = new Date()): Promise<{ incident: Incident; update: IncidentUpdate }> {
    const id = `inc_${newUlid(now.getTime())}`;
    const nowMs = now.getTime();
    const update: IncidentUpdate = {
      id: `upd_${newUlid(nowMs)}`,
      incidentId: id,
      seq: 1,
      kind: input.status === 'resolved' ? 'resolved' : 'opened',
      status: input.status,
      message: input.message,
      author: input.author,
      postedAt: now.toISOString(),
    };
    const resolved = input.status === 'resolved';
    const clock = clockAfter(nowMs, input.cadenceSeconds, this.reminderLeadMs);
    const fields: Record<string, string | number> = {
      id,
      title: input.title,
      severity: input.severity,
      status: input.status,
      components: JSON.stringify(input.components),
      audiences: JSON.stringify(input.audiences),
      cadenceSeconds: input.cadenceSeconds,
      commander: input.commander ? JSON.stringify(input.commander) : '',
      createdAt: nowMs,
      updatedAt: nowMs,
      lastBroadcastAt: nowMs,
      nextUpdateDueAt: resolved ? '' : clock.nextUpdateDueAt,
      resolvedAt: resolved ? nowMs : '',
      seq: 1,
      lastMessage: input.message,
    };
    // The incident's keys and its shard's share one slot: one transaction on a Cluster too.
    const shard = this.keys.shardOf(id);
    const tx = this.redis
      .multi()
      .hset(this.keys.incident(id), fields)
      .rpush(this.keys.updates(id), JSON.stringify(update))
      .zadd(shard.incidents, nowMs, id)
      .zadd(shard.pendingBroadcasts, nowMs, `${id}/${update.id}`);
    if (!resolved) {
      tx.zadd(shard.openIncidents, nowMs, id).zadd(shard.holdingSchedule, clock.nextUpdateDueAt, id);
      if (input.commander !== null && clock.remindAt !== null) tx.zadd(shard.reminderSchedule, clock.remindAt, id);
    }
    await tx.exec();
    if (!resolved) this.rememberCadence(id, String(input.cadenceSeconds));
    return { incident: toIncident(stringify(fields)), update };
  }

  /**
   * Appends an update; answers it with the audiences the incident broadcasts
   * to. With `expectedDueAt`, only if the incident's `nextUpdateDueAt` is
   * still that instant (else {@link StaleScheduleError}).
   *
   * The incident's new clock is computed here from its cadence as this
   * process knows it (read once, then kept); the script refuses it if the
   * cadence is another by now, and it is read and computed again.
   */
  async postUpdate(
    incidentId: string,
    input: NewUpdate,
    now = new Date(),
    expectedDueAt?: Date,
  ): Promise<{ update: IncidentUpdate; audiences: string[] }> {
    const shard = this.keys.shardOf(incidentId);
    const keys = [
      this.keys.incident(incidentId),
      this.keys.updates(incidentId),
      shard.openIncidents,
      shard.pendingBroadcasts,
      shard.holdingSchedule,
      shard.reminderSchedule,
    ];
    const updateId = `upd_${newUlid(now.getTime())}`;
    for (let attempt = 1; ; attempt++) {
      const cadence = (attempt === 1 ? this.#cadences.get(incidentId) : undefined) ?? (await this.readCadence(incidentId));
      const clock = clockAfter(now.getTime(), Number(cadence), this.reminderLeadMs);
      const args = [
        incidentId,
        updateId,
        input.message,
        input.status ?? '',
        input.kind,
        input.author,
        now.toISOString(),
        now.getTime(),
        expectedDueAt === undefined ? '' : String(expectedDueAt.getTime()),
        cadence,
        clock.nextUpdateDueAt,
        clock.remindAt ?? '',
      ];
      try {
        const [update, audiences] = (await POST_UPDATE.run(this.redis, keys, args)) as [string, string];
        if (input.status === 'resolved') this.#cadences.delete(incidentId);
        return { update: JSON.parse(update) as IncidentUpdate, audiences: JSON.parse(audiences) as string[] };
      } catch (error) {
        this.#cadences.delete(incidentId);
        if (scriptErrorCode(error) === 'CLOCK' && attempt < MAX_CLOCK_ATTEMPTS) continue;
        return scriptError(error, incidentId);
      }
    }
  }

  /**
   * Changes an open incident; a new cadence reschedules it at once: the next
   * update is due at the last broadcast + the new cadence, computed here from
   * the last broadcast as read just before (again if one happens in between).
   */
  async patch(incidentId: string, patch: IncidentPatch, now = new Date()): Promise<IncidentWithUpdates> {
    const shard = this.keys.shardOf(incidentId);
    const keys = [this.keys.incident(incidentId), shard.holdingSchedule, shard.reminderSchedule];
    for (let attempt = 1; ; attempt++) {
      const args: Array<string | number> = [
        now.getTime(),
        patch.title ?? '',
        patch.components === undefined ? '' : JSON.stringify(patch.components),
      ];
      if (patch.cadenceSeconds === undefined) {
        args.push('', '', '', '');
      } else {
        const lastBroadcast = (await this.redis.hget(this.keys.incident(incidentId), 'lastBroadcastAt')) ?? '';
        const clock = clockAfter(Number(lastBroadcast), patch.cadenceSeconds, this.reminderLeadMs);
        args.push(String(patch.cadenceSeconds), lastBroadcast, clock.nextUpdateDueAt, clock.remindAt ?? '');
      }
      try {
        await PATCH_INCIDENT.run(this.redis, keys, args);
        if (patch.cadenceSeconds !== undefined) this.rememberCadence(incidentId, String(patch.cadenceSeconds));
        break;
      } catch (error) {
        if (scriptErrorCode(error) === 'CLOCK' && attempt < MAX_CLOCK_ATTEMPTS) continue;
        scriptError(error, incidentId);
      }
    }
    const incident = await this.getWithUpdates(incidentId);
    if (incident === null) throw new NotFoundError('incident', incidentId);
    return incident;
  }

  /** An incident's cadence as stored ('' when there is no such incident), kept in mind for its next update. */
  private async readCadence(incidentId: string): Promise<string> {
    const cadence = await this.redis.hget(this.keys.incident(incidentId), 'cadenceSeconds');
    if (cadence !== null) this.rememberCadence(incidentId, cadence);
    return cadence ?? '';
  }

  private rememberCadence(incidentId: string, cadence: string): void {
    this.#cadences.delete(incidentId);
    // A Map iterates in insertion order: the first key is the one least recently learned.
    if (this.#cadences.size >= KNOWN_CADENCES) this.#cadences.delete(this.#cadences.keys().next().value!);
    this.#cadences.set(incidentId, cadence);
  }

  /** Whether an incident or maintenance of this id exists. */
  async exists(id: string): Promise<boolean> {
    return (await this.redis.exists(this.keys.incident(id))) === 1;
  }

  /** An incident (not a maintenance), or null. */
  async get(incidentId: string): Promise<Incident | null> {
    const h = await this.redis.hgetall(this.keys.incident(incidentId));
    return h.id === undefined || h.type === 'maintenance' ? null : toIncident(h);
  }

  /** An incident (not a maintenance) with its updates, or null. */
  async getWithUpdates(incidentId: string): Promise<IncidentWithUpdates | null> {
    const found = await this.getConversation(incidentId);
    if (found === null || found.type === 'maintenance') return null;
    const { type: _, ...incident } = found;
    return incident;
  }

  /**
   * An incident or a maintenance, read the same way: what fan-out and
   * delivery need, since both are conversations of updates with audiences.
   */
  async getConversation(id: string): Promise<(IncidentWithUpdates & { type: 'incident' | 'maintenance' }) | null> {
    const [[, h], [, updates]] = (await this.redis
      .multi()
      .hgetall(this.keys.incident(id))
      .lrange(this.keys.updates(id), 0, -1)
      .exec()) as [[unknown, Record<string, string>], [unknown, string[]]];
    if (h.id === undefined) return null;
    const type = h.type === 'maintenance' ? 'maintenance' : 'incident';
    return { ...toIncident(h), type, updates: readableUpdates(updates) };
  }

  /**
   * An update of an incident or maintenance, with the incident and its first
   * update; null when either is gone. Unlike {@link getConversation} it does
   * not read every update: an incident with thousands of updates costs the
   * same as one with two.
   */
  async getMoment(incidentId: string, updateId: string): Promise<Moment | null> {
    const found = (await READ_MOMENT.run(this.redis, [this.keys.incident(incidentId), this.keys.updates(incidentId)], [updateId])) as
      | [string[], string | null, string | null, number]
      | null;
    if (found === null) return null;
    const [flat, openingJson, updateJson, index] = found;
    if (openingJson === null || updateJson === null) return null;
    const seq = index + 1;
    const update = parseUpdate(updateJson);
    if (update === null || update.id !== updateId) throw new UnreadableUpdateError(incidentId, updateId, seq, 'not an update in JSON');
    const opening = parseUpdate(openingJson);
    if (opening === null) throw new UnreadableUpdateError(incidentId, updateId, seq, 'the incident\'s first update cannot be read');
    const h: Record<string, string> = {};
    for (let i = 0; i < flat.length; i += 2) h[flat[i]!] = flat[i + 1]!;
    return { incident: toIncident(h), type: h.type === 'maintenance' ? 'maintenance' : 'incident', update, opening, fannedOutSeq: Number(h.fannedOutSeq ?? 0) };
  }

  /**
   * Whether the update at `seq` is a record nobody will ever broadcast: it
   * cannot be read, and no update id it names has a broadcast pending (one
   * that does is given up by its own broadcast, in bounded time).
   */
  async isOrphan(incidentId: string, seq: number): Promise<boolean> {
    const json = await this.redis.lindex(this.keys.updates(incidentId), seq - 1);
    if (json === null || parseUpdate(json) !== null) return false;
    for (const [id] of json.matchAll(/upd_[0-9A-Za-z]+/g)) {
      if ((await this.redis.zscore(this.keys.shardOf(incidentId).pendingBroadcasts, `${incidentId}/${id}`)) !== null) return false;
    }
    return true;
  }

  /**
   * Where an update stands in its incident (its seq), read from the stored
   * list without trusting any record to decode; undefined when no record
   * names it.
   */
  async seqOf(incidentId: string, updateId: string): Promise<number | undefined> {
    const list = await this.redis.lrange(this.keys.updates(incidentId), 0, -1);
    for (let i = list.length - 1; i >= 0; i--) {
      const json = list[i]!;
      if (!json.includes(updateId)) continue;
      const update = parseUpdate(json);
      if (update === null || update.id === updateId) return i + 1;
    }
    return undefined;
  }

  /** Newest first, from every shard. */
  async list(state?: 'open' | 'resolved', limit = 100): Promise<IncidentWithUpdates[]> {
    // Resolved ones are filtered after reading; over-read so a page is full.
    const wanted = state === 'resolved' ? limit * 4 : limit;
    const newest = await Promise.all(
      this.keys.shards.map(async (shard) => {
        const flat = await this.redis.zrevrange(state === 'open' ? shard.openIncidents : shard.incidents, 0, wanted - 1, 'WITHSCORES');
        const found: Array<{ id: string; createdAt: number }> = [];
        for (let i = 0; i < flat.length; i += 2) found.push({ id: flat[i]!, createdAt: Number(flat[i + 1]) });
        return found;
      }),
    );
    // Ties (the same millisecond) go by id, as one sorted set orders them.
    const ids = newest
      .flat()
      .sort((a, b) => b.createdAt - a.createdAt || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0))
      .slice(0, wanted)
      .map((found) => found.id);
    const read = await this.readMany(ids);
    const incidents: IncidentWithUpdates[] = [];
    for (const id of ids) {
      const { h, updates } = read.get(id) ?? {};
      if (h?.id === undefined) continue;
      const incident = toIncident(h);
      if (state === 'resolved' && isOpen(incident)) continue;
      incidents.push({ ...incident, updates: readableUpdates(updates ?? []) });
      if (incidents.length >= limit) break;
    }
    return incidents;
  }

  /** Incidents' hashes and update lists, one pipeline per shard (a Cluster pipeline stays in one slot). */
  private async readMany(ids: readonly string[]): Promise<Map<string, { h: Record<string, string>; updates: string[] }>> {
    const byShard = new Map<number, string[]>();
    for (const id of ids) {
      const index = this.keys.shardOf(id).index;
      const list = byShard.get(index);
      if (list === undefined) byShard.set(index, [id]);
      else list.push(id);
    }
    const read = new Map<string, { h: Record<string, string>; updates: string[] }>();
    await Promise.all(
      [...byShard.values()].map(async (shardIds) => {
        const pipeline = this.redis.pipeline();
        for (const id of shardIds) pipeline.hgetall(this.keys.incident(id)).lrange(this.keys.updates(id), 0, -1);
        const results = (await pipeline.exec()) ?? [];
        for (const [i, id] of shardIds.entries()) {
          const h = (results[i * 2]?.[1] as Record<string, string> | undefined) ?? {};
          const updates = (results[i * 2 + 1]?.[1] as string[] | undefined) ?? [];
          read.set(id, { h, updates });
        }
      }),
    );
    return read;
  }

  /** The shards incidents live in (one on a single Redis). */
  get shards(): readonly ShardKeys[] {
    return this.keys.shards;
  }

  /** A shard's broadcasts stored but not finished, oldest first: "incidentId/updateId". */
  async pendingBroadcasts(shard: ShardKeys, olderThan: Date, limit = 500): Promise<Array<{ incidentId: string; updateId: string }>> {
    const members = await this.redis.zrangebyscore(shard.pendingBroadcasts, 0, olderThan.getTime(), 'LIMIT', 0, limit);
    return members.map((m) => {
      const [incidentId, updateId] = m.split('/') as [string, string];
      return { incidentId, updateId };
    });
  }

  async markBroadcastDone(incidentId: string, updateId: string): Promise<void> {
    await this.redis.zrem(this.keys.shardOf(incidentId).pendingBroadcasts, `${incidentId}/${updateId}`);
  }

  /**
   * The highest seq whose fan-out finished. Fan-outs of one incident happen
   * in seq order, so each target's lane receives its updates in that order.
   */
  async fannedOutThrough(incidentId: string): Promise<number> {
    return Number((await this.redis.hget(this.keys.incident(incidentId), 'fannedOutSeq')) ?? 0);
  }

  /** Records that `seq` was fanned out; returns the id of the update after it, if one was posted. */
  async markFannedOut(incidentId: string, seq: number): Promise<string | undefined> {
    const next = (await MARK_FANNED_OUT.run(this.redis, [this.keys.incident(incidentId), this.keys.updates(incidentId)], [seq])) as string | null;
    // An unreadable successor is not woken: its own broadcast finds it after its short wait.
    return next === null ? undefined : parseUpdate(next)?.id;
  }
}

function stringify(fields: Record<string, string | number>): Record<string, string> {
  return Object.fromEntries(Object.entries(fields).map(([k, v]) => [k, String(v)]));
}
