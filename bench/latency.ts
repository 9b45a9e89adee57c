/**
 * Latency to the first partner: with Herald idle, the time from an update's
 * POST being answered to its webhook arriving at the receiver, over 200
 * updates (BENCH_LATENCY_UPDATES) posted one at a time, each after the
 * previous one arrived and Herald settled.
 *
 *   npm run bench:latency
 */
import { BENCH_WEBHOOK_SECRET, now, openIncident, percentile, progress, sleep, startHerald, startRedis, startSinks, type Row } from './support.js';
import { runAsScript } from './report.js';

const UPDATES = Number(process.env.BENCH_LATENCY_UPDATES ?? 200);
const WARM_UP = 20;
/** Between updates: long enough for Herald to finish recording the previous one (idle), short enough to keep the run brief. */
const SETTLE_MS = 50;
const SECTION = 'First partner';

export async function runLatency(): Promise<Row[]> {
  const redis = await startRedis();
  const sinks = await startSinks();
  const herald = await startHerald({ redisUrl: redis.url, sinks, roles: ['api', 'workers'] });
  try {
    await herald.call('PUT', '/v1/audiences/first', { webhooks: [{ url: sinks.webhookUrl(0), secret: BENCH_WEBHOOK_SECRET }] });
    const incident = await openIncident(herald, ['first'], 'Elevated API error rates');
    await sinks.webhooks.waitFor(1, 10_000);
    const fromResponse: number[] = [];
    const fromRequest: number[] = [];
    progress(`first partner: ${WARM_UP} warm-up + ${UPDATES} updates, one at a time`);
    for (let i = 0; i < WARM_UP + UPDATES; i++) {
      await sleep(SETTLE_MS);
      sinks.webhooks.reset();
      const sent = now();
      await herald.call('POST', `/v1/incidents/${incident}/updates`, { status: 'identified', message: `Update ${i}: the cause is identified; a fix is rolling out.` });
      const answered = now();
      await sinks.webhooks.waitFor(1, 10_000);
      if (i >= WARM_UP) {
        // Can be below zero: the webhook may arrive before the client has read the 201.
        fromResponse.push(sinks.webhooks.first - answered);
        fromRequest.push(sinks.webhooks.first - sent);
      }
    }
    const sorted = (values: number[]) => [...values].sort((a, b) => a - b);
    const response = sorted(fromResponse);
    const request = sorted(fromRequest);
    const round = (ms: number) => Math.round(ms * 10) / 10;
    return [
      { section: SECTION, measure: `POST answered → webhook arrived, p50 (${UPDATES} updates)`, value: round(percentile(response, 50)), unit: 'ms', target: 'p50 ≤ 50 ms', met: percentile(response, 50) <= 50 },
      { section: SECTION, measure: 'POST answered → webhook arrived, p99', value: round(percentile(response, 99)), unit: 'ms', note: `max ${round(response.at(-1)!)} ms` },
      { section: SECTION, measure: 'POST sent → webhook arrived, p50', value: round(percentile(request, 50)), unit: 'ms', note: `p99 ${round(percentile(request, 99))} ms` },
    ];
  } finally {
    await herald.stop();
    await sinks.close();
    redis.stop();
  }
}

runAsScript(import.meta.url, runLatency);
