/**
 * Contract §3 Operations: no request blocks the process for more than
 * 100 ms — legitimate ones included. Herald runs as an operator runs it (a
 * child process); two audiences as large as the limits allow (100,000
 * email recipients each, just under the 5 MiB body limit, half of them in
 * both) are replaced, then an incident is posted to every audience, and the
 * server's own measure of its event-loop delay (prom-client's
 * `nodejs_eventloop_lag_max_seconds`, the largest delay since the previous
 * scrape) must stay under the bound. Before the fix, one such PUT held the
 * loop 100–200 ms and the POST after it (every audience parsed and resolved
 * at once, to count what the broadcast plans) 300–800 ms.
 *
 * The API alone runs: the fan-out of 150,000 emails is measured by
 * `npm run bench:event-loop`, not here.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, expect, inject, it } from 'vitest';
import { AUDIENCE_BODY_LIMIT_BYTES } from '../../src/api/body-limits.js';
import { freePort } from '../support/global-redis.js';
import { killAllChildren, maxEventLoopLag, processEnv, spawnHerald } from '../support/process.js';

const WRITE_TOKEN = 'large-audience-write-token-5c2e';

/** The contract's bound on how long any request may hold the event loop. */
const MAX_BLOCK_SECONDS = 0.1;

/** Tries before concluding that the delay is Herald's own. */
const TRIES = 5;

/** HERALD_MAX_TARGETS_PER_AUDIENCE's default: the largest audience allowed. */
const LARGEST_AUDIENCE = 100_000;

/** `count` addresses from `first` on, each about 50 bytes: 100,000 of them fill the body limit. */
function recipients(first: number, count: number): string[] {
  return Array.from({ length: count }, (_, i) => {
    const n = String(first + i).padStart(7, '0');
    return `subscriber.${n}@customer-${n.slice(-4)}.partners.example`;
  });
}

afterAll(killAllChildren);

it('replacing the largest audiences allowed and posting an incident to them hold the event loop for less than 100 ms', async (test) => {
  const port = await freePort();
  const herald = spawnHerald(
    processEnv({
      HERALD_API_TOKENS: `ops:${WRITE_TOKEN}:write`,
      REDIS_URL: inject('redisUrl'),
      HERALD_PREFIX: `large-${randomUUID().slice(0, 8)}`,
      PORT: String(port),
      HERALD_SHUTDOWN_GRACE_MS: '2000',
      HERALD_RATE_LIMIT_API: '0',
      // The email channel is on, so that the broadcast plans every recipient; the API alone never sends.
      SMTP_URL: `smtp://127.0.0.1:${await freePort()}`,
      EMAIL_FROM: 'Status <status@example.com>',
    }),
    ['--role', 'api'],
  );
  test.onTestFinished(() => herald.kill());
  const url = await herald.listening(60_000);
  const headers = { authorization: `Bearer ${WRITE_TOKEN}`, 'content-type': 'application/json' };

  const customers = JSON.stringify({ email: { recipients: recipients(0, LARGEST_AUDIENCE) } });
  // Half of the partners are customers too: they hear each update once.
  const partners = JSON.stringify({ email: { recipients: recipients(LARGEST_AUDIENCE / 2, LARGEST_AUDIENCE) } });
  expect(Buffer.byteLength(customers)).toBeGreaterThan(0.9 * AUDIENCE_BODY_LIMIT_BYTES);
  expect(Buffer.byteLength(customers)).toBeLessThan(AUDIENCE_BODY_LIMIT_BYTES);

  // Starting up (compiling templates, connecting) is not a request: the first scrapes clear it.
  await maxEventLoopLag(url);
  await maxEventLoopLag(url);

  /** Both audiences replaced (a new version each time), then an incident posted: the server's largest delay meanwhile. */
  const tryOnce = async (): Promise<number> => {
    await maxEventLoopLag(url);
    for (const [name, body] of [['customers', customers], ['partners', partners]] as const) {
      const put = await fetch(`${url}/v1/audiences/${name}`, { method: 'PUT', headers, body });
      expect(put.status, await put.clone().text().then((t) => t.slice(0, 300))).toBe(200);
      await put.arrayBuffer();
    }
    const posted = await fetch(`${url}/v1/incidents`, {
      method: 'POST',
      headers,
      body: JSON.stringify({ title: 'Checkout errors', severity: 'major', message: 'Investigating failed payments.' }),
    });
    const answer = (await posted.json()) as { deliveries?: { planned: number } };
    expect(posted.status, JSON.stringify(answer)).toBe(201);
    expect(answer.deliveries).toEqual({ planned: 1.5 * LARGEST_AUDIENCE });
    return maxEventLoopLag(url);
  };

  // A request that blocks the loop shows in every try; a busy machine (other
  // processes taking the CPU, which the delay also counts) shows in some. So
  // the best of a few tries is what Herald itself costs.
  const lags: number[] = [];
  while (lags.length < TRIES && !lags.some((lag) => lag < MAX_BLOCK_SECONDS)) lags.push(await tryOnce());
  test.annotate(`server event-loop delay max per try: ${lags.map((l) => `${Math.round(l * 1000)} ms`).join(', ')}`);
  expect(Math.min(...lags), `the server's event loop was held for ${lags.join(' s, ')} s`).toBeLessThan(MAX_BLOCK_SECONDS);
}, 300_000);
