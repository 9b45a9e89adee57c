/**
 * The incident and schedule stores against a real Redis, where their scripts
 * meet a race: an update's clock is computed from the cadence as read (or as
 * this process last knew it), and a cadence changed since is picked up (the
 * update is not lost, nor scheduled on the old cadence); two processes
 * claiming the same due incidents at once never both get one.
 */
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it, inject } from 'vitest';
import { IncidentStore } from '../../src/store/incident-store.js';
import { keysFor, type Keys } from '../../src/store/keys.js';
import { ScheduleStore } from '../../src/store/schedule-store.js';

let redis: Redis;
let keys: Keys;
let incidents: IncidentStore;

beforeAll(() => {
  redis = new Redis(inject('redisUrl'));
  keys = keysFor(`test-incident-store-${randomUUID()}`);
  incidents = new IncidentStore(redis, keys, { reminderLeadSeconds: 300 });
});

afterAll(async () => {
  await redis?.quit();
});

async function open(cadenceSeconds: number, now: Date) {
  const { incident } = await incidents.create(
    {
      title: 'Payments failing',
      severity: 'critical',
      status: 'investigating',
      message: 'Card payments fail.',
      components: [],
      audiences: [],
      cadenceSeconds,
      commander: { name: 'Dana', email: 'dana@corp.example' },
      author: 'dana-token',
    },
    now,
  );
  return incident;
}

/** A store whose first read of an incident's cadence is followed, before it goes on, by a PATCH to `cadenceSeconds`. */
function racedByPatch(cadenceSeconds: number, at: Date): IncidentStore {
  let armed = true;
  const racing = new Proxy(redis, {
    get(target, property) {
      if (property === 'hget') {
        return async (key: string, field: string) => {
          const value = await target.hget(key, field);
          if (armed && field === 'cadenceSeconds') {
            armed = false;
            await incidents.patch(key.split(':').at(-1)!, { cadenceSeconds }, at);
          }
          return value;
        };
      }
      const value: unknown = Reflect.get(target, property, target);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
  return new IncidentStore(racing, keys, { reminderLeadSeconds: 300 });
}

describe('given an incident whose cadence is changed while an update is being posted', () => {
  it('the update is posted once, on the new cadence: due a new cadence after it, reminded half of it before', async () => {
    const opened = new Date();
    const incident = await open(1800, opened);
    const posted = new Date(opened.getTime() + 1000);
    const { update } = await racedByPatch(60, posted).postUpdate(incident.id, { message: 'Found it.', kind: 'update', author: 'dana-token' }, posted);
    expect(update.seq).toBe(2);
    const after = (await incidents.getWithUpdates(incident.id))!;
    expect(after.updates.map((u) => u.seq)).toEqual([1, 2]);
    expect(after.cadenceSeconds).toBe(60);
    expect(Date.parse(after.nextUpdateDueAt!)).toBe(posted.getTime() + 60_000);
    expect(await redis.zscore(keys.shards[0]!.holdingSchedule, incident.id)).toBe(String(posted.getTime() + 60_000));
    expect(await redis.zscore(keys.shards[0]!.reminderSchedule, incident.id)).toBe(String(posted.getTime() + 30_000));
  });
});

describe('given a process that knows an incident\'s cadence, and another process that changes it', () => {
  it('the first process\'s next update is due on the new cadence', async () => {
    const opened = new Date();
    const incident = await open(1800, opened);
    await new IncidentStore(redis, keys, { reminderLeadSeconds: 300 }).patch(incident.id, { cadenceSeconds: 120 }, opened);
    const posted = new Date(opened.getTime() + 1000);
    await incidents.postUpdate(incident.id, { message: 'Found it.', kind: 'update', author: 'dana-token' }, posted);
    expect(await redis.hget(keys.incident(incident.id), 'nextUpdateDueAt')).toBe(String(posted.getTime() + 120_000));
    expect(await redis.zscore(keys.shards[0]!.reminderSchedule, incident.id)).toBe(String(posted.getTime() + 60_000));
  });
});

describe('given incidents whose holding statements are due, and two processes looking at once', () => {
  it('each is claimed by exactly one of them', async () => {
    const opened = new Date(Date.now() - 120_000);
    const ids = await Promise.all(Array.from({ length: 40 }, () => open(60, opened).then((i) => i.id)));
    const now = new Date();
    const other = new Redis(inject('redisUrl'));
    const [a, b] = [new ScheduleStore(redis, keys, 300_000), new ScheduleStore(other, keys, 300_000)];
    try {
      const [claimedByA, claimedByB] = await Promise.all([a.claimHolding(now, 100), b.claimHolding(now, 100)]);
      const claimed = [...claimedByA, ...claimedByB].map((e) => e.incidentId).sort();
      expect(claimed).toEqual([...ids].sort());
      for (const entry of [...claimedByA, ...claimedByB]) expect(entry.dueAt.getTime()).toBe(opened.getTime() + 60_000);
      expect(await a.claimHolding(now, 100)).toEqual([]);
    } finally {
      await other.quit();
    }
  });
});

describe('given an incident with an opening and a second update, when the opening has been fanned out', () => {
  it('the moment of the second update says how far the fan-out got, read in the same step as the update', async () => {
    const incident = await open(1800, new Date('2026-12-02T10:00:00Z'));
    const { update } = await incidents.postUpdate(incident.id, { message: 'Card payments fail in Europe only.', kind: 'update', author: 'dana-token' }, new Date('2026-12-02T10:05:00Z'));
    expect((await incidents.getMoment(incident.id, update.id))?.fannedOutSeq).toBe(0);

    await incidents.markFannedOut(incident.id, 1);

    const moment = await incidents.getMoment(incident.id, update.id);
    expect(moment?.fannedOutSeq).toBe(1);
    expect(moment?.fannedOutSeq).toBe(await incidents.fannedOutThrough(incident.id));
  });
});
