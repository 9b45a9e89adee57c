/**
 * The maintenance store against a real Redis: a change is written only to
 * the state it was judged against. When the scheduler starts or completes
 * the maintenance between a change's read and its write, the change is
 * judged again on the new state — a started maintenance keeps its start, a
 * completed one is not cancelled.
 */
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { keysFor, type Keys } from '../../src/store/keys.js';
import { InvalidWindowError, MaintenanceFinishedError, MaintenanceStore, parseMember } from '../../src/store/maintenance-store.js';

const HOUR = 3_600_000;

describe('given a maintenance whose announcement fires between a change\'s read and its write', () => {
  let redis: Redis;
  let keys: Keys;
  let scheduler: MaintenanceStore;

  beforeAll(() => {
    redis = new Redis(inject('redisUrl'));
    keys = keysFor(`test-mnt-${randomUUID()}`);
    scheduler = new MaintenanceStore(redis, keys);
  });

  afterAll(async () => {
    await redis?.quit();
  });

  /**
   * A store whose first read of the maintenance is followed, before the
   * reader goes on, by the scheduler firing `kind`: the race, made certain.
   */
  function racedBy(id: string, kind: string, at: Date): MaintenanceStore {
    let armed = true;
    const racing = new Proxy(redis, {
      get(target, property) {
        if (property === 'hgetall') {
          return async (key: string) => {
            const hash = await target.hgetall(key);
            if (armed) {
              armed = false;
              const members = await target.zrange(keys.shards[0]!.maintenanceSchedule, 0, -1);
              const due = parseMember(members.find((m) => m.startsWith(`${id}|`) && m.includes(`|${kind}|`))!)!;
              expect(await scheduler.fire(due, at)).not.toBeNull();
            }
            return hash;
          };
        }
        const value: unknown = Reflect.get(target, property, target);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
    return new MaintenanceStore(racing, keys);
  }

  async function scheduled(now: Date) {
    const { maintenance } = await scheduler.create(
      {
        title: 'Database upgrade',
        message: 'Writes pause.',
        components: [],
        audiences: [],
        startsAt: new Date(now.getTime() + HOUR),
        endsAt: new Date(now.getTime() + 2 * HOUR),
        remindBeforeSeconds: [],
        author: 'ops',
      },
      now,
    );
    return maintenance;
  }

  it('a move of the start decided before it started is refused once it has started, and the start stays', async () => {
    const now = new Date();
    const maintenance = await scheduled(now);
    const store = racedBy(maintenance.id, 'maintenance-started', new Date(now.getTime() + HOUR));
    const moved = store.change(maintenance.id, { startsAt: new Date(now.getTime() + 3 * HOUR), endsAt: new Date(now.getTime() + 4 * HOUR) }, 'ops', now);
    await expect(moved).rejects.toBeInstanceOf(InvalidWindowError);
    const stored = await scheduler.get(maintenance.id);
    expect(stored).toMatchObject({ status: 'in_progress', startsAt: maintenance.startsAt, endsAt: maintenance.endsAt });
  });

  it('a cancel decided while it was in progress is refused once it has completed, and nothing is announced', async () => {
    const now = new Date();
    const maintenance = await scheduled(now);
    const started = parseMember((await redis.zrange(keys.shards[0]!.maintenanceSchedule, 0, -1)).find((m) => m.startsWith(`${maintenance.id}|`) && m.includes('|maintenance-started|'))!)!;
    await scheduler.fire(started, new Date(now.getTime() + HOUR));
    const store = racedBy(maintenance.id, 'maintenance-completed', new Date(now.getTime() + 2 * HOUR));
    await expect(store.cancel(maintenance.id, 'ops', new Date(now.getTime() + HOUR + 1000))).rejects.toBeInstanceOf(MaintenanceFinishedError);
    const stored = await scheduler.getWithUpdates(maintenance.id);
    expect(stored!.status).toBe('completed');
    expect(stored!.updates.map((u) => u.kind)).toEqual(['maintenance-scheduled', 'maintenance-started', 'maintenance-completed']);
  });
});
