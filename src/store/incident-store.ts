/**
 * Incidents and their updates in Redis. Posting an update is one Lua script:
 * it numbers the update, appends it, moves the incident's clock and marks the
 * broadcast as pending, so no reader ever sees half of it.
 */
import type { Redis } from 'ioredis';
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
import type { Keys } from './keys.js';
import { LuaScript, scriptErrorCode } from './lua-script.js';

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

/**
 * Shared by the scripts that move an incident's clock: puts the incident on
 * the holding-statement schedule at `due`, and, when it has a commander, on
 * the reminder schedule `lead` earlier (capped at half the cadence).
 */
const RESCHEDULE = `
local function reschedule(incident, id, due, holding, reminders, leadMs)
  redis.call('ZADD', holding, due, id)
  local commander = redis.call('HGET', incident, 'commander')
  local cadenceMs = tonumber(redis.call('HGET', incident, 'cadenceSeconds')) * 1000
  local lead = math.min(leadMs, math.floor(cadenceMs / 2))
  if commander and commander ~= '' and lead > 0 then
    redis.call('ZADD', reminders, due - lead, id)
  else
    redis.call('ZREM', reminders, id)
  end
end
`;

/**
 * KEYS: incident hash, updates list, open zset, pending-broadcasts zset,
 *       holding schedule, reminder schedule
 * ARGV: incidentId, updateId, message, status ('' = unchanged), kind, author,
 *       postedAtIso, nowMs, expectedDueMs ('' = any), reminderLeadMs
 * Returns [update JSON, the incident's audiences JSON], or an error reply:
 * NOTFOUND, RESOLVED, STALE.
 * `expectedDueMs` lets a holding statement go out only if nothing was
 * broadcast since it was scheduled: that is what makes it exactly-once.
 * A holding statement repeats the last thing the commander said.
 */
const POST_UPDATE = new LuaScript(
  'post-update',
  `${RESCHEDULE}
local incident, updates, open, pending, holding, reminders = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6]
local id, updateId, message, status, kind, author, postedAt, now, expectedDue, leadMs =
  ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7], tonumber(ARGV[8]), ARGV[9], tonumber(ARGV[10])
if redis.call('EXISTS', incident) == 0 or redis.call('HGET', incident, 'type') == 'maintenance' then
  return redis.error_reply('NOTFOUND')
end
local current = redis.call('HMGET', incident, 'status', 'cadenceSeconds', 'nextUpdateDueAt', 'lastMessage')
if current[1] == 'resolved' then return redis.error_reply('RESOLVED') end
if expectedDue ~= '' and current[3] ~= expectedDue then return redis.error_reply('STALE') end
if status == '' then status = current[1] end
if status == 'resolved' then kind = 'resolved' end
if kind == 'holding' then
  if current[4] and current[4] ~= '' then message = current[4] end
else
  redis.call('HSET', incident, 'lastMessage', message)
end
local seq = redis.call('HINCRBY', incident, 'seq', 1)
local update = cjson.encode({
  id = updateId, incidentId = id, seq = seq, kind = kind, status = status,
  message = message, author = author, postedAt = postedAt })
redis.call('RPUSH', updates, update)
redis.call('HSET', incident, 'status', status, 'updatedAt', now, 'lastBroadcastAt', now)
if status == 'resolved' then
  redis.call('HSET', incident, 'resolvedAt', now, 'nextUpdateDueAt', '')
  redis.call('ZREM', open, id)
  redis.call('ZREM', holding, id)
  redis.call('ZREM', reminders, id)
else
  local due = now + tonumber(current[2]) * 1000
  redis.call('HSET', incident, 'nextUpdateDueAt', due)
  reschedule(incident, id, due, holding, reminders, leadMs)
end
redis.call('ZADD', pending, now, id .. '/' .. updateId)
return { update, redis.call('HGET', incident, 'audiences') }
`,
);

/**
 * KEYS: incident hash, holding schedule, reminder schedule.
 * ARGV: nowMs, title ('' = keep), components JSON ('' = keep), cadenceSeconds ('' = keep), reminderLeadMs.
 * Returns 'OK' or NOTFOUND / RESOLVED. A new cadence reschedules at once:
 * the next update is due at the last broadcast + the new cadence.
 */
const PATCH_INCIDENT = new LuaScript(
  'patch-incident',
  `${RESCHEDULE}
local incident, holding, reminders = KEYS[1], KEYS[2], KEYS[3]
local now, title, components, cadence, leadMs = ARGV[1], ARGV[2], ARGV[3], ARGV[4], tonumber(ARGV[5])
if redis.call('EXISTS', incident) == 0 or redis.call('HGET', incident, 'type') == 'maintenance' then
  return redis.error_reply('NOTFOUND')
end
if redis.call('HGET', incident, 'status') == 'resolved' then return redis.error_reply('RESOLVED') end
if title ~= '' then redis.call('HSET', incident, 'title', title) end
if components ~= '' then redis.call('HSET', incident, 'components', components) end
if cadence ~= '' then
  local last = tonumber(redis.call('HGET', incident, 'lastBroadcastAt'))
  local due = last + tonumber(cadence) * 1000
  redis.call('HSET', incident, 'cadenceSeconds', cadence, 'nextUpdateDueAt', due)
  reschedule(incident, redis.call('HGET', incident, 'id'), due, holding, reminders, leadMs)
end
redis.call('HSET', incident, 'updatedAt', now)
return 'OK'
`,
);

/** KEYS: incident hash. ARGV: seq. Moves the fanned-out cursor forward, never back. */
const MARK_FANNED_OUT = new LuaScript(
  'mark-fanned-out',
  `local current = tonumber(redis.call('HGET', KEYS[1], 'fannedOutSeq') or '0')
if tonumber(ARGV[1]) > current then redis.call('HSET', KEYS[1], 'fannedOutSeq', ARGV[1]) end
return 1`,
);

function iso(ms: string | undefined): string | null {
  return ms === undefined || ms === '' ? null : new Date(Number(ms)).toISOString();
}

/**
 * KEYS: incident hash, updates list. ARGV: updateId.
 * Returns [incident hash as a flat list, first update JSON, that update's
 * JSON, its index], or nil when the incident does not exist. The update is
 * looked for from the newest back: a broadcast is almost always of one of
 * the last. A record that names the id but does not decode here is returned
 * as found (never raised on: one bad record must not hide the others), for
 * the caller to judge.
 */
const GET_MOMENT = new LuaScript(
  'get-moment',
  `
local h = redis.call('HGETALL', KEYS[1])
if #h == 0 then return nil end
local n = redis.call('LLEN', KEYS[2])
local found = false
local index = -1
for i = -1, -n, -1 do
  local json = redis.call('LINDEX', KEYS[2], i)
  if string.find(json, ARGV[1], 1, true) then
    local ok, update = pcall(cjson.decode, json)
    if not ok or type(update) ~= 'table' or update.id == ARGV[1] then
      found = json
      index = n + i
      break
    end
  end
end
return { h, redis.call('LINDEX', KEYS[2], 0), found, index }
`,
);

/** One update of an incident (or maintenance), with what fan-out and delivery need around it. */
export interface Moment {
  incident: Incident;
  type: 'incident' | 'maintenance';
  update: IncidentUpdate;
  /** The incident's first update (its opening, or a maintenance's announcement). */
  opening: IncidentUpdate;
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

  constructor(
    private readonly redis: Redis,
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
      nextUpdateDueAt: resolved ? '' : nowMs + input.cadenceSeconds * 1000,
      resolvedAt: resolved ? nowMs : '',
      seq: 1,
      lastMessage: input.message,
    };
    const tx = this.redis
      .multi()
      .hset(this.keys.incident(id), fields)
      .rpush(this.keys.updates(id), JSON.stringify(update))
      .zadd(this.keys.incidents, nowMs, id)
      .zadd(this.keys.pendingBroadcasts, nowMs, `${id}/${update.id}`);
    if (!resolved) {
      const due = nowMs + input.cadenceSeconds * 1000;
      const lead = Math.min(this.reminderLeadMs, Math.floor((input.cadenceSeconds * 1000) / 2));
      tx.zadd(this.keys.openIncidents, nowMs, id).zadd(this.keys.holdingSchedule, due, id);
      if (input.commander !== null && lead > 0) tx.zadd(this.keys.reminderSchedule, due - lead, id);
    }
    await tx.exec();
    return { incident: toIncident(stringify(fields)), update };
  }

  /**
   * Appends an update; answers it with the audiences the incident broadcasts
   * to. With `expectedDueAt`, only if the incident's `nextUpdateDueAt` is
   * still that instant (else {@link StaleScheduleError}).
   */
  async postUpdate(
    incidentId: string,
    input: NewUpdate,
    now = new Date(),
    expectedDueAt?: Date,
  ): Promise<{ update: IncidentUpdate; audiences: string[] }> {
    const keys = [
      this.keys.incident(incidentId),
      this.keys.updates(incidentId),
      this.keys.openIncidents,
      this.keys.pendingBroadcasts,
      this.keys.holdingSchedule,
      this.keys.reminderSchedule,
    ];
    const args = [
      incidentId,
      `upd_${newUlid(now.getTime())}`,
      input.message,
      input.status ?? '',
      input.kind,
      input.author,
      now.toISOString(),
      now.getTime(),
      expectedDueAt === undefined ? '' : String(expectedDueAt.getTime()),
      this.reminderLeadMs,
    ];
    try {
      const [update, audiences] = (await POST_UPDATE.run(this.redis, keys, args)) as [string, string];
      return { update: JSON.parse(update) as IncidentUpdate, audiences: JSON.parse(audiences) as string[] };
    } catch (error) {
      return scriptError(error, incidentId);
    }
  }

  async patch(incidentId: string, patch: IncidentPatch, now = new Date()): Promise<IncidentWithUpdates> {
    const args = [
      now.getTime(),
      patch.title ?? '',
      patch.components === undefined ? '' : JSON.stringify(patch.components),
      patch.cadenceSeconds === undefined ? '' : String(patch.cadenceSeconds),
      this.reminderLeadMs,
    ];
    const keys = [this.keys.incident(incidentId), this.keys.holdingSchedule, this.keys.reminderSchedule];
    try {
      await PATCH_INCIDENT.run(this.redis, keys, args);
    } catch (error) {
      scriptError(error, incidentId);
    }
    const incident = await this.getWithUpdates(incidentId);
    if (incident === null) throw new NotFoundError('incident', incidentId);
    return incident;
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
    const found = (await GET_MOMENT.run(this.redis, [this.keys.incident(incidentId), this.keys.updates(incidentId)], [updateId])) as
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
    return { incident: toIncident(h), type: h.type === 'maintenance' ? 'maintenance' : 'incident', update, opening };
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
      if ((await this.redis.zscore(this.keys.pendingBroadcasts, `${incidentId}/${id}`)) !== null) return false;
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

  /** Newest first. */
  async list(state?: 'open' | 'resolved', limit = 100): Promise<IncidentWithUpdates[]> {
    const source = state === 'open' ? this.keys.openIncidents : this.keys.incidents;
    // Resolved ones are filtered after reading; over-read so a page is full.
    const ids = await this.redis.zrevrange(source, 0, state === 'resolved' ? limit * 4 - 1 : limit - 1);
    const pipeline = this.redis.pipeline();
    for (const id of ids) pipeline.hgetall(this.keys.incident(id)).lrange(this.keys.updates(id), 0, -1);
    const results = (await pipeline.exec()) ?? [];
    const incidents: IncidentWithUpdates[] = [];
    for (let i = 0; i < ids.length; i++) {
      const h = results[i * 2]?.[1] as Record<string, string> | undefined;
      const updates = (results[i * 2 + 1]?.[1] as string[] | undefined) ?? [];
      if (h?.id === undefined) continue;
      const incident = toIncident(h);
      if (state === 'resolved' && isOpen(incident)) continue;
      incidents.push({ ...incident, updates: readableUpdates(updates) });
      if (incidents.length >= limit) break;
    }
    return incidents;
  }

  /** Broadcasts stored but not finished, oldest first: "incidentId/updateId". */
  async pendingBroadcasts(olderThan: Date, limit = 500): Promise<Array<{ incidentId: string; updateId: string }>> {
    const members = await this.redis.zrangebyscore(this.keys.pendingBroadcasts, 0, olderThan.getTime(), 'LIMIT', 0, limit);
    return members.map((m) => {
      const [incidentId, updateId] = m.split('/') as [string, string];
      return { incidentId, updateId };
    });
  }

  async markBroadcastDone(incidentId: string, updateId: string): Promise<void> {
    await this.redis.zrem(this.keys.pendingBroadcasts, `${incidentId}/${updateId}`);
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
    await MARK_FANNED_OUT.run(this.redis, [this.keys.incident(incidentId)], [seq]);
    const next = await this.redis.lindex(this.keys.updates(incidentId), seq);
    // An unreadable successor is not woken: its own broadcast finds it after its short wait.
    return next === null ? undefined : parseUpdate(next)?.id;
  }
}

function stringify(fields: Record<string, string | number>): Record<string, string> {
  return Object.fromEntries(Object.entries(fields).map(([k, v]) => [k, String(v)]));
}
