/**
 * When Redis refuses writes — out of memory under `noeviction`, or turned
 * into a read-only replica — a write answers 503 `unavailable` with
 * Retry-After (not a 500), /readyz answers 503, and the log line names the
 * refusal without the command's arguments: a refused PUT of an audience
 * must not write its webhook secret into the log.
 *
 * Each test runs on a Redis of its own: the run's shared Redis is never
 * reconfigured.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { LightMyRequestResponse } from 'fastify';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { startHerald, type RunningHerald } from '../../src/herald.js';
import { createLogger } from '../../src/logger.js';
import { newWebhookSecret } from '../fakes/webhook-receiver.js';
import { freePort } from '../support/global-redis.js';
import { killAllChildren, startOwnRedis, type OwnRedis } from '../support/process.js';
import { eventually, WRITE_TOKEN } from '../support/stack.js';
import { expectError } from './helpers.js';

/** A log destination that keeps every line. */
function logCapture() {
  let text = '';
  return {
    stream: {
      write(chunk: string) {
        text += chunk;
      },
    },
    text: () => text,
    lines: () =>
      text
        .split('\n')
        .filter((l) => l !== '')
        .map((l) => JSON.parse(l) as { msg: string; err?: Record<string, unknown>; [k: string]: unknown }),
  };
}

interface Api {
  herald: RunningHerald;
  logs: ReturnType<typeof logCapture>;
  call(method: string, url: string, body?: unknown): Promise<LightMyRequestResponse>;
}

async function startApi(redisUrl: string): Promise<Api> {
  const logs = logCapture();
  const config = loadConfig({
    REDIS_URL: redisUrl,
    HERALD_PREFIX: 'refusal',
    HERALD_API_TOKENS: `ops:${WRITE_TOKEN}:write`,
    PORT: '0',
    HERALD_WEBHOOK_ALLOW_PRIVATE: 'true',
    LOG_LEVEL: 'info',
  });
  const herald = await startHerald({ config, roles: new Set(['api']), logger: createLogger('info', logs.stream) });
  return {
    herald,
    logs,
    call: (method, url, body) =>
      herald.app!.inject({
        method: method as 'GET',
        url,
        headers: { authorization: `Bearer ${WRITE_TOKEN}`, ...(body !== undefined && { 'content-type': 'application/json' }) },
        ...(body !== undefined && { payload: JSON.stringify(body) }),
      }),
  };
}

function audience(secret: string): unknown {
  return { webhooks: [{ url: 'http://127.0.0.1:9/hooks/status', secret }], email: { recipients: ['ops@partner.example'] } };
}

describe('when Redis refuses writes', () => {
  let dir: string;
  const servers: OwnRedis[] = [];
  const clients: Redis[] = [];
  let api: Api | undefined;

  async function ownRedis(): Promise<{ server: OwnRedis; admin: Redis }> {
    const server = await startOwnRedis(await freePort(), dir);
    servers.push(server);
    const admin = new Redis(server.url, { maxRetriesPerRequest: 1 });
    clients.push(admin);
    return { server, admin };
  }

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'herald-refusal-'));
  });

  afterEach(async () => {
    await api?.herald.stop();
    api = undefined;
    for (const client of clients.splice(0)) client.disconnect();
    await Promise.all(servers.splice(0).map((s) => s.kill()));
  });

  afterAll(async () => {
    await killAllChildren();
    rmSync(dir, { recursive: true, force: true });
  });

  it('out of memory: a PUT answers 503 with Retry-After, its secret is in no log line, /readyz is 503 until memory is freed', async () => {
    const { server, admin } = await ownRedis();
    api = await startApi(server.url);
    expect((await api.call('PUT', '/v1/audiences/before', audience(newWebhookSecret()))).statusCode).toBe(200);
    expect((await api.call('GET', '/readyz')).statusCode).toBe(200);

    await admin.config('SET', 'maxmemory-policy', 'noeviction');
    await admin.config('SET', 'maxmemory', '1');
    const secret = newWebhookSecret();

    const put = await api.call('PUT', '/v1/audiences/partners', audience(secret));
    expectError(put, 503, 'unavailable');
    expect(put.headers['retry-after']).toBe('1');
    expect(put.body).not.toContain(secret);
    const opened = await api.call('POST', '/v1/incidents', {
      title: 'Email delivery delayed', severity: 'major', status: 'investigating', message: 'Investigating.', components: ['email'],
    });
    expectError(opened, 503, 'unavailable');

    const ready = await api.call('GET', '/readyz');
    expect(ready.statusCode).toBe(503);
    expect(ready.json()).toEqual({ status: 'unavailable', redis: 'out-of-memory' });

    expect(api.logs.text()).not.toContain(secret);
    expect(api.logs.text()).not.toContain(secret.slice('whsec_'.length));
    expect(api.logs.text()).not.toContain('"command"');
    const refusal = api.logs.lines().find((l) => l.msg === 'Redis unavailable');
    expect(refusal?.err).toMatchObject({ name: 'ReplyError', message: expect.stringMatching(/^OOM /) });

    await admin.config('SET', 'maxmemory', '0');
    await eventually(async () => (await api!.call('GET', '/readyz')).statusCode === 200, 10_000, '/readyz 200 once memory is freed');
    expect((await api.call('PUT', '/v1/audiences/partners', audience(secret))).statusCode).toBe(200);
  });

  it('a read-only replica: a PUT answers 503, /readyz is 503 (read-only) until it is a primary again', async () => {
    const { server, admin } = await ownRedis();
    const { server: primary } = await ownRedis();
    api = await startApi(server.url);
    expect((await api.call('GET', '/readyz')).statusCode).toBe(200);

    await admin.replicaof('127.0.0.1', primary.port);
    const secret = newWebhookSecret();

    const put = await api.call('PUT', '/v1/audiences/partners', audience(secret));
    expectError(put, 503, 'unavailable');
    expect(put.headers['retry-after']).toBe('1');
    const ready = await api.call('GET', '/readyz');
    expect(ready.statusCode).toBe(503);
    expect(ready.json()).toEqual({ status: 'unavailable', redis: 'read-only' });
    expect(api.logs.text()).not.toContain(secret);

    await admin.replicaof('NO', 'ONE');
    await eventually(async () => (await api!.call('GET', '/readyz')).statusCode === 200, 10_000, '/readyz 200 once a primary again');
    expect((await api.call('PUT', '/v1/audiences/partners', audience(secret))).statusCode).toBe(200);
  });
});
