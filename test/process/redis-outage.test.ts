/**
 * Redis vanishes under a running Herald: readiness and writes answer 503 at
 * once (never hang), the 503 says nothing about the inside, and when Redis
 * is back on the same address Herald is ready again by itself.
 *
 * The Redis here is one this test starts and kills: the run's shared Redis
 * is never disturbed.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { freePort } from '../support/global-redis.js';
import { killAllChildren, processEnv, spawnHerald, startOwnRedis } from '../support/process.js';

const WRITE_TOKEN = 'outage-write-token-3a7f';
/** "Within ~1.5 s": /readyz gives Redis 1 s, and a write must fail as fast. */
const ANSWER_WITHIN_MS = 1500;

const INCIDENT = {
  title: 'Email delivery delayed',
  severity: 'major',
  status: 'investigating',
  message: 'We are investigating delays in outbound email.',
};

const dir = mkdtempSync(join(tmpdir(), 'herald-outage-redis-'));

afterAll(async () => {
  await killAllChildren();
  rmSync(dir, { recursive: true, force: true });
});

interface Timed {
  status: number;
  text: string;
  headers: Headers;
  ms: number;
}

/** One request, timed; a hang shows as a failure after 5 s rather than a stuck test. */
async function timed(url: string, init: RequestInit = {}): Promise<Timed> {
  const started = Date.now();
  const response = await fetch(url, { ...init, signal: AbortSignal.timeout(5000) });
  const text = await response.text();
  return { status: response.status, text, headers: response.headers, ms: Date.now() - started };
}

function postIncident(url: string): Promise<Timed> {
  return timed(`${url}/v1/incidents`, {
    method: 'POST',
    headers: { authorization: `Bearer ${WRITE_TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify(INCIDENT),
  });
}

describe('when Redis becomes unreachable under a running Herald', () => {
  it('answers 503 quickly without internals, and is ready again once Redis is back', async () => {
    const port = await freePort();
    let redis = await startOwnRedis(port, dir);
    const herald = spawnHerald(
      processEnv({
        HERALD_API_TOKENS: `ops:${WRITE_TOKEN}:write`,
        REDIS_URL: redis.url,
        HERALD_PREFIX: `proc-${randomUUID().slice(0, 8)}`,
        PORT: String(await freePort()),
        HERALD_SHUTDOWN_GRACE_MS: '1000',
      }),
    );
    const url = await herald.listening();
    expect((await timed(`${url}/readyz`)).status).toBe(200);
    expect((await postIncident(url)).status).toBe(201);

    await redis.kill();

    // Several rounds: the answer stays fast while Herald keeps reconnecting in the background.
    for (let round = 0; round < 3; round++) {
      const ready = await timed(`${url}/readyz`);
      expect(ready.status, ready.text).toBe(503);
      expect(ready.ms).toBeLessThan(ANSWER_WITHIN_MS);
      expect(JSON.parse(ready.text)).toMatchObject({ status: 'unavailable' });

      const write = await postIncident(url);
      expect(write.status, write.text).toBe(503);
      expect(write.ms).toBeLessThan(ANSWER_WITHIN_MS);
      expect(JSON.parse(write.text)).toEqual({ error: { code: 'unavailable', message: expect.any(String) } });
      expect(write.headers.get('retry-after')).toBe('1');

      // Nothing about the inside: no address, no driver message, no stack.
      for (const body of [write.text, ready.text]) {
        expect(body).not.toContain(String(port));
        expect(body).not.toContain('127.0.0.1');
        expect(body).not.toMatch(/redis:\/\/|ECONNREFUSED|\n\s+at /);
      }
      expect(write.text).not.toMatch(/ioredis|Stream isn't writeable|Connection is closed|offline/i);

      // The process itself is up.
      expect((await timed(`${url}/healthz`)).status).toBe(200);
      await new Promise((r) => setTimeout(r, 300));
    }

    redis = await startOwnRedis(port, dir);
    const recoveredWithin = Date.now() + 8000;
    let ready = await timed(`${url}/readyz`);
    while (ready.status !== 200 && Date.now() < recoveredWithin) {
      await new Promise((r) => setTimeout(r, 100));
      ready = await timed(`${url}/readyz`);
    }
    expect(ready.status, ready.text).toBe(200);
    const write = await postIncident(url);
    expect(write.status, write.text).toBe(201);

    herald.child.kill('SIGTERM');
    expect(await herald.waitForExit(10_000)).toEqual({ code: 0, signal: null });
    expect(herald.stderr()).toBe('');
  });
});
