/**
 * Event-loop delay with large audiences (contract §3: no request blocks the
 * process for more than 100 ms). Herald runs as one process (`--role all`,
 * so the fan-out shares the API's event loop) on its own Redis, with email
 * going to a local SMTP sink. For each audience size (10k, 50k and the
 * largest allowed, 100k email recipients of about 50 bytes: just under the
 * 5 MiB body limit): the PUT of the audience, the POST of an incident to it
 * (which counts the deliveries it plans), and the fan-out of that incident
 * until every email arrived — each one's duration and the server's largest
 * event-loop delay meanwhile (prom-client's
 * `herald_nodejs_eventloop_lag_max_seconds`, read from /metrics).
 *
 *   npm run bench:event-loop
 *   BENCH_EVENT_LOOP_SIZES=10000,100000  sizes to try (each fan-out runs to the end: 100k emails take minutes)
 *   BENCH_CPU_PROF=<dir>                 profile the Herald process
 */
import { progress, startHerald, startRedis, startSinks, type RunningHerald, type Row } from './support.js';
import { runAsScript } from './report.js';

const SIZES = (process.env.BENCH_EVENT_LOOP_SIZES ?? '10000,50000,100000').split(',').map(Number);
/** Contract §3's bound, and the margin aimed for on a quiet machine. */
const BOUND_MS = 100;
const AIM_MS = 50;
/** How often the server's delay is read while a fan-out runs (each read clears it). */
const SCRAPE_EVERY_MS = 500;
/** A fan-out slower than this many emails a second is reported as stuck. */
const SLOWEST_EMAILS_PER_SECOND = 100;
const SECTION = 'Event loop';

/** `count` addresses of about 50 bytes each: 100,000 of them fill the audience body limit. */
function recipients(count: number): string[] {
  return Array.from({ length: count }, (_, i) => {
    const n = String(i).padStart(7, '0');
    return `subscriber.${n}@customer-${n.slice(-4)}.partners.example`;
  });
}

/** The server's largest event-loop delay since the previous read, in ms. */
async function maxDelayMs(herald: RunningHerald): Promise<number> {
  const text = await (await fetch(`${herald.api}/metrics`)).text();
  const match = /^herald_nodejs_eventloop_lag_max_seconds (\S+)$/m.exec(text);
  if (match === null) throw new Error('/metrics has no herald_nodejs_eventloop_lag_max_seconds');
  return Number(match[1]) * 1000;
}

/** Runs `work`, then reads the delay it caused: its duration and the server's largest delay meanwhile. */
async function measured<T>(herald: RunningHerald, work: () => Promise<T>): Promise<{ result: T; ms: number; delayMs: number }> {
  await maxDelayMs(herald);
  const started = performance.now();
  const result = await work();
  const ms = performance.now() - started;
  return { result, ms, delayMs: await maxDelayMs(herald) };
}

const round = (ms: number): number => Math.round(ms);

function delayRow(measure: string, delayMs: number, ms: number): Row {
  return {
    section: SECTION,
    measure,
    value: round(delayMs),
    unit: 'ms',
    target: `≤ ${AIM_MS} ms (bound ${BOUND_MS} ms)`,
    met: delayMs <= AIM_MS,
    note: `took ${round(ms)} ms`,
  };
}

export async function runEventLoop(): Promise<Row[]> {
  const redis = await startRedis();
  const sinks = await startSinks();
  const herald = await startHerald({
    redisUrl: redis.url,
    sinks,
    roles: ['all'],
    ...(process.env.BENCH_CPU_PROF !== undefined && { cpuProfileDir: process.env.BENCH_CPU_PROF }),
  });
  const rows: Row[] = [];
  try {
    // Starting up (compiling templates, connecting) is not a request: the first reads clear it.
    await maxDelayMs(herald);
    await maxDelayMs(herald);
    for (const size of SIZES) {
      const audience = `subscribers-${size}`;
      const body = { email: { recipients: recipients(size) } };
      const bytes = Buffer.byteLength(JSON.stringify(body));
      progress(`${size} recipients (${(bytes / 2 ** 20).toFixed(1)} MiB): PUT, POST, fan-out`);
      const put = await measured(herald, () => herald.call('PUT', `/v1/audiences/${audience}`, body));
      rows.push(delayRow(`PUT an audience of ${size} (${(bytes / 2 ** 20).toFixed(1)} MiB): largest delay`, put.delayMs, put.ms));

      sinks.emails.reset();
      const post = await measured(herald, () =>
        herald.call('POST', '/v1/incidents', {
          title: 'Checkout errors',
          severity: 'major',
          message: 'We are investigating failed payments.',
          audiences: [audience],
        }),
      );
      const planned = (post.result as { deliveries: { planned: number } }).deliveries.planned;
      if (planned !== size) throw new Error(`the incident plans ${planned} deliveries, not ${size}`);
      rows.push(delayRow(`POST an incident to it: largest delay`, post.delayMs, post.ms));

      // Waited for to the end, so that the next size starts on a quiet Herald.
      const started = performance.now();
      let worst = 0;
      const arrived = sinks.emails.waitFor(size, 60_000 + (size / SLOWEST_EMAILS_PER_SECOND) * 1000);
      let done = false;
      void arrived.then(
        () => (done = true),
        () => (done = true),
      );
      while (!done) {
        await Promise.race([arrived.catch(() => {}), new Promise((r) => setTimeout(r, SCRAPE_EVERY_MS))]);
        worst = Math.max(worst, await maxDelayMs(herald));
      }
      await arrived;
      rows.push(delayRow(`fan-out of its ${size} emails (single process): largest delay`, worst, performance.now() - started));
    }
    return rows;
  } finally {
    await herald.stop();
    await sinks.close();
    redis.stop();
  }
}

runAsScript(import.meta.url, runEventLoop);
