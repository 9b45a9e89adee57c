/**
 * Scale: how the time of a webhook fan-out grows with the audience (1k, 10k
 * and 50k targets; it should be linear), and the peak memory of each Herald
 * process with 100,000 deliveries queued at once (one update to 100k
 * targets, all planned and queued before most are sent).
 *
 *   npm run bench:scale
 *
 * Environment: BENCH_SCALE_SIZES (1000,10000,50000), BENCH_QUEUED (100000).
 */
import { Redis } from 'ioredis';
import { median, now, openIncident, perSecond, progress, putWebhookAudiences, startHerald, startRedis, startSinks, type Row, type RunningHerald, type Sinks } from './support.js';
import { runAsScript } from './report.js';

const SIZES = (process.env.BENCH_SCALE_SIZES ?? '1000,10000,50000').split(',').map(Number);
const QUEUED = Number(process.env.BENCH_QUEUED ?? 100_000);
const WAIT_MS = 300_000;

/** One fan-out to `audiences`; ms from the POST to the last arrival. */
async function fanOut(herald: RunningHerald, sinks: Sinks, audiences: string[], count: number): Promise<number> {
  sinks.webhooks.reset();
  const started = now();
  await openIncident(herald, audiences, `Fan-out to ${count}`);
  await sinks.webhooks.waitFor(count, WAIT_MS);
  return sinks.webhooks.last - started;
}

export async function runScale(): Promise<Row[]> {
  const redis = await startRedis();
  const sinks = await startSinks();
  const herald = await startHerald({
    redisUrl: redis.url,
    sinks,
    roles: ['api', 'workers'],
    // All targets share one origin here; see bench/fanout.ts.
    env: { HERALD_WEBHOOK_CONNECTIONS_PER_ORIGIN: process.env.HERALD_WEBHOOK_CONNECTIONS_PER_ORIGIN ?? '64' },
  });
  try {
    const rows: Row[] = [];
    const groups = new Map<number, string[]>();
    for (const size of [...SIZES, QUEUED]) groups.set(size, await putWebhookAudiences(herald, sinks, `size${size}`, size));

    progress('scale: warm-up');
    await fanOut(herald, sinks, groups.get(SIZES[0]!)!, SIZES[0]!);
    const perThousand: number[] = [];
    for (const size of SIZES) {
      progress(`scale: ${size} webhook targets`);
      // Small audiences are over quickly: the median of three passes is steadier.
      const passes = size <= 10_000 ? 3 : 1;
      const times: number[] = [];
      for (let i = 0; i < passes; i++) times.push(await fanOut(herald, sinks, groups.get(size)!, size));
      const ms = median(times);
      perThousand.push(ms / (size / 1000));
      rows.push({
        section: 'Scale',
        measure: `webhook fan-out to ${size.toLocaleString('en-US')}`,
        value: Math.round(ms),
        unit: 'ms',
        compared: `${(ms / (size / 1000)).toFixed(0)} ms per 1k`,
        note: `${perSecond(size, ms).toLocaleString('en-US')}/s${passes > 1 ? `, median of ${passes}` : ''}`,
      });
    }
    // Linear: the largest audience costs no more per target than the 10k one (+25% for noise).
    const reference = perThousand[SIZES.indexOf(10_000)] ?? perThousand[0]!;
    const largest = perThousand.at(-1)!;
    rows.push({
      section: 'Scale',
      measure: `growth: per-target time at ${SIZES.at(-1)!.toLocaleString('en-US')} vs 10k`,
      value: Math.round((largest / reference) * 100) / 100,
      unit: '×',
      target: 'linear (≤ 1.25×)',
      met: largest / reference <= 1.25,
    });

    progress(`memory: ${QUEUED} deliveries queued at once`);
    const before = herald.processes.map((p) => p.peakRssMb());
    const ms = await fanOut(herald, sinks, groups.get(QUEUED)!, QUEUED);
    const client = new Redis(redis.url);
    const memory = await client.info('memory');
    client.disconnect();
    const redisPeakMb = Math.round(Number(/used_memory_peak:(\d+)/.exec(memory)?.[1] ?? 0) / 2 ** 20);
    herald.processes.forEach((p, i) => {
      const mb = p.peakRssMb();
      rows.push({
        section: 'Memory',
        measure: `peak RSS, Herald ${p.role} process, ${QUEUED.toLocaleString('en-US')} queued`,
        value: mb,
        unit: 'MB',
        target: '≤ 300 MB',
        met: mb !== null && mb <= 300,
        note: `${before[i]} MB before`,
      });
    });
    rows.push({
      section: 'Memory',
      measure: `Redis peak memory, ${QUEUED.toLocaleString('en-US')} queued`,
      value: redisPeakMb,
      unit: 'MB',
      note: `fan-out took ${Math.round(ms)} ms (${perSecond(QUEUED, ms).toLocaleString('en-US')}/s)`,
    });
    return rows;
  } finally {
    await herald.stop();
    await sinks.close();
    redis.stop();
  }
}

runAsScript(import.meta.url, runScale);
