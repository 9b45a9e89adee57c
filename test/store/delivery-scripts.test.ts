/**
 * The delivery scripts (src/store/lua/deliveries-*.lua) run directly against
 * a real Redis: what they write, what they answer, and that each is safe to
 * run twice. The keys are read back raw, so a change of layout shows here.
 */
import { randomUUID } from 'node:crypto';
import slotOf from 'cluster-key-slot';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, beforeEach, describe, expect, inject, it } from 'vitest';
import { keysFor, type Keys } from '../../src/store/keys.js';
import { RedisScript } from '../../src/store/redis-script.js';

const ENQUEUE = new RedisScript('deliveries-enqueue');
const CLAIM = new RedisScript('deliveries-claim');
const RECORD = new RedisScript('deliveries-record');
const RELEASE = new RedisScript('deliveries-release');
const ADD_TO_COMMANDER_THREAD = new RedisScript('threads-add-commander-message');

const INCIDENT = 'inc_1';
const A = 'https://a.example/hook';
const B = 'https://b.example/hook';

describe('delivery scripts', () => {
  let redis: Redis;
  let keys: Keys;

  beforeAll(() => {
    redis = new Redis(inject('redisUrl'));
  });
  afterAll(async () => {
    await redis?.quit();
  });
  beforeEach(() => {
    keys = keysFor(`test-dlv-${randomUUID()}`);
  });

  const deliveries = (updateId: string) => keys.deliveries(INCIDENT, updateId, 'webhook');
  const lanes = () => keys.lanes(INCIDENT, 'webhook');
  const totals = (updateId: string) => keys.totals(INCIDENT, updateId);

  const enqueue = (updateId: string, targets: string[]) =>
    ENQUEUE.run(
      redis,
      [deliveries(updateId), lanes(), totals(updateId)],
      [updateId, 'webhook', ...targets.flatMap((t, i) => [t, `q||{"i":${i}}`])],
    ) as Promise<string[]>;
  const claim = (updateId: string, owner: string, targets: string[], leaseMs = 60_000) =>
    CLAIM.run(redis, [deliveries(updateId), lanes()], [updateId, owner, leaseMs, ...targets]) as Promise<Array<number | string>>;
  const record = (updateId: string, owner: string, saved: Array<[string, string]>, threads: Array<[string, string]> = []) =>
    RECORD.run(
      redis,
      [keys.threads(INCIDENT), deliveries(updateId), totals(updateId), lanes()],
      [updateId, owner, 'webhook', threads.length, ...threads.flat(), ...saved.flat()],
    ) as Promise<string[]>;

  describe('deliveries-enqueue', () => {
    it('records each delivery, starts a lane per new target and counts them queued', async () => {
      expect(await enqueue('upd_1', [A, B])).toEqual([A, B]);
      expect(await redis.hgetall(deliveries('upd_1'))).toEqual({ [A]: 'q||{"i":0}', [B]: 'q||{"i":1}' });
      expect(await redis.hgetall(lanes())).toEqual({ [A]: 'upd_1', [B]: 'upd_1' });
      expect(await redis.hgetall(totals('upd_1'))).toEqual({ 'webhook:queued': '2' });
    });

    it("queues a later update behind the target's earlier one, and reports it not ready", async () => {
      await enqueue('upd_1', [A]);
      expect(await enqueue('upd_2', [A, B])).toEqual([B]);
      expect(await redis.hget(lanes(), A)).toBe('upd_1 upd_2');
    });

    it('run again, changes nothing and reports the same ready deliveries', async () => {
      await enqueue('upd_1', [A]);
      await enqueue('upd_2', [A, B]);
      expect(await enqueue('upd_2', [A, B])).toEqual([B]);
      expect(await redis.hget(lanes(), A)).toBe('upd_1 upd_2');
      expect(await redis.hgetall(totals('upd_2'))).toEqual({ 'webhook:queued': '2' });
    });
  });

  describe('deliveries-claim', () => {
    it('leases the head of each lane to its owner and tells the waiting ones apart', async () => {
      await enqueue('upd_1', [A]);
      await enqueue('upd_2', [A, B]);
      expect(await claim('upd_2', 'job-1', [A, B, 'https://nobody.example/'])).toEqual([2, 'q||{"i":0}', 3, 'q||{"i":1}', 0, '']);
      expect(await redis.hget(lanes(), B)).toMatch(/^upd_2\|job-1\|\d+$/);
    });

    it('keeps a live lease to its holder, gives it back to the holder again, and takes over an expired one', async () => {
      await enqueue('upd_1', [A]);
      expect((await claim('upd_1', 'job-1', [A]))[0]).toBe(3);
      expect((await claim('upd_1', 'job-2', [A]))[0]).toBe(4);
      expect((await claim('upd_1', 'job-1', [A]))[0]).toBe(3);
      await claim('upd_1', 'job-1', [A], 1);
      await new Promise((resolve) => setTimeout(resolve, 5));
      expect((await claim('upd_1', 'job-2', [A]))[0]).toBe(3);
      expect(await redis.hget(lanes(), A)).toMatch(/^upd_1\|job-2\|/);
    });

    it('reports a record that is not a delivery as unreadable, without failing the rest', async () => {
      await enqueue('upd_1', [A, B]);
      await redis.hset(deliveries('upd_1'), A, '{"garbage');
      expect(await claim('upd_1', 'job-1', [A, B])).toEqual([5, '{"garbage', 3, 'q||{"i":1}']);
    });

    it('pops a final delivery that still heads its lane and names the successor it released', async () => {
      await enqueue('upd_1', [A]);
      await enqueue('upd_2', [A]);
      // Given up while it waited behind nothing: final, and still the head.
      await redis.hset(deliveries('upd_1'), A, 'd||{"i":0,"e":"gave up"}');
      expect(await claim('upd_1', 'job-1', [A])).toEqual([1, 'd|upd_2|{"i":0,"e":"gave up"}']);
      expect(await redis.hget(lanes(), A)).toBe('upd_2');
      // Run again: the same answer, nothing popped twice.
      expect(await claim('upd_1', 'job-1', [A])).toEqual([1, 'd|upd_2|{"i":0,"e":"gave up"}']);
      expect(await redis.hget(lanes(), A)).toBe('upd_2');
    });
  });

  describe('deliveries-record', () => {
    it('writes outcomes and thread state, moves the totals, pops final ones and releases their successors', async () => {
      await enqueue('upd_1', [A, B]);
      await enqueue('upd_2', [A]);
      await claim('upd_1', 'job-1', [A, B]);
      const answer = await record(
        'upd_1',
        'job-1',
        [
          [A, 's||{"i":0,"a":1,"r":"200"}'],
          [B, 'f||{"i":1,"a":1,"e":"503","w":1}'],
        ],
        [['webhook|' + A, '{"last":"x"}']],
      );
      expect(answer).toEqual(['11', A, 'upd_2']);
      expect(await redis.hget(deliveries('upd_1'), A)).toBe('s|upd_2|{"i":0,"a":1,"r":"200"}');
      expect(await redis.hget(lanes(), A)).toBe('upd_2');
      // The failed one keeps its place, its lease given back.
      expect(await redis.hget(lanes(), B)).toBe('upd_1');
      expect(await redis.hgetall(totals('upd_1'))).toEqual({ 'webhook:queued': '0', 'webhook:sent': '1', 'webhook:failed': '1' });
      expect(await redis.hget(keys.threads(INCIDENT), 'webhook|' + A)).toBe('{"last":"x"}');
    });

    it('run again, changes no total and releases the same successor', async () => {
      await enqueue('upd_1', [A]);
      await enqueue('upd_2', [A]);
      await claim('upd_1', 'job-1', [A]);
      await record('upd_1', 'job-1', [[A, 's||{"i":0,"a":1}']]);
      expect(await record('upd_1', 'job-1', [[A, 's||{"i":0,"a":1}']])).toEqual(['0', A, 'upd_2']);
      expect(await redis.hgetall(totals('upd_1'))).toEqual({ 'webhook:queued': '0', 'webhook:sent': '1' });
      expect(await redis.hget(lanes(), A)).toBe('upd_2');
    });

    it("pops the last delivery of a lane and leaves no lane behind", async () => {
      await enqueue('upd_1', [A]);
      await claim('upd_1', 'job-1', [A]);
      expect(await record('upd_1', 'job-1', [[A, 'd||{"i":0}']])).toEqual(['1']);
      expect(await redis.exists(lanes())).toBe(0);
    });

    it('does not write back a record that is no longer there (removed at the end of its retention)', async () => {
      await enqueue('upd_1', [A]);
      await claim('upd_1', 'job-1', [A]);
      await redis.unlink(deliveries('upd_1'), lanes());
      expect(await record('upd_1', 'job-1', [[A, 's||{"i":0,"a":1}']])).toEqual(['0']);
      expect(await redis.exists(deliveries('upd_1'), lanes())).toBe(0);
    });

    it("does not give back a lease another job took since", async () => {
      await enqueue('upd_1', [A]);
      await claim('upd_1', 'job-2', [A]);
      await record('upd_1', 'job-1', [[A, 'f||{"i":0,"a":1}']]);
      expect(await redis.hget(lanes(), A)).toMatch(/^upd_1\|job-2\|/);
    });
  });

  describe('deliveries-release', () => {
    it("gives back only the owner's leases", async () => {
      await enqueue('upd_1', [A, B]);
      await claim('upd_1', 'job-1', [A]);
      await claim('upd_1', 'job-2', [B]);
      expect(await RELEASE.run(redis, [lanes()], ['upd_1', 'job-1', A, B])).toBe(1);
      expect(await redis.hget(lanes(), A)).toBe('upd_1');
      expect(await redis.hget(lanes(), B)).toMatch(/^upd_1\|job-2\|/);
    });
  });

  describe('batches larger than one Redis call takes', () => {
    // The scripts read and write a batch's fields with one HMGET/HSET/HDEL per
    // 1,000 fields; a longer batch must come out the same as a short one.
    const many = Array.from({ length: 5_000 }, (_, i) => `https://hook.example/${i}`);

    it('enqueue, claim, record and release work every target of a 5,000-target batch', async () => {
      await enqueue('upd_1', many.slice(0, 10));
      expect(await enqueue('upd_2', many)).toEqual(many.slice(10));
      expect(await redis.hlen(deliveries('upd_2'))).toBe(5_000);
      const claimed = await claim('upd_2', 'job-1', many);
      expect(claimed.filter((v, i) => i % 2 === 0 && v === 3)).toHaveLength(4_990);
      expect(claimed.filter((v, i) => i % 2 === 0 && v === 2)).toHaveLength(10);
      expect(await RELEASE.run(redis, [lanes()], ['upd_2', 'job-1', ...many])).toBe(4_990);
      await claim('upd_2', 'job-2', many);
      const threads = many.map((t): [string, string] => [`webhook|${t}`, '{}']);
      const [changed] = await record('upd_2', 'job-2', many.slice(10).map((t) => [t, 's||{"i":0}']), threads);
      expect(changed).toBe('1'.repeat(4_990));
      expect(await redis.hlen(keys.threads(INCIDENT))).toBe(5_000);
      expect(await redis.hlen(lanes())).toBe(10);
      expect(await redis.hgetall(totals('upd_2'))).toEqual({ 'webhook:queued': '10', 'webhook:sent': '4990' });
    });
  });

  describe('threads-add-commander-message', () => {
    it('adds each Message-ID once and keeps the first and the most recent', async () => {
      const add = (id: string) => ADD_TO_COMMANDER_THREAD.run(redis, [keys.threads(INCIDENT)], ['commander|c@x', id, 3]);
      expect(await add('<1>')).toBe(1);
      expect(await add('<1>')).toBe(0);
      await add('<2>');
      await add('<3>');
      await add('<4>');
      const state = JSON.parse((await redis.hget(keys.threads(INCIDENT), 'commander|c@x'))!) as { root: string; last: string; references: string[] };
      expect(state).toEqual({ root: '<1>', last: '<4>', references: ['<1>', '<3>', '<4>'] });
    });
  });

  it("keeps each incident's delivery keys in one hash slot of its own", () => {
    const keysOf = (incidentId: string) => [
      keys.deliveries(incidentId, 'upd_1', 'webhook'),
      keys.deliveries(incidentId, 'upd_2', 'email'),
      keys.lanes(incidentId, 'slack'),
      keys.totals(incidentId, 'upd_1'),
      keys.threads(incidentId),
    ];
    for (const incidentId of ['inc_1', 'inc_2']) expect(new Set(keysOf(incidentId).map((key) => slotOf(key))).size).toBe(1);
    // Different incidents spread over the slots (so over a Cluster's masters).
    const slots = new Set(Array.from({ length: 100 }, (_, i) => slotOf(keys.lanes(`inc_${i}`, 'webhook'))));
    expect(slots.size).toBeGreaterThan(90);
  });
});
