/**
 * The maintenance store's scripts, run directly against a real Redis: a
 * change lands whole on the state it was judged against or not at all, and a
 * scheduled announcement goes out once, never for a version replaced since.
 */
import { describe, expect, it } from 'vitest';
import { scriptHarness } from './scripts.js';

const h = scriptHarness('maintenance-scripts');
const NOW = 1_700_000_000_000;
const HOUR = 3_600_000;

let seq = 0;
const newId = () => `mnt_${++seq}_${Math.random().toString(36).slice(2)}`;
const keysOf = (id: string) => [h.keys.incident(id), h.keys.updates(id), h.keys.shards[0]!.pendingBroadcasts, h.keys.shards[0]!.maintenanceSchedule, h.keys.shards[0]!.maintenances];
const announcement = (id: string, kind: string, updateId = `upd_${Math.random().toString(36).slice(2)}`) =>
  JSON.stringify({ id: updateId, incidentId: id, kind, status: 'scheduled', message: 'Writes pause.', author: 'ops', postedAt: new Date(NOW).toISOString() });
const member = (id: string, version: number, kind: string, at: number) => `${id}|${version}|${kind}|${at}`;
const scheduled = async (id: string) => (await h.redis.zrange(h.keys.shards[0]!.maintenanceSchedule, 0, -1)).filter((m) => m.startsWith(`${id}|`));

/** ARGV of apply-maintenance-change. */
function applyArgs(id: string, expected: string, update: string, fields: Record<string, string | number>, members: Array<[string, number]>) {
  return [id, expected, NOW, update, Object.keys(fields).length, ...Object.entries(fields).flat(), ...members.flat()];
}

async function created(id: string): Promise<void> {
  await h.run(
    'apply-maintenance-change',
    keysOf(id),
    applyArgs(id, '', announcement(id, 'maintenance-scheduled', `upd_${id}_1`), { id, type: 'maintenance', status: 'scheduled', seq: 0, version: 0 }, [
      [member(id, 1, 'maintenance-started', NOW + HOUR), NOW + HOUR],
      [member(id, 1, 'maintenance-completed', NOW + 2 * HOUR), NOW + 2 * HOUR],
    ]),
  );
}

describe('apply-maintenance-change', () => {
  it('creates: writes the fields and version 1, indexes it, schedules its timeline, and appends its announcement as seq 1, pending broadcast', async () => {
    const id = newId();
    const json = announcement(id, 'maintenance-scheduled', 'upd_first');
    const reply = (await h.run(
      'apply-maintenance-change',
      keysOf(id),
      applyArgs(id, '', json, { id, type: 'maintenance', status: 'scheduled', seq: 0, version: 0 }, [[member(id, 1, 'maintenance-started', NOW + HOUR), NOW + HOUR]]),
    )) as string;
    expect(JSON.parse(reply)).toEqual({ ...JSON.parse(json), seq: 1 });
    expect(await h.redis.hgetall(h.keys.incident(id))).toMatchObject({
      id,
      status: 'scheduled',
      version: '1',
      seq: '1',
      updatedAt: String(NOW),
      lastBroadcastAt: String(NOW),
      events: member(id, 1, 'maintenance-started', NOW + HOUR),
    });
    expect(await h.redis.zscore(h.keys.shards[0]!.maintenances, id)).toBe(String(NOW));
    expect(await h.redis.zscore(h.keys.shards[0]!.maintenanceSchedule, member(id, 1, 'maintenance-started', NOW + HOUR))).toBe(String(NOW + HOUR));
    expect(await h.redis.lrange(h.keys.updates(id), 0, -1)).toEqual([reply]);
    expect(await h.redis.zscore(h.keys.shards[0]!.pendingBroadcasts, `${id}/upd_first`)).toBe(String(NOW));
  });

  it('creating again is EXISTS, and nothing changes', async () => {
    const id = newId();
    await created(id);
    const before = await h.redis.hgetall(h.keys.incident(id));
    expect(await h.errorOf('apply-maintenance-change', keysOf(id), applyArgs(id, '', announcement(id, 'maintenance-scheduled'), { title: 'Other' }, []))).toBe('EXISTS');
    expect(await h.redis.hgetall(h.keys.incident(id))).toEqual(before);
    expect(await h.redis.llen(h.keys.updates(id))).toBe(1);
  });

  it('a change judged against the stored "version|status" replaces the timeline and appends its announcement; quiet changes append none', async () => {
    const id = newId();
    await created(id);
    const moved = (await h.run(
      'apply-maintenance-change',
      keysOf(id),
      applyArgs(id, '1|scheduled', announcement(id, 'maintenance-rescheduled'), { startsAt: NOW + 3 * HOUR }, [[member(id, 2, 'maintenance-started', NOW + 3 * HOUR), NOW + 3 * HOUR]]),
    )) as string;
    expect(JSON.parse(moved)).toMatchObject({ kind: 'maintenance-rescheduled', seq: 2 });
    expect(await scheduled(id)).toEqual([member(id, 2, 'maintenance-started', NOW + 3 * HOUR)]);
    expect(await h.redis.hmget(h.keys.incident(id), 'version', 'startsAt')).toEqual(['2', String(NOW + 3 * HOUR)]);

    expect(await h.run('apply-maintenance-change', keysOf(id), applyArgs(id, '2|scheduled', '', { title: 'Database upgrade' }, []))).toBeNull();
    expect(await h.redis.hmget(h.keys.incident(id), 'version', 'title')).toEqual(['3', 'Database upgrade']);
    expect(await h.redis.llen(h.keys.updates(id))).toBe(2);
    expect(await scheduled(id)).toEqual([]);
  });

  it('a change judged against another version or status is STALE, one of a maintenance that does not exist NOTFOUND; nothing changes', async () => {
    const id = newId();
    await created(id);
    const before = { hash: await h.redis.hgetall(h.keys.incident(id)), timeline: await scheduled(id) };
    for (const expected of ['0|scheduled', '1|in_progress']) {
      expect(await h.errorOf('apply-maintenance-change', keysOf(id), applyArgs(id, expected, announcement(id, 'maintenance-cancelled'), { status: 'cancelled' }, []))).toBe('STALE');
    }
    expect({ hash: await h.redis.hgetall(h.keys.incident(id)), timeline: await scheduled(id) }).toEqual(before);
    expect(await h.redis.llen(h.keys.updates(id))).toBe(1);
    const none = newId();
    expect(await h.errorOf('apply-maintenance-change', keysOf(none), applyArgs(none, '1|scheduled', '', { title: 'x' }, []))).toBe('NOTFOUND');
    expect(await h.redis.exists(h.keys.incident(none))).toBe(0);
  });
});

describe('fire-maintenance-announcement', () => {
  const fireKeys = (id: string) => keysOf(id).slice(0, 4);
  const fireArgs = (id: string, m: string, version: string, status: string) => [m, version, NOW + HOUR, announcement(id, 'maintenance-started'), status];

  it('posts a scheduled announcement of the current version once: fired again, it sends nothing', async () => {
    const id = newId();
    await created(id);
    const started = member(id, 1, 'maintenance-started', NOW + HOUR);
    const json = (await h.run('fire-maintenance-announcement', fireKeys(id), fireArgs(id, started, '1', 'in_progress'))) as string;
    const update = JSON.parse(json) as { id: string; seq: number };
    expect(update.seq).toBe(2);
    expect(await h.redis.hmget(h.keys.incident(id), 'status', 'updatedAt', 'lastBroadcastAt')).toEqual(['in_progress', String(NOW + HOUR), String(NOW + HOUR)]);
    expect(await h.redis.zscore(h.keys.shards[0]!.pendingBroadcasts, `${id}/${update.id}`)).toBe(String(NOW + HOUR));
    expect(await scheduled(id)).toEqual([member(id, 1, 'maintenance-completed', NOW + 2 * HOUR)]);

    expect(await h.run('fire-maintenance-announcement', fireKeys(id), fireArgs(id, started, '1', 'in_progress'))).toBeNull();
    expect(await h.redis.llen(h.keys.updates(id))).toBe(2);
  });

  it('an announcement of a replaced version, or of a finished maintenance, is removed and not sent', async () => {
    const id = newId();
    await created(id);
    const started = member(id, 1, 'maintenance-started', NOW + HOUR);
    await h.redis.hset(h.keys.incident(id), 'version', 2);
    expect(await h.run('fire-maintenance-announcement', fireKeys(id), fireArgs(id, started, '1', 'in_progress'))).toBeNull();
    expect(await h.redis.zscore(h.keys.shards[0]!.maintenanceSchedule, started)).toBeNull();

    const completed = member(id, 1, 'maintenance-completed', NOW + 2 * HOUR);
    await h.redis.hset(h.keys.incident(id), 'version', 1, 'status', 'cancelled');
    expect(await h.run('fire-maintenance-announcement', fireKeys(id), fireArgs(id, completed, '1', 'completed'))).toBeNull();
    expect(await h.redis.zscore(h.keys.shards[0]!.maintenanceSchedule, completed)).toBeNull();
    expect(await h.redis.hget(h.keys.incident(id), 'status')).toBe('cancelled');
    expect(await h.redis.llen(h.keys.updates(id))).toBe(1);
  });
});
