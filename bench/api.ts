/**
 * API benchmark: posting incident updates through Herald's HTTP API.
 *
 *   - fixed rate: POST /v1/incidents/:id/updates at 500 req/s for 20 s
 *     (autocannon), rotating over 20 open incidents whose audience has a real
 *     webhook target, so the workers fan every update out while the API is
 *     measured, as in production: p50/p99 latency, errors, achieved rate;
 *   - saturation: the same route without a rate limit, and in the same run a
 *     baseline — a bare Fastify route doing one Redis write, in a process of
 *     its own (bench/baselines/fastify-redis.ts) — Herald's req/s as a share
 *     of the baseline's.
 *
 *   npm run -s build && node --import tsx bench/api.ts
 *
 * Environment: BENCH_API_RATE (500), BENCH_API_SECONDS (20),
 * BENCH_API_CONNECTIONS (20), BENCH_API_SATURATION_SECONDS (8),
 * BENCH_API_SATURATION_CONNECTIONS (32), BENCH_API_INCIDENTS (20).
 *
 * Latencies are taken from each response as autocannon reports it (ms, µs
 * precision), not from autocannon's histogram: with a rate set, autocannon
 * "corrects" coordinated omission with an expected interval of ceil(1/rate)
 * = 1 ms, which adds a synthetic sample per millisecond of every response and
 * distorts the percentiles; and its histogram keeps whole milliseconds.
 *
 * Note on autocannon's pacing: a rate is enforced per connection per second
 * window — each connection sends its share (rate / connections) back to back
 * as soon as a window opens, then waits for the next one. The load is thus
 * 500 req/s over each second but arrives in bursts of `connections`
 * concurrent requests; the latencies are those of such bursts.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import autocannon from 'autocannon';
import { runAsScript } from './report.js';
import { BENCH_TOKEN, BENCH_WEBHOOK_SECRET, freePort, percentile, portAnswers, ROOT, sleep, startHerald, startRedis, startSinks, type Row, type RunningHerald, type Sinks, type OwnRedis } from './support.js';

const SECTION = 'API';
const RATE = Number(process.env.BENCH_API_RATE ?? 500);
const FIXED_SECONDS = Number(process.env.BENCH_API_SECONDS ?? 20);
const FIXED_CONNECTIONS = Number(process.env.BENCH_API_CONNECTIONS ?? 20);
const SATURATION_SECONDS = Number(process.env.BENCH_API_SATURATION_SECONDS ?? 8);
const SATURATION_CONNECTIONS = Number(process.env.BENCH_API_SATURATION_CONNECTIONS ?? 32);
const INCIDENTS = Number(process.env.BENCH_API_INCIDENTS ?? 20);
const WARMUP_SECONDS = 2;
/** The baseline's run at the fixed rate is context only: shorter, to keep the section near a minute. */
const BASELINE_FIXED_SECONDS = Math.min(FIXED_SECONDS, 10);
const P99_TARGET_MS = 20;
/** How long to wait after the fixed-rate run for its fan-out to arrive. */
const DRAIN_MS = 10_000;
const SHARE_TARGET = 0.5;
const BASELINE_NAME = 'bare Fastify + 1 Redis write';
const STATUSES = ['investigating', 'identified', 'monitoring'] as const;

const began = performance.now();
const progress = (line: string) => process.stderr.write(`… ${((performance.now() - began) / 1000).toFixed(1)} s: ${line}\n`);

/** What one autocannon run measured. */
export interface Load {
  /** Answers of any status. */
  responses: number;
  ok: number;
  /** Non-2xx answers + socket errors (timeouts included). */
  errors: number;
  errorDetail: string;
  seconds: number;
  /** 2xx answers per second over the run. */
  okPerSecond: number;
  p50: number;
  p99: number;
  max: number;
}

interface Target {
  url: string;
  headers: Record<string, string>;
  /** The next request's path and JSON body (called once per request). */
  next(): { path: string; body: string };
}

async function load(target: Target, options: { seconds: number; connections: number; rate?: number }): Promise<Load> {
  const latencies: number[] = [];
  const instance = autocannon({
    url: target.url,
    connections: options.connections,
    duration: options.seconds,
    ...(options.rate !== undefined && { overallRate: options.rate, ignoreCoordinatedOmission: true }),
    timeout: 10,
    requests: [
      {
        method: 'POST',
        headers: target.headers,
        setupRequest: (request) => ({ ...request, ...target.next() }),
      },
    ],
  });
  instance.on('response', (_client, _status, _bytes, ms) => {
    latencies.push(ms);
  });
  const result = await instance;
  latencies.sort((a, b) => a - b);
  const socketErrors = result.errors - result.timeouts;
  const codes = Object.entries(result.statusCodeStats)
    .filter(([code]) => !code.startsWith('2'))
    .map(([code, { count }]) => `${count}× ${code}`);
  const detail = [...codes, ...(socketErrors > 0 ? [`${socketErrors} socket errors`] : []), ...(result.timeouts > 0 ? [`${result.timeouts} timeouts`] : [])];
  const ok = result['2xx'];
  return {
    responses: latencies.length,
    ok,
    errors: result.non2xx + result.errors,
    errorDetail: detail.join(', '),
    seconds: result.duration,
    okPerSecond: ok / result.duration,
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
    max: latencies.at(-1) ?? Number.NaN,
  };
}

function heraldTarget(herald: RunningHerald, incidentIds: readonly string[]): Target {
  let n = 0;
  return {
    url: herald.api,
    headers: { 'content-type': 'application/json', authorization: `Bearer ${BENCH_TOKEN}` },
    next() {
      const i = n++;
      return {
        path: `/v1/incidents/${incidentIds[i % incidentIds.length]!}/updates`,
        body: JSON.stringify({ status: STATUSES[i % STATUSES.length], message: `Bench update #${i}: still looking into elevated error rates on the API.` }),
      };
    },
  };
}

function baselineTarget(url: string): Target {
  let n = 0;
  return {
    url,
    headers: { 'content-type': 'application/json' },
    next() {
      const i = n++;
      return {
        path: '/updates',
        body: JSON.stringify({ status: STATUSES[i % STATUSES.length], message: `Bench update #${i}: still looking into elevated error rates on the API.` }),
      };
    },
  };
}


async function startBaseline(redisUrl: string): Promise<{ url: string; child: ChildProcess; stop(): Promise<void> }> {
  const port = await freePort();
  const child = spawn(process.execPath, ['--import', 'tsx', 'bench/baselines/fastify-redis.ts'], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', REDIS_URL: redisUrl, PORT: String(port) },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const stop = () =>
    new Promise<void>((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) return resolve();
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      child.once('exit', () => {
        clearTimeout(timer);
        resolve();
      });
      child.kill('SIGTERM');
    });
  for (let i = 0; i < 200; i++) {
    if (child.exitCode !== null) throw new Error(`the baseline exited with code ${child.exitCode}`);
    if (await portAnswers(port)) return { url: `http://127.0.0.1:${port}`, child, stop };
    await sleep(50);
  }
  await stop();
  throw new Error('the baseline did not listen within 10 s');
}

const ms = (x: number) => Math.round(x * 10) / 10;
const perSecond = (x: number) => Math.round(x);

async function measureBaseline(redis: OwnRedis): Promise<{ saturation: Load; fixed: Load }> {
  const baseline = await startBaseline(redis.url);
  try {
    const target = baselineTarget(baseline.url);
    progress(`baseline (${BASELINE_NAME}): warm-up ${WARMUP_SECONDS} s`);
    await load(target, { seconds: WARMUP_SECONDS, connections: SATURATION_CONNECTIONS });
    progress(`baseline: saturation ${SATURATION_SECONDS} s × ${SATURATION_CONNECTIONS} connections`);
    const saturation = await load(target, { seconds: SATURATION_SECONDS, connections: SATURATION_CONNECTIONS });
    progress(`baseline: ${RATE} req/s for ${BASELINE_FIXED_SECONDS} s`);
    const fixed = await load(target, { seconds: BASELINE_FIXED_SECONDS, connections: FIXED_CONNECTIONS, rate: RATE });
    return { saturation, fixed };
  } finally {
    await baseline.stop();
  }
}

/** The bench audience (one webhook) and the incidents the updates rotate over; returns their ids. */
async function openIncidents(herald: RunningHerald, sinks: Sinks): Promise<string[]> {
  await herald.call('PUT', '/v1/audiences/bench', { webhooks: [{ url: sinks.webhookUrl(0), secret: BENCH_WEBHOOK_SECRET }] });
  const ids: string[] = [];
  for (let i = 0; i < INCIDENTS; i++) {
    const opened = (await herald.call('POST', '/v1/incidents', {
      title: `Bench incident ${i + 1}`,
      severity: 'minor',
      message: 'We are investigating elevated error rates on the API.',
      audiences: ['bench'],
    })) as { incident: { id: string }; deliveries: { planned: number } };
    if (opened.deliveries.planned !== 1) throw new Error(`an incident plans ${opened.deliveries.planned} deliveries, expected 1 (the bench webhook)`);
    ids.push(opened.incident.id);
  }
  return ids;
}

/**
 * Saturation with the API and the workers as two processes (`--role api`,
 * `--role workers`): what the API layer takes when the fan-out runs beside
 * it rather than in it. Same machine, so they still share its cores.
 */
async function measureSplit(redis: OwnRedis, sinks: Sinks): Promise<Load> {
  const herald = await startHerald({ redisUrl: redis.url, sinks, roles: ['api', 'workers'], env: { HERALD_PREFIX: 'bench-split' } });
  try {
    const target = heraldTarget(herald, await openIncidents(herald, sinks));
    progress(`Herald, API and workers apart: warm-up ${WARMUP_SECONDS} s`);
    await load(target, { seconds: WARMUP_SECONDS, connections: FIXED_CONNECTIONS, rate: RATE });
    progress(`Herald, API and workers apart: saturation ${SATURATION_SECONDS} s × ${SATURATION_CONNECTIONS} connections`);
    return await load(target, { seconds: SATURATION_SECONDS, connections: SATURATION_CONNECTIONS });
  } finally {
    await herald.stop();
  }
}

async function measureHerald(redis: OwnRedis, sinks: Sinks): Promise<{ fixed: Load; saturation: Load; delivered: string }> {
  const herald = await startHerald({ redisUrl: redis.url, sinks });
  try {
    const ids = await openIncidents(herald, sinks);
    const target = heraldTarget(herald, ids);

    // Warm up at the measured rate: unlimited, the warm-up would leave the workers a backlog of fan-out.
    progress(`Herald: warm-up ${WARMUP_SECONDS} s`);
    const warmup = await load(target, { seconds: WARMUP_SECONDS, connections: FIXED_CONNECTIONS, rate: RATE });
    // Let the warm-up's fan-out drain so that the measured run starts from a quiet system.
    await sinks.webhooks.waitFor(INCIDENTS + warmup.ok, 10_000).catch(() => undefined);

    progress(`Herald: ${RATE} req/s for ${FIXED_SECONDS} s × ${FIXED_CONNECTIONS} connections`);
    const fixed = await load(target, { seconds: FIXED_SECONDS, connections: FIXED_CONNECTIONS, rate: RATE });
    // Every accepted update (and each opening) has one webhook delivery: check that the fan-out really
    // happened, and how far behind the API it ran.
    const expected = INCIDENTS + warmup.ok + fixed.ok;
    const runEnded = performance.now();
    const drained = await sinks.webhooks.waitFor(expected, DRAIN_MS).then(
      () => true,
      () => false,
    );
    const delivered = drained
      ? `fan-out: all ${expected} webhooks arrived, the last ${(Math.max(0, sinks.webhooks.last - performance.timeOrigin - runEnded) / 1000).toFixed(1)} s after the run`
      : `fan-out: ${sinks.webhooks.count}/${expected} webhooks arrived ${DRAIN_MS / 1000} s after the run`;

    progress(`Herald: saturation ${SATURATION_SECONDS} s × ${SATURATION_CONNECTIONS} connections`);
    const saturation = await load(target, { seconds: SATURATION_SECONDS, connections: SATURATION_CONNECTIONS });
    return { fixed, saturation, delivered };
  } finally {
    await herald.stop();
  }
}

export async function runApi(): Promise<Row[]> {
  const redis = await startRedis();
  let sinks: Sinks | undefined;
  try {
    sinks = await startSinks();
    // The baseline first and alone: Herald's workers may still be draining a backlog after its saturation run.
    const baseline = await measureBaseline(redis);
    const herald = await measureHerald(redis, sinks);
    const split = await measureSplit(redis, sinks);
    const splitShare = split.okPerSecond / baseline.saturation.okPerSecond;

    const share = herald.saturation.okPerSecond / baseline.saturation.okPerSecond;
    const rateNote = `${RATE} req/s × ${FIXED_SECONDS} s over ${FIXED_CONNECTIONS} connections, ${INCIDENTS} incidents`;
    return [
      {
        section: SECTION,
        measure: `POST update @${RATE}/s p50`,
        value: ms(herald.fixed.p50),
        unit: 'ms',
        note: rateNote,
      },
      {
        section: SECTION,
        measure: `POST update @${RATE}/s p99`,
        value: ms(herald.fixed.p99),
        unit: 'ms',
        compared: `${BASELINE_NAME}: ${ms(baseline.fixed.p99)} ms`,
        target: `≤ ${P99_TARGET_MS} ms`,
        met: herald.fixed.p99 <= P99_TARGET_MS,
        note: `max ${ms(herald.fixed.max)} ms`,
      },
      {
        section: SECTION,
        measure: `POST update @${RATE}/s errors`,
        value: herald.fixed.errors,
        unit: 'count',
        target: '0',
        met: herald.fixed.errors === 0,
        ...(herald.fixed.errors > 0 && { note: herald.fixed.errorDetail }),
      },
      {
        section: SECTION,
        measure: `POST update @${RATE}/s achieved`,
        value: perSecond(herald.fixed.okPerSecond),
        unit: 'req/s',
        note: `${herald.fixed.ok} accepted in ${herald.fixed.seconds} s; ${herald.delivered}`,
      },
      {
        section: SECTION,
        measure: `baseline @${RATE}/s p99`,
        value: ms(baseline.fixed.p99),
        unit: 'ms',
        note: `${BASELINE_NAME}, ${BASELINE_FIXED_SECONDS} s: p50 ${ms(baseline.fixed.p50)} ms, ${perSecond(baseline.fixed.okPerSecond)} req/s, ${baseline.fixed.errors} errors`,
      },
      {
        section: SECTION,
        measure: `saturation: ${BASELINE_NAME}`,
        value: perSecond(baseline.saturation.okPerSecond),
        unit: 'req/s',
        note: `${SATURATION_CONNECTIONS} connections × ${SATURATION_SECONDS} s: p99 ${ms(baseline.saturation.p99)} ms${baseline.saturation.errors > 0 ? `, ${baseline.saturation.errors} errors (${baseline.saturation.errorDetail})` : ''}`,
      },
      {
        section: SECTION,
        measure: 'saturation: Herald',
        value: perSecond(herald.saturation.okPerSecond),
        unit: 'req/s',
        compared: `×${share.toFixed(2)} of ${BASELINE_NAME}`,
        target: `≥ ${Math.round(SHARE_TARGET * 100)}% of baseline`,
        met: share >= SHARE_TARGET,
        note: `${SATURATION_CONNECTIONS} connections × ${SATURATION_SECONDS} s: p99 ${ms(herald.saturation.p99)} ms${herald.saturation.errors > 0 ? `, ${herald.saturation.errors} errors (${herald.saturation.errorDetail})` : ''}`,
      },
      {
        section: SECTION,
        measure: 'saturation: Herald, API and workers as two processes',
        value: perSecond(split.okPerSecond),
        unit: 'req/s',
        compared: `×${splitShare.toFixed(2)} of ${BASELINE_NAME}`,
        target: `≥ ${Math.round(SHARE_TARGET * 100)}% of baseline`,
        met: splitShare >= SHARE_TARGET,
        note: `${SATURATION_CONNECTIONS} connections × ${SATURATION_SECONDS} s: p99 ${ms(split.p99)} ms${split.errors > 0 ? `, ${split.errors} errors (${split.errorDetail})` : ''}`,
      },
    ];
  } finally {
    await sinks?.close();
    redis.stop();
  }
}

runAsScript(import.meta.url, runApi);
