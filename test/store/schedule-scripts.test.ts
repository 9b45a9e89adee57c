/**
 * The cadence schedule's scripts, run directly against a real Redis: a due
 * entry is claimed by one process only (a second claim finds it leased), an
 * entry that no longer matches its incident is repaired, and a reminder is
 * recorded and counted once.
 */
import { describe, expect, it } from 'vitest';
import { scriptHarness } from './scripts.js';

const h = scriptHarness('schedule-scripts');
const NOW = 1_700_000_000_000;
const LEASE_END = NOW + 5_000;

let seq = 0;
async function incident(fields: Record<string, string | number>): Promise<string> {
  const id = `inc_${++seq}_${Math.random().toString(36).slice(2)}`;
  await h.redis.hset(h.keys.incident(id), { id, status: 'investigating', cadenceSeconds: 600, ...fields });
  return id;
}

describe('claim-holding-statement', () => {
  const keysOf = (id: string) => [h.keys.shards[0]!.holdingSchedule, h.keys.incident(id)];
  const score = (id: string) => h.redis.zscore(h.keys.shards[0]!.holdingSchedule, id);

  it('claims an incident whose statement is due, leasing its entry: a second claim (another process) gets nothing', async () => {
    const id = await incident({ nextUpdateDueAt: NOW - 10 });
    await h.redis.zadd(h.keys.shards[0]!.holdingSchedule, NOW - 10, id);
    expect(await h.run('claim-holding-statement', keysOf(id), [id, NOW, LEASE_END])).toBe(String(NOW - 10));
    expect(await score(id)).toBe(String(LEASE_END));
    expect(await h.run('claim-holding-statement', keysOf(id), [id, NOW + 1, NOW + 1 + 5_000])).toBeNull();
    expect(await score(id)).toBe(String(LEASE_END));
  });

  it('once the lease runs out (the claimer died), the next look claims it again', async () => {
    const id = await incident({ nextUpdateDueAt: NOW - 10 });
    await h.redis.zadd(h.keys.shards[0]!.holdingSchedule, NOW - 10, id);
    await h.run('claim-holding-statement', keysOf(id), [id, NOW, LEASE_END]);
    expect(await h.run('claim-holding-statement', keysOf(id), [id, LEASE_END, LEASE_END + 5_000])).toBe(String(NOW - 10));
  });

  it('leaves an entry not yet due, and claims nothing for an id off the schedule', async () => {
    const id = await incident({ nextUpdateDueAt: NOW + 1_000 });
    await h.redis.zadd(h.keys.shards[0]!.holdingSchedule, NOW + 1_000, id);
    expect(await h.run('claim-holding-statement', keysOf(id), [id, NOW, LEASE_END])).toBeNull();
    expect(await score(id)).toBe(String(NOW + 1_000));
    const off = await incident({ nextUpdateDueAt: NOW - 10 });
    expect(await h.run('claim-holding-statement', keysOf(off), [off, NOW, LEASE_END])).toBeNull();
    expect(await score(off)).toBeNull();
  });

  it('repairs an entry that no longer matches its incident: resolved or gone → removed, rescheduled → moved to its due time', async () => {
    const resolved = await incident({ status: 'resolved', nextUpdateDueAt: '' });
    const gone = 'inc_gone';
    const moved = await incident({ nextUpdateDueAt: NOW + 60_000 });
    for (const id of [resolved, gone, moved]) await h.redis.zadd(h.keys.shards[0]!.holdingSchedule, NOW - 10, id);
    for (const id of [resolved, gone, moved]) expect(await h.run('claim-holding-statement', keysOf(id), [id, NOW, LEASE_END])).toBeNull();
    expect(await score(resolved)).toBeNull();
    expect(await score(gone)).toBeNull();
    expect(await score(moved)).toBe(String(NOW + 60_000));
  });
});

describe('claim-reminder', () => {
  const keysOf = (id: string) => [h.keys.shards[0]!.reminderSchedule, h.keys.incident(id)];
  const score = (id: string) => h.redis.zscore(h.keys.shards[0]!.reminderSchedule, id);
  const DUE = NOW + 300_000;
  /** ARGV for a claim at NOW that computed the reminder time `remindAt` for the incident's clock (DUE, 600 s). */
  const args = (id: string, remindAt: number | '' = NOW - 10, due: number | '' = DUE, cadence = '600') => [id, NOW, LEASE_END, due, cadence, remindAt];

  it('claims a reminder that is due and owed, leasing it: a second claim gets nothing', async () => {
    const id = await incident({ nextUpdateDueAt: DUE });
    await h.redis.zadd(h.keys.shards[0]!.reminderSchedule, NOW - 10, id);
    expect(await h.run('claim-reminder', keysOf(id), args(id))).toBe(String(DUE));
    expect(await score(id)).toBe(String(LEASE_END));
    expect(await h.run('claim-reminder', keysOf(id), args(id))).toBeNull();
    expect(await score(id)).toBe(String(LEASE_END));
  });

  it('drops a reminder already sent for this due time, one whose update is already due, and one of a resolved incident', async () => {
    const sent = await incident({ nextUpdateDueAt: DUE, remindedFor: DUE });
    const late = await incident({ nextUpdateDueAt: NOW });
    const resolved = await incident({ status: 'resolved', nextUpdateDueAt: '' });
    for (const id of [sent, late, resolved]) await h.redis.zadd(h.keys.shards[0]!.reminderSchedule, NOW - 10, id);
    expect(await h.run('claim-reminder', keysOf(sent), args(sent))).toBeNull();
    expect(await h.run('claim-reminder', keysOf(late), args(late, NOW - 10, NOW))).toBeNull();
    expect(await h.run('claim-reminder', keysOf(resolved), args(resolved, '', '', ''))).toBeNull();
    for (const id of [sent, late, resolved]) expect(await score(id)).toBeNull();
  });

  it('puts a reminder whose time is still ahead back at that time, and drops one that is never to be sent', async () => {
    const ahead = await incident({ nextUpdateDueAt: DUE });
    const never = await incident({ nextUpdateDueAt: DUE });
    for (const id of [ahead, never]) await h.redis.zadd(h.keys.shards[0]!.reminderSchedule, NOW - 10, id);
    expect(await h.run('claim-reminder', keysOf(ahead), args(ahead, NOW + 1_000))).toBeNull();
    expect(await score(ahead)).toBe(String(NOW + 1_000));
    expect(await h.run('claim-reminder', keysOf(never), args(never, ''))).toBeNull();
    expect(await score(never)).toBeNull();
  });

  it('leaves the entry as it is when the incident\'s clock moved since the reminder time was computed', async () => {
    const id = await incident({ nextUpdateDueAt: DUE });
    await h.redis.zadd(h.keys.shards[0]!.reminderSchedule, NOW - 10, id);
    expect(await h.run('claim-reminder', keysOf(id), args(id, NOW - 10, DUE - 1))).toBeNull();
    expect(await h.run('claim-reminder', keysOf(id), args(id, NOW - 10, DUE, '60'))).toBeNull();
    expect(await score(id)).toBe(String(NOW - 10));
  });
});

describe('mark-reminded', () => {
  const keysOf = (id: string) => [h.keys.shards[0]!.reminderSchedule, h.keys.incident(id), h.keys.shards[0]!.cadenceCounts];
  const reminders = async () => Number((await h.redis.hget(h.keys.shards[0]!.cadenceCounts, 'reminder')) ?? 0);

  it('records and counts the reminder once, however often it is marked, and takes it off the schedule', async () => {
    const id = await incident({ nextUpdateDueAt: NOW });
    await h.redis.zadd(h.keys.shards[0]!.reminderSchedule, LEASE_END, id);
    const before = await reminders();
    expect(await h.run('mark-reminded', keysOf(id), [id, NOW])).toBe(1);
    expect(await h.run('mark-reminded', keysOf(id), [id, NOW])).toBe(1);
    expect(await reminders()).toBe(before + 1);
    expect(await h.redis.hget(h.keys.incident(id), 'remindedFor')).toBe(String(NOW));
    expect(await h.redis.zscore(h.keys.shards[0]!.reminderSchedule, id)).toBeNull();
  });

  it('leaves the entry a newer update scheduled', async () => {
    const id = await incident({ nextUpdateDueAt: NOW + 600_000 });
    await h.redis.zadd(h.keys.shards[0]!.reminderSchedule, NOW + 300_000, id);
    await h.run('mark-reminded', keysOf(id), [id, NOW]);
    expect(await h.redis.zscore(h.keys.shards[0]!.reminderSchedule, id)).toBe(String(NOW + 300_000));
  });
});

describe('claim-maintenance-announcements', () => {
  it('claims what is due, in the order due, at most the limit, each leased: a second look finds none of them', async () => {
    const schedule = [h.keys.shards[0]!.maintenanceSchedule];
    await h.redis.zadd(h.keys.shards[0]!.maintenanceSchedule, NOW - 30, 'mnt_1|1|maintenance-started|1', NOW - 20, 'mnt_1|1|maintenance-completed|2', NOW - 10, 'mnt_2|1|maintenance-started|3', NOW + 10, 'mnt_3|1|maintenance-started|4');
    expect(await h.run('claim-maintenance-announcements', schedule, [NOW, LEASE_END, 2])).toEqual(['mnt_1|1|maintenance-started|1', 'mnt_1|1|maintenance-completed|2']);
    expect(await h.run('claim-maintenance-announcements', schedule, [NOW, LEASE_END, 10])).toEqual(['mnt_2|1|maintenance-started|3']);
    expect(await h.run('claim-maintenance-announcements', schedule, [NOW, LEASE_END, 10])).toEqual([]);
    expect(await h.redis.zscore(h.keys.shards[0]!.maintenanceSchedule, 'mnt_1|1|maintenance-started|1')).toBe(String(LEASE_END));
    expect(await h.redis.zscore(h.keys.shards[0]!.maintenanceSchedule, 'mnt_3|1|maintenance-started|4')).toBe(String(NOW + 10));
    // When the leases run out (their claimers died), they come due again, with the one that came due meanwhile.
    expect(await h.run('claim-maintenance-announcements', schedule, [LEASE_END, LEASE_END + 5_000, 10])).toHaveLength(4);
  });
});
