/**
 * An Idempotency-Key outlives the process that first saw it: after a kill -9
 * and a restart, the same key and body replay the first answer and nothing
 * new is broadcast.
 */
import { randomUUID } from 'node:crypto';
import { afterEach, describe, expect, it, inject } from 'vitest';
import { startWebhookReceiver, newWebhookSecret, type WebhookReceiver } from '../fakes/webhook-receiver.js';
import { freePort } from '../support/global-redis.js';
import { killAllChildren, processEnv, spawnHerald } from '../support/process.js';

const TOKEN = 'restart-write-token-1';
let receiver: WebhookReceiver | undefined;

afterEach(async () => {
  await killAllChildren();
  await receiver?.close();
});

describe('given an incident opened with an Idempotency-Key', () => {
  it('after kill -9 and a restart, the same key and body replay the first answer; nothing new is sent', async () => {
    receiver = await startWebhookReceiver();
    const secret = newWebhookSecret();
    const hook = receiver.register('/blog', secret);
    const port = await freePort();
    const env = processEnv({
      REDIS_URL: inject('redisUrl'),
      HERALD_PREFIX: `test-${randomUUID().slice(0, 8)}`,
      HERALD_API_TOKENS: `ops:${TOKEN}:write`,
      HERALD_WEBHOOK_ALLOW_PRIVATE: 'true',
      PORT: String(port),
      LOG_LEVEL: 'info',
    });
    const call = (url: string, method: string, path: string, body: unknown, key?: string) =>
      fetch(`${url}${path}`, {
        method,
        headers: {
          authorization: `Bearer ${TOKEN}`,
          'content-type': 'application/json',
          ...(key !== undefined && { 'idempotency-key': key }),
        },
        body: JSON.stringify(body),
      });
    const body = { title: 'Queue backlog', severity: 'major', message: 'Jobs are delayed.' };

    const first = spawnHerald(env);
    const url = await first.listening(60_000);
    expect((await call(url, 'PUT', '/v1/audiences/partners', { webhooks: [{ url: hook, secret }] })).status).toBe(200);
    const opened = await call(url, 'POST', '/v1/incidents', body, 'open-queue-backlog');
    expect(opened.status).toBe(201);
    const firstAnswer = (await opened.json()) as { incident: { id: string } };
    await receiver.waitFor({ path: '/blog', count: 1 }, 10_000);
    await first.kill();

    const second = spawnHerald(env);
    const url2 = await second.listening(60_000);
    const replay = await call(url2, 'POST', '/v1/incidents', body, 'open-queue-backlog');
    expect(replay.status).toBe(201);
    expect(replay.headers.get('idempotent-replayed')).toBe('true');
    expect(((await replay.json()) as { incident: { id: string } }).incident.id).toBe(firstAnswer.incident.id);
    const mismatch = await call(url2, 'POST', '/v1/incidents', { ...body, message: 'different' }, 'open-queue-backlog');
    expect(mismatch.status).toBe(422);

    const list = (await (await fetch(`${url2}/v1/incidents`, { headers: { authorization: `Bearer ${TOKEN}` } })).json()) as {
      incidents: unknown[];
    };
    expect(list.incidents).toHaveLength(1);
    // Give a stray second broadcast the time it would need to arrive.
    await new Promise((r) => setTimeout(r, 1000));
    expect(receiver.received('/blog')).toHaveLength(1);
  });
});
