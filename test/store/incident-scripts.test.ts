/**
 * The incident store's scripts, run directly against a real Redis: what each
 * writes, what it answers, and what it refuses (leaving everything as it was).
 */
import { describe, expect, it } from 'vitest';
import { scriptHarness } from './scripts.js';

const h = scriptHarness('incident-scripts');
const NOW = 1_700_000_000_000;
const COMMANDER = JSON.stringify({ name: 'Dana', email: 'dana@corp.example' });

let seq = 0;
/** A fresh open incident, stored as the incident store stores one; its id. */
async function openIncident(fields: Record<string, string | number> = {}): Promise<string> {
  const id = `inc_${++seq}_${Math.random().toString(36).slice(2)}`;
  await h.redis.hset(h.keys.incident(id), {
    id,
    title: 'Payments failing',
    severity: 'critical',
    status: 'investigating',
    components: '["api"]',
    audiences: '["partners"]',
    cadenceSeconds: 1800,
    commander: COMMANDER,
    createdAt: NOW - 60_000,
    updatedAt: NOW - 60_000,
    lastBroadcastAt: NOW - 60_000,
    nextUpdateDueAt: NOW - 60_000 + 1_800_000,
    resolvedAt: '',
    seq: 1,
    lastMessage: 'Card payments fail.',
    ...fields,
  });
  await h.redis.rpush(h.keys.updates(id), JSON.stringify({ id: `upd_open_${id}`, seq: 1, kind: 'opened', message: 'Card payments fail.' }));
  await h.redis.zadd(h.keys.shards[0]!.openIncidents, NOW - 60_000, id);
  await h.redis.zadd(h.keys.shards[0]!.holdingSchedule, NOW - 60_000 + 1_800_000, id);
  await h.redis.zadd(h.keys.shards[0]!.reminderSchedule, NOW - 60_000 + 1_500_000, id);
  return id;
}

/** Everything the scripts may touch of one incident, to compare before and after. */
async function stateOf(id: string) {
  return {
    incident: await h.redis.hgetall(h.keys.incident(id)),
    updates: await h.redis.lrange(h.keys.updates(id), 0, -1),
    open: await h.redis.zscore(h.keys.shards[0]!.openIncidents, id),
    holding: await h.redis.zscore(h.keys.shards[0]!.holdingSchedule, id),
    reminder: await h.redis.zscore(h.keys.shards[0]!.reminderSchedule, id),
    pending: await h.redis.zrangebyscore(h.keys.shards[0]!.pendingBroadcasts, '-inf', '+inf'),
  };
}

describe('post-incident-update', () => {
  const keysOf = (id: string) => [
    h.keys.incident(id),
    h.keys.updates(id),
    h.keys.shards[0]!.openIncidents,
    h.keys.shards[0]!.pendingBroadcasts,
    h.keys.shards[0]!.holdingSchedule,
    h.keys.shards[0]!.reminderSchedule,
  ];
  const DUE = NOW + 1_800_000;
  const REMIND = NOW + 1_500_000;
  /** ARGV as the store builds it: a commander's update at NOW, the clock computed for a 1800 s cadence. */
  const args = (id: string, over: Partial<Record<'status' | 'kind' | 'message' | 'expectedDue' | 'cadence' | 'remindAt' | 'updateId', string>> = {}) => [
    id,
    over.updateId ?? `upd_${Math.random().toString(36).slice(2)}`,
    over.message ?? 'We found the cause.',
    over.status ?? '',
    over.kind ?? 'update',
    'dana-token',
    new Date(NOW).toISOString(),
    NOW,
    over.expectedDue ?? '',
    over.cadence ?? '1800',
    DUE,
    over.remindAt ?? String(REMIND),
  ];

  it('appends the update with the next seq, moves the clock to the times given, marks the broadcast pending, and answers the audiences', async () => {
    const id = await openIncident();
    const [json, audiences] = (await h.run('post-incident-update', keysOf(id), args(id, { updateId: 'upd_2', status: 'identified' }))) as [string, string];
    expect(JSON.parse(json)).toEqual({
      id: 'upd_2',
      incidentId: id,
      seq: 2,
      kind: 'update',
      status: 'identified',
      message: 'We found the cause.',
      author: 'dana-token',
      postedAt: new Date(NOW).toISOString(),
    });
    expect(JSON.parse(audiences)).toEqual(['partners']);
    const after = await stateOf(id);
    expect(after.incident).toMatchObject({
      status: 'identified',
      seq: '2',
      updatedAt: String(NOW),
      lastBroadcastAt: String(NOW),
      nextUpdateDueAt: String(DUE),
      lastMessage: 'We found the cause.',
    });
    expect(after.updates).toHaveLength(2);
    expect(after.updates[1]).toBe(json);
    expect(after.holding).toBe(String(DUE));
    expect(after.reminder).toBe(String(REMIND));
    expect(await h.redis.zscore(h.keys.shards[0]!.pendingBroadcasts, `${id}/upd_2`)).toBe(String(NOW));
  });

  it('keeps the status when none is given, and numbers each update once more', async () => {
    const id = await openIncident();
    await h.run('post-incident-update', keysOf(id), args(id));
    const [json] = (await h.run('post-incident-update', keysOf(id), args(id))) as [string];
    expect(JSON.parse(json)).toMatchObject({ seq: 3, status: 'investigating', kind: 'update' });
  });

  it('a holding statement repeats the commander\'s last words and leaves them as they are', async () => {
    const id = await openIncident({ lastMessage: 'Still on it.' });
    const [json] = (await h.run('post-incident-update', keysOf(id), args(id, { kind: 'holding', message: '' }))) as [string];
    expect(JSON.parse(json)).toMatchObject({ kind: 'holding', message: 'Still on it.' });
    expect(await h.redis.hget(h.keys.incident(id), 'lastMessage')).toBe('Still on it.');
  });

  it('reminds nobody when the incident has no commander, or when no reminder time is given', async () => {
    const without = await openIncident({ commander: '' });
    await h.run('post-incident-update', keysOf(without), args(without));
    expect((await stateOf(without)).reminder).toBeNull();
    expect((await stateOf(without)).holding).toBe(String(DUE));

    const noLead = await openIncident();
    await h.run('post-incident-update', keysOf(noLead), args(noLead, { remindAt: '' }));
    expect((await stateOf(noLead)).reminder).toBeNull();
  });

  it('a resolving update resolves the incident and takes it off every schedule (its cadence is not checked)', async () => {
    const id = await openIncident();
    const [json] = (await h.run('post-incident-update', keysOf(id), args(id, { status: 'resolved', cadence: 'whatever' }))) as [string];
    expect(JSON.parse(json)).toMatchObject({ kind: 'resolved', status: 'resolved' });
    const after = await stateOf(id);
    expect(after.incident).toMatchObject({ status: 'resolved', resolvedAt: String(NOW), nextUpdateDueAt: '' });
    expect([after.open, after.holding, after.reminder]).toEqual([null, null, null]);
  });

  it('a holding statement goes out only for the due time it was claimed for: run again, it is STALE and nothing changes', async () => {
    const id = await openIncident();
    const due = await h.redis.hget(h.keys.incident(id), 'nextUpdateDueAt');
    await h.run('post-incident-update', keysOf(id), args(id, { kind: 'holding', expectedDue: due! }));
    const before = await stateOf(id);
    expect(await h.errorOf('post-incident-update', keysOf(id), args(id, { kind: 'holding', expectedDue: due! }))).toBe('STALE');
    expect(await stateOf(id)).toEqual(before);
  });

  it('refuses a clock computed from another cadence (CLOCK), a resolved incident (RESOLVED) and no incident (NOTFOUND), changing nothing', async () => {
    const id = await openIncident({ cadenceSeconds: 60 });
    const before = await stateOf(id);
    expect(await h.errorOf('post-incident-update', keysOf(id), args(id, { cadence: '1800' }))).toBe('CLOCK');
    expect(await stateOf(id)).toEqual(before);

    const resolved = await openIncident({ status: 'resolved' });
    const resolvedBefore = await stateOf(resolved);
    expect(await h.errorOf('post-incident-update', keysOf(resolved), args(resolved))).toBe('RESOLVED');
    expect(await stateOf(resolved)).toEqual(resolvedBefore);

    expect(await h.errorOf('post-incident-update', keysOf('inc_none'), args('inc_none'))).toBe('NOTFOUND');
    expect(await h.redis.exists(h.keys.incident('inc_none'), h.keys.updates('inc_none'))).toBe(0);

    const maintenance = await openIncident({ type: 'maintenance' });
    expect(await h.errorOf('post-incident-update', keysOf(maintenance), args(maintenance))).toBe('NOTFOUND');
  });
});

describe('patch-incident', () => {
  const keysOf = (id: string) => [h.keys.incident(id), h.keys.shards[0]!.holdingSchedule, h.keys.shards[0]!.reminderSchedule];
  const LAST = String(NOW - 60_000);

  it('changes title and components alone without touching the clock', async () => {
    const id = await openIncident();
    const before = await stateOf(id);
    expect(await h.run('patch-incident', keysOf(id), [NOW, 'Card payments failing', '["api","cards"]', '', '', '', ''])).toBe('OK');
    const after = await stateOf(id);
    expect(after.incident).toMatchObject({ title: 'Card payments failing', components: '["api","cards"]', updatedAt: String(NOW) });
    expect(after.incident.nextUpdateDueAt).toBe(before.incident.nextUpdateDueAt);
    expect([after.holding, after.reminder]).toEqual([before.holding, before.reminder]);
  });

  it('a new cadence moves the clock to the times given, and running it again changes nothing more', async () => {
    const id = await openIncident();
    const patch = [NOW, '', '', '60', LAST, NOW - 60_000 + 60_000, NOW - 60_000 + 30_000];
    await h.run('patch-incident', keysOf(id), patch);
    const once = await stateOf(id);
    expect(once.incident).toMatchObject({ cadenceSeconds: '60', nextUpdateDueAt: String(NOW), title: 'Payments failing' });
    expect(once.holding).toBe(String(NOW));
    expect(once.reminder).toBe(String(NOW - 30_000));
    await h.run('patch-incident', keysOf(id), patch);
    expect(await stateOf(id)).toEqual(once);
  });

  it('without a commander, or without a reminder time, no reminder is scheduled', async () => {
    const id = await openIncident({ commander: '' });
    await h.run('patch-incident', keysOf(id), [NOW, '', '', '60', LAST, NOW, NOW - 30_000]);
    expect((await stateOf(id)).reminder).toBeNull();
    const noLead = await openIncident();
    await h.run('patch-incident', keysOf(noLead), [NOW, '', '', '60', LAST, NOW, '']);
    expect((await stateOf(noLead)).reminder).toBeNull();
  });

  it('refuses a clock computed from another last broadcast (CLOCK) before changing anything, and a resolved or absent incident', async () => {
    const id = await openIncident();
    const before = await stateOf(id);
    expect(await h.errorOf('patch-incident', keysOf(id), [NOW, 'New title', '', '60', String(NOW - 1), NOW, ''])).toBe('CLOCK');
    expect(await stateOf(id)).toEqual(before);

    const resolved = await openIncident({ status: 'resolved' });
    expect(await h.errorOf('patch-incident', keysOf(resolved), [NOW, 'New title', '', '', '', '', ''])).toBe('RESOLVED');
    expect(await h.redis.hget(h.keys.incident(resolved), 'title')).toBe('Payments failing');
    expect(await h.errorOf('patch-incident', keysOf('inc_none'), [NOW, 'New title', '', '', '', '', ''])).toBe('NOTFOUND');
    expect(await h.redis.exists(h.keys.incident('inc_none'))).toBe(0);
  });
});

describe('mark-fanned-out', () => {
  it('moves the cursor forward, never back; again with the same seq changes nothing', async () => {
    const id = await openIncident();
    const key = [h.keys.incident(id), h.keys.updates(id)];
    await h.run('mark-fanned-out', key, [2]);
    expect(await h.redis.hget(h.keys.incident(id), 'fannedOutSeq')).toBe('2');
    await h.run('mark-fanned-out', key, [2]);
    await h.run('mark-fanned-out', key, [1]);
    expect(await h.redis.hget(h.keys.incident(id), 'fannedOutSeq')).toBe('2');
    await h.run('mark-fanned-out', key, [10]);
    expect(await h.redis.hget(h.keys.incident(id), 'fannedOutSeq')).toBe('10');
  });

  it('answers the stored record of the update after the seq, as it is, or nothing when none was posted yet', async () => {
    const id = await openIncident();
    const keys = [h.keys.incident(id), h.keys.updates(id)];
    expect(await h.run('mark-fanned-out', keys, [1])).toBeNull();
    await h.redis.rpush(h.keys.updates(id), '{"id":"upd_second"}', 'not JSON at all');
    expect(await h.run('mark-fanned-out', keys, [1])).toBe('{"id":"upd_second"}');
    expect(await h.run('mark-fanned-out', keys, [2])).toBe('not JSON at all');
    expect(await h.run('mark-fanned-out', keys, [3])).toBeNull();
  });
});

describe('read-incident-moment', () => {
  const keysOf = (id: string) => [h.keys.incident(id), h.keys.updates(id)];
  type Moment = [string[], string | null, string | null, number] | null;


  it('answers the incident, its first update, the update asked for and its index', async () => {
    const id = await openIncident();
    const second = JSON.stringify({ id: 'upd_b', seq: 2, message: 'b' });
    const third = JSON.stringify({ id: 'upd_c', seq: 3, message: 'c' });
    await h.redis.rpush(h.keys.updates(id), second, third);
    const [flat, first, found, index] = (await h.run('read-incident-moment', keysOf(id), ['upd_b'])) as NonNullable<Moment>;
    expect(Object.fromEntries(Array.from({ length: flat.length / 2 }, (_, i) => [flat[2 * i], flat[2 * i + 1]]))).toEqual(
      await h.redis.hgetall(h.keys.incident(id)),
    );
    expect(JSON.parse(first!)).toMatchObject({ seq: 1, kind: 'opened' });
    expect([found, index]).toEqual([second, 1]);
  });

  it('finds the update itself, not a later one whose message names its id', async () => {
    const id = await openIncident();
    const named = JSON.stringify({ id: 'upd_x', seq: 2, message: 'x' });
    await h.redis.rpush(h.keys.updates(id), named, JSON.stringify({ id: 'upd_y', seq: 3, message: 'about upd_x' }));
    const moment = (await h.run('read-incident-moment', keysOf(id), ['upd_x'])) as NonNullable<Moment>;
    expect([moment[2], moment[3]]).toEqual([named, 1]);
  });

  it('answers a record that names the id but does not decode as found, for the caller to judge', async () => {
    const id = await openIncident();
    await h.redis.rpush(h.keys.updates(id), '{"id":"upd_broken", not json');
    const moment = (await h.run('read-incident-moment', keysOf(id), ['upd_broken'])) as NonNullable<Moment>;
    expect([moment[2], moment[3]]).toEqual(['{"id":"upd_broken", not json', 1]);
  });

  it('answers no update (index -1) for an id it does not hold, and nothing for an incident that does not exist', async () => {
    const id = await openIncident();
    const moment = (await h.run('read-incident-moment', keysOf(id), ['upd_unknown'])) as NonNullable<Moment>;
    expect([moment[2], moment[3]]).toEqual([null, -1]);
    expect(await h.run('read-incident-moment', keysOf('inc_none'), ['upd_unknown'])).toBeNull();
  });
});
