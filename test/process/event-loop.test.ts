/**
 * Contract §3 Operations: no request, authenticated or not, blocks the
 * process for more than 100 ms. Herald runs as an operator runs it (a child
 * process); eight hostile 5 MiB bodies of deeply nested JSON go to an
 * unsubscribe link, to unknown routes and to authenticated /v1 routes at
 * once, and the server's own measure of its event-loop delay (prom-client's
 * `nodejs_eventloop_lag_max_seconds`, the largest delay since the previous
 * scrape) must stay under the bound. Before the fix, /healthz waited 30 s.
 */
import { randomUUID } from 'node:crypto';
import { request } from 'node:http';
import { afterAll, expect, inject, it } from 'vitest';
import { freePort } from '../support/global-redis.js';
import { killAllChildren, maxEventLoopLag, processEnv, spawnHerald } from '../support/process.js';

const WRITE_TOKEN = 'event-loop-write-token-77a1';

/** The contract's bound on how long any request may hold the event loop. */
const MAX_BLOCK_SECONDS = 0.1;

/** Volleys tried before concluding that the delay is Herald's own. */
const VOLLEYS = 5;

/** A volley held longer than this was blocked by Herald, not slowed by the machine. */
const SURELY_BLOCKED_SECONDS = 2;

/** Just under 5 MiB (the largest body any route takes) of `[[[[…`: V8 spends seconds parsing it. */
const DEEP = Buffer.from('['.repeat(2_600_000) + ']'.repeat(2_600_000));

/** An answer, or `reset` when Herald closed the connection on an upload it refused to read. */
type Answer = { status: number; body: string } | 'reset';

/**
 * Sends `body` and resolves with the answer. A body refused before it is
 * all read (a 413 from Content-Length, a 400 for nesting too deep) closes
 * the connection while the client is still uploading; the client may then
 * see the reset before the answer, so a reset is an answer here too (the
 * caller says where it is expected).
 */
function send(url: string, method: string, path: string, body: Buffer, headers: Record<string, string>): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(`${url}${path}`, { method, headers: { 'content-length': String(body.length), ...headers } }, (res) => {
      let text = '';
      res.setEncoding('utf8').on('data', (chunk: string) => (text += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
      res.on('error', () => resolve('reset'));
    });
    req.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code === 'EPIPE' || error.code === 'ECONNRESET') resolve('reset');
      else reject(error);
    });
    req.end(body);
  });
}

afterAll(killAllChildren);

it('eight hostile 5 MiB bodies at once hold the event loop for less than 100 ms', async (test) => {
  const port = await freePort();
  const herald = spawnHerald(
    processEnv({
      HERALD_API_TOKENS: `ops:${WRITE_TOKEN}:write`,
      REDIS_URL: inject('redisUrl'),
      HERALD_PREFIX: `loop-${randomUUID().slice(0, 8)}`,
      PORT: String(port),
      HERALD_SHUTDOWN_GRACE_MS: '2000',
    }),
    ['--role', 'api'],
  );
  test.onTestFinished(() => herald.kill());
  const url = await herald.listening(60_000);

  // Starting up (compiling templates, connecting) is not a request: the first scrape clears it.
  await maxEventLoopLag(url);
  await maxEventLoopLag(url);

  const json = { 'content-type': 'application/json' };
  const authed = { ...json, authorization: `Bearer ${WRITE_TOKEN}` };
  // [method, path, headers, the status expected]
  const hostile: Array<[string, string, Record<string, string>, number]> = [
    ['POST', '/unsubscribe/x', json, 413],
    ['POST', '/unsubscribe/x', {}, 413],
    ['POST', '/nowhere', json, 404],
    ['POST', '/v1/nowhere', authed, 404],
    ['PUT', '/incidents', json, 404],
    ['PUT', '/v1/audiences/partners', authed, 400],
    ['PUT', '/v1/audiences/everyone', authed, 400],
    ['POST', '/v1/incidents', authed, 413],
  ];

  /** One volley of the eight at once: the answers, and the server's largest event-loop delay meanwhile. */
  const volley = async (): Promise<{ lag: number; answers: Answer[] }> => {
    await maxEventLoopLag(url);
    const answers = await Promise.all(hostile.map(([method, path, headers]) => send(url, method, path, DEEP, headers)));
    return { lag: await maxEventLoopLag(url), answers };
  };

  // A request that blocks the loop shows in every volley; a busy machine
  // (other processes taking the CPU, which the delay also counts) shows in
  // some. So the best of a few volleys is what Herald itself costs. A delay
  // of seconds is no machine's noise (parsing one such body takes that long):
  // no need to try again.
  const lags: number[] = [];
  let answers: Answer[] = [];
  while (lags.length < VOLLEYS && !lags.some((lag) => lag < MAX_BLOCK_SECONDS || lag > SURELY_BLOCKED_SECONDS)) {
    const result = await volley();
    lags.push(result.lag);
    answers = result.answers;
  }
  test.annotate(`server event-loop delay max per volley: ${lags.map((l) => `${Math.round(l * 1000)} ms`).join(', ')}`);
  expect(Math.min(...lags), `the server's event loop was held for ${lags.join(' s, ')} s`).toBeLessThan(MAX_BLOCK_SECONDS);

  for (const [i, answer] of answers.entries()) {
    const [method, path, , status] = hostile[i]!;
    // Refused mid-upload (too large, too deep): the answer may be lost to the reset.
    if (answer === 'reset' && (status === 413 || status === 400)) continue;
    expect(answer, `${method} ${path}`).not.toBe('reset');
    if (answer === 'reset') continue;
    expect(answer.status, `${method} ${path}: ${answer.body.slice(0, 200)}`).toBe(status);
    expect(JSON.parse(answer.body)).toHaveProperty('error.code');
  }
}, 300_000);
