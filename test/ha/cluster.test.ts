/**
 * Herald on a Redis Cluster (REDIS_CLUSTER_NODES: 3 masters, 3 replicas) as
 * two processes — one serving the API and working, one only working —
 * while incidents are updated steadily and the cluster changes under them:
 * a replica promoted by hand (CLUSTER FAILOVER), a slot holding a shard
 * moved live to another master, a master crashed. What must hold: Herald's
 * keys and queues are on every master; it carries on by itself, with no
 * restart; a write answers 503 (never 500) while its slot has no master;
 * every update acknowledged with 201 is stored and reaches every target, in
 * order, a re-send only under its first id; /readyz says 200 again after.
 *
 * The cluster is this test's own; the run's shared Redis is not touched.
 */
import slotOf from 'cluster-key-slot';
import { afterAll, beforeAll, describe, expect, it, onTestFailed } from 'vitest';
import { keysFor } from '../../src/store/keys.js';
import { freePort } from '../support/global-redis.js';
import { killAllChildren, type HeraldProcess } from '../support/process.js';
import { startRedisCluster, type RedisClusterHandle } from '../support/redis-cluster.js';
import { testEnv } from '../support/stack.js';
import { killOwnChildren, startFakes, webhookTargets, type Fakes, type HttpApi } from '../faults/support.js';
import { expectCarriedOn, expectEveryUpdateEverywhere, expectNoErrorLogged, printWarnings, startHeraldPair, UpdateWriter, watchReadiness } from './support.js';

const TARGETS = 4;
const INCIDENTS = 6;
const SHARDS = 12;

let cluster: RedisClusterHandle | undefined;
let fakes: Fakes | undefined;
let herald: HeraldProcess | undefined;
let workers: HeraldProcess | undefined;
let api: HttpApi;
let prefix: string;

beforeAll(async () => {
  [cluster, fakes] = await Promise.all([startRedisCluster({ masters: 3, replicasPerMaster: 1 }), startFakes()]);
  const env = testEnv(fakes, {
    REDIS_CLUSTER_NODES: cluster.nodesEnv,
    HERALD_CLUSTER_SHARDS: String(SHARDS),
    PORT: String(await freePort()),
    HERALD_RETRY_BASE_DELAY_MS: '500',
    // A job that found no master for its slot is tried again soon.
    HERALD_JOB_BASE_DELAY_MS: '200',
    LOG_LEVEL: 'info',
  });
  prefix = env.HERALD_PREFIX!;
  ({ herald, workers, api } = await startHeraldPair(env));
}, 120_000);

afterAll(async () => {
  await killAllChildren();
  await killOwnChildren();
  await fakes?.close();
  await cluster?.stop();
});

/** The master owning `slot` now. */
async function masterOf(slot: number): Promise<number> {
  const masters = await cluster!.masters();
  return masters.find((m) => m.slots.some(([from, to]) => slot >= from && slot <= to))!.port;
}

describe('Herald on a Redis Cluster', () => {
  it('spreads over every master and carries on through a failover, a slot move and a crash, losing nothing it acknowledged', async () => {
    onTestFailed(() => printWarnings(herald, workers));
    const { hooks } = fakes!;
    const targets = webhookTargets(hooks, 'cluster', TARGETS);
    const audience = await api.call('PUT', '/v1/audiences/partners', { webhooks: targets.map(({ url, secret }) => ({ url, secret })) });
    expect(audience.status, audience.text).toBe(200);

    const incidents: Array<{ id: string; first: string; writer: UpdateWriter }> = [];
    for (let i = 0; i < INCIDENTS; i++) {
      const opened = await api.call('POST', '/v1/incidents', {
        title: `Region ${i} degraded`,
        severity: 'major',
        message: `Requests in region ${i} fail.`,
        audiences: ['partners'],
      });
      expect(opened.status, opened.text).toBe(201);
      const { incident, update } = opened.json<{ incident: { id: string }; update: { id: string } }>();
      incidents.push({ id: incident.id, first: update.id, writer: new UpdateWriter(api, incident.id, `cluster-${i}`) });
    }
    for (const { writer } of incidents) await writer.post();

    // Herald's keys (incidents, queues) are on every master, not in one slot.
    const keys = keysFor(prefix, SHARDS);
    const counts = await cluster!.keyCountsPerMaster(`${prefix}:*`);
    expect([...counts.values()].filter((n) => n > 0), JSON.stringify([...counts])).toHaveLength(3);
    const shardMasters = new Set(await Promise.all(incidents.map(({ id }) => masterOf(slotOf(keys.incident(id))))));
    expect(shardMasters.size, 'the incidents live on more than one master').toBeGreaterThan(1);

    const readiness = watchReadiness(api);
    const everyoneWrites = (event: Promise<unknown>) => Promise.all(incidents.map(({ writer }) => writer.throughout(event)));

    // A replica promoted by hand, under the first incident's shard.
    const firstSlot = slotOf(keys.incident(incidents[0]!.id));
    await everyoneWrites(masterOf(firstSlot).then((port) => cluster!.failover(port)));
    // The second incident's shard moved, keys and queue, to another master.
    const secondSlot = slotOf(keys.incident(incidents[1]!.id));
    const from = await masterOf(secondSlot);
    const to = (await cluster!.masters()).find((m) => m.port !== from)!.port;
    await everyoneWrites(cluster!.moveSlot(secondSlot, to));
    expect(await masterOf(secondSlot)).toBe(to);
    // A master crashed: its replica takes over.
    const thirdSlot = slotOf(keys.incident(incidents[2]!.id));
    await everyoneWrites(masterOf(thirdSlot).then((port) => cluster!.crashMaster(port)));
    await readiness.stop();

    const statuses = new Map<number | 'error', number>();
    for (const { writer } of incidents) for (const [s, n] of writer.statuses) statuses.set(s, (statuses.get(s) ?? 0) + n);
    await expectCarriedOn(statuses, readiness.statuses, api, [herald!, workers!]);

    for (const { id, first, writer } of incidents) {
      const paths = targets.map((t) => t.path);
      // Each target's requests of this incident only.
      await expectEveryUpdateEverywhere(api, hooks, id, paths, [first, ...writer.acknowledged], writer.unacknowledgedTries, id);
    }
    expectNoErrorLogged([herald!, workers!]);
  }, 300_000);

  it('keeps the cadence and counts open incidents in every shard', async () => {
    onTestFailed(() => printWarnings(herald, workers));
    const { hooks } = fakes!;
    const keys = keysFor(prefix, SHARDS);
    // Incidents with a 2 s cadence until three shards have one: each must get its holding statement.
    const quiet = new Map<number, string>();
    for (let i = 0; quiet.size < 3 && i < 60; i++) {
      const opened = await api.call('POST', '/v1/incidents', {
        title: `Quiet incident ${i}`,
        severity: 'minor',
        message: 'Investigating.',
        audiences: ['partners'],
        cadenceSeconds: 2,
      });
      expect(opened.status, opened.text).toBe(201);
      const { id } = opened.json<{ incident: { id: string } }>().incident;
      const shard = keys.shardOf(id).index;
      if (!quiet.has(shard)) quiet.set(shard, id);
    }
    expect(quiet.size).toBe(3);
    for (const id of quiet.values()) {
      await hooks.waitFor(
        (r) => (r.body as { incident?: { id?: string }; update?: { kind?: string } }).incident?.id === id && (r.body as { update?: { kind?: string } }).update?.kind === 'holding',
        30_000,
      );
    }
    const metrics = await api.call('GET', '/metrics');
    const open = Number(/^herald_open_incidents (\d+)$/m.exec(metrics.text)?.[1]);
    // The six of the first test, and every quiet one opened here.
    expect(open).toBeGreaterThanOrEqual(INCIDENTS + quiet.size);
  }, 120_000);
});
