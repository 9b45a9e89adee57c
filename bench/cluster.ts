/**
 * Cluster benchmark: the same webhook fan-out on a Redis Cluster of 1 master
 * and of 3 masters (no replicas: what is measured is how the work splits),
 * with one Herald (API and workers as two processes) on each.
 *
 *   npm run -s build && node --import tsx bench/cluster.ts
 *
 * Each run opens one incident in every one of Herald's 12 shards, each with
 * an audience of its own webhooks, then posts an update to all of them at
 * once, ROUNDS times (after one unmeasured round): deliveries per second to
 * the last arrival, and each master's Redis CPU (INFO cpu, user + system)
 * per delivery and as a share of the whole. Ideal: on 3 masters each has a
 * third. On this two-core machine the masters, Herald and the sink share the
 * cores, so more masters cannot add throughput here; what the rows show is
 * whether the load splits.
 *
 * Environment: BENCH_CLUSTER_TARGETS (webhooks per incident, 250),
 * BENCH_CLUSTER_ROUNDS (3).
 */
import { Redis } from 'ioredis';
import { keysFor } from '../src/store/keys.js';
import { startRedisCluster, type RedisClusterHandle } from '../test/support/redis-cluster.js';
import { runAsScript } from './report.js';
import { median, openIncident, perSecond, progress, putWebhookAudiences, startHerald, startSinks, type Row, type Sinks } from './support.js';

const SECTION = 'Cluster';
const SHARDS = 12;
const TARGETS_PER_INCIDENT = Number(process.env.BENCH_CLUSTER_TARGETS ?? 250);
const ROUNDS = Number(process.env.BENCH_CLUSTER_ROUNDS ?? 3);
const PREFIX = 'bench';
/** Openings tried to find an incident in each shard (ids are random; 12 shards fill in about 40). */
const MAX_OPENINGS = 400;

/** Redis CPU (user + system, µs) of each master, by port. */
async function cpuOf(ports: readonly number[]): Promise<Map<number, number>> {
  const cpu = new Map<number, number>();
  for (const port of ports) {
    const redis = new Redis({ host: '127.0.0.1', port, lazyConnect: true });
    try {
      await redis.connect();
      const info = await redis.info('cpu');
      const field = (name: string): number => Number(new RegExp(`^${name}:([\\d.]+)`, 'm').exec(info)?.[1] ?? 0);
      cpu.set(port, (field('used_cpu_sys') + field('used_cpu_user')) * 1e6);
    } finally {
      redis.disconnect();
    }
  }
  return cpu;
}

interface Measured {
  masters: number;
  perSecond: number[];
  /** µs of Redis CPU per delivery, per master, over the measured rounds. */
  cpuPerDelivery: Map<number, number>;
}

async function measure(masterCount: number, sinks: Sinks): Promise<Measured> {
  progress(`cluster of ${masterCount} master(s): starting`);
  const cluster: RedisClusterHandle = await startRedisCluster({ masters: masterCount, replicasPerMaster: 0 });
  const herald = await startHerald({
    redisUrl: 'redis://127.0.0.1:6379',
    sinks,
    roles: ['api', 'workers'],
    env: { REDIS_CLUSTER_NODES: cluster.nodesEnv, HERALD_CLUSTER_SHARDS: String(SHARDS), HERALD_PREFIX: PREFIX, HERALD_WEBHOOK_CONNECTIONS_PER_ORIGIN: '64' },
  });
  try {
    // One incident in every shard, each with webhooks of its own: an audience
    // is stored, then incidents are opened with it until one lands in a shard
    // that has none yet (ids are random); the others are left alone.
    const keys = keysFor(PREFIX, SHARDS);
    const arrivedBefore = sinks.webhooks.count;
    const incidents = new Map<number, string>();
    let opened = 0;
    let audience = '';
    for (let openings = 0; openings < MAX_OPENINGS && incidents.size < SHARDS; openings++) {
      if (audience === '') audience = (await putWebhookAudiences(herald, sinks, `incident-${incidents.size}`, TARGETS_PER_INCIDENT, incidents.size * TARGETS_PER_INCIDENT))[0]!;
      const id = await openIncident(herald, [audience], `Region ${openings} degraded`);
      opened++;
      const shard = keys.shardOf(id).index;
      if (incidents.has(shard)) continue;
      incidents.set(shard, id);
      audience = '';
    }
    if (incidents.size < SHARDS) throw new Error(`found incidents in only ${incidents.size} of ${SHARDS} shards`);
    const ids = [...incidents.values()];
    // The openings' own broadcasts arrive before anything is measured.
    await sinks.webhooks.waitFor(arrivedBefore + opened * TARGETS_PER_INCIDENT, 120_000);
    const deliveries = ids.length * TARGETS_PER_INCIDENT;
    const masters = (await cluster.masters()).map((m) => m.port);
    const rates: number[] = [];
    const cpu = new Map<number, number>(masters.map((p) => [p, 0]));
    for (let round = 0; round <= ROUNDS; round++) {
      const before = await cpuOf(masters);
      const arrived = sinks.webhooks.count;
      const started = performance.now();
      await Promise.all(ids.map((id) => herald.call('POST', `/v1/incidents/${id}/updates`, { message: `Round ${round}: still degraded.` })));
      await sinks.webhooks.waitFor(arrived + deliveries, 120_000);
      const ms = performance.now() - started;
      const after = await cpuOf(masters);
      if (round === 0) continue;
      rates.push(perSecond(deliveries, ms));
      for (const port of masters) cpu.set(port, cpu.get(port)! + (after.get(port)! - before.get(port)!));
      progress(`cluster of ${masterCount}: round ${round}/${ROUNDS}, ${perSecond(deliveries, ms)}/s`);
    }
    const measured = deliveries * ROUNDS;
    return { masters: masterCount, perSecond: rates, cpuPerDelivery: new Map([...cpu].map(([port, us]) => [port, us / measured])) };
  } finally {
    await herald.stop();
    await cluster.stop();
  }
}

export async function runCluster(): Promise<Row[]> {
  const sinks = await startSinks();
  try {
    const rows: Row[] = [];
    for (const masters of [1, 3]) {
      const m = await measure(masters, sinks);
      const total = [...m.cpuPerDelivery.values()].reduce((a, b) => a + b, 0);
      rows.push({
        section: SECTION,
        measure: `webhook fan-out, ${m.masters} master${m.masters === 1 ? '' : 's'} (${SHARDS} incidents × ${TARGETS_PER_INCIDENT} webhooks)`,
        value: median(m.perSecond),
        unit: '/s',
        note: `median of ${ROUNDS} rounds: ${m.perSecond.join(', ')}`,
      });
      rows.push({
        section: SECTION,
        measure: `Redis CPU per delivery, ${m.masters} master${m.masters === 1 ? '' : 's'}, all together`,
        value: Math.round(total * 10) / 10,
        unit: 'µs',
      });
      if (m.masters > 1) {
        const shares = [...m.cpuPerDelivery].map(([port, us]) => `${port}: ${us.toFixed(1)} µs (${Math.round((us / total) * 100)}%)`);
        const spread = Math.max(...m.cpuPerDelivery.values()) / Math.min(...m.cpuPerDelivery.values());
        rows.push({
          section: SECTION,
          measure: `Redis CPU split over ${m.masters} masters: busiest / least busy`,
          value: Math.round(spread * 100) / 100,
          unit: '×',
          target: '≤ 1.5× (ideal: even, 1.0×)',
          met: spread <= 1.5,
          note: shares.join('; '),
        });
      }
    }
    return rows;
  } finally {
    await sinks.close();
  }
}

runAsScript(import.meta.url, runCluster);
