/**
 * A webhook's signing secret lives in one place: its audience. Delivery
 * records name the target and nothing more; the secret is read when the
 * request is signed. So no copy of it is left in Redis anywhere else, a new
 * secret PUT before a planned delivery's turn signs it, and a webhook removed
 * from every audience before its turn is not signed with a stale secret: it
 * goes `dead`, saying why.
 */
import type { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newWebhookSecret } from '../fakes/webhook-receiver.js';
import { keysFor } from '../../src/store/keys.js';
import { eventually, type Stack } from '../support/stack.js';
import { created, queued, settledDeliveries, startStackWithWebhookQueue, stopStackWithWebhookQueue, webhookTargets } from './support.js';

const WAIT_MS = 20_000;

const incident = (audiences: string[]) => ({
  title: 'Payments delayed',
  severity: 'major',
  status: 'investigating',
  message: 'Card payments are slow to confirm.',
  components: ['payments'],
  audiences,
});

/** Every value stored under `prefix`, by key, whatever its type. */
async function everything(redis: Redis, prefix: string): Promise<Map<string, string>> {
  const dump = new Map<string, string>();
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
    cursor = next;
    for (const key of keys) {
      const type = await redis.type(key);
      let values: unknown;
      if (type === 'string') values = await redis.get(key);
      else if (type === 'hash') values = await redis.hgetall(key);
      else if (type === 'list') values = await redis.lrange(key, 0, -1);
      else if (type === 'set') values = await redis.smembers(key);
      else if (type === 'zset') values = await redis.zrange(key, 0, -1);
      else if (type === 'stream') values = await redis.xrange(key, '-', '+');
      dump.set(key, JSON.stringify(values));
    }
  } while (cursor !== '0');
  return dump;
}

describe('given audiences with signed webhooks', () => {
  let stack: Stack;
  let redis: Redis;
  let webhookQueue: Queue;

  beforeAll(async () => {
    ({ stack, redis, webhookQueue } = await startStackWithWebhookQueue());
  });

  afterAll(() => stopStackWithWebhookQueue({ stack, redis, webhookQueue }));

  /** Holds the webhook channel (its queue paused) while `meanwhile` runs on a planned fan-out. */
  async function whilePlanned(
    planned: number,
    post: () => Promise<{ incident: { id: string }; update: { id: string } }>,
    meanwhile: (updateId: string) => Promise<void>,
  ): Promise<void> {
    await webhookQueue.pause();
    const { incident, update } = await post();
    const updateId = update.id;
    const deliveriesKey = keysFor(stack.config.prefix).deliveries(incident.id, updateId, 'webhook');
    await eventually(
      async () => (await redis.hlen(deliveriesKey)) === planned && (await queued(webhookQueue)) > 0,
      WAIT_MS,
      'the fan-out, held back',
    );
    await meanwhile(updateId);
    await webhookQueue.resume();
  }

  it('after a fan-out, no key but the audiences holds a secret, and every request verifies', async () => {
    const { hooks } = stack;
    const targets = webhookTargets(hooks, 'kept', 3);
    const put = await stack.api('PUT', '/v1/audiences/kept', { webhooks: targets.map(({ url, secret }) => ({ url, secret })) });
    expect(put.statusCode, put.body).toBe(200);
    const opened = created(await stack.api('POST', '/v1/incidents', incident(['kept'])));
    await settledDeliveries(stack, opened.incident.id, { count: 3, timeoutMs: WAIT_MS });
    for (const { path } of targets) {
      const [request] = await hooks.waitFor({ path }, WAIT_MS);
      expect(request!.signatureValid, request!.verification).toBe(true);
    }

    const dump = await everything(redis, stack.config.prefix);
    expect(dump.has(keysFor(stack.config.prefix).deliveries(opened.incident.id, opened.update.id, 'webhook'))).toBe(true);
    for (const { secret } of targets) {
      // The secret as PUT, and its key material alone (what signs).
      const material = secret.slice('whsec_'.length);
      const holders = [...dump].filter(([, values]) => values.includes(material)).map(([key]) => key);
      expect(holders).toEqual([`${stack.config.prefix}:audiences`]);
    }
  }, 60_000);

  it('a secret replaced before a planned delivery\'s turn signs it', async () => {
    const { hooks } = stack;
    const [target] = webhookTargets(hooks, 'rotated', 1) as [{ path: string; url: string; secret: string }];
    expect((await stack.api('PUT', '/v1/audiences/rotated', { webhooks: [{ url: target.url, secret: target.secret }] })).statusCode).toBe(200);
    const rotated = newWebhookSecret();
    await whilePlanned(
      1,
      async () => created(await stack.api('POST', '/v1/incidents', incident(['rotated']))),
      async () => {
        hooks.register(target.path, rotated);
        expect((await stack.api('PUT', '/v1/audiences/rotated', { webhooks: [{ url: target.url, secret: rotated }] })).statusCode).toBe(200);
      },
    );
    const [request] = await hooks.waitFor({ path: target.path }, WAIT_MS);
    expect(request!.signatureValid, request!.verification).toBe(true);
  }, 60_000);

  it('a webhook removed from every audience before its turn is dead, saying so, and nothing is sent to it', async () => {
    const { hooks } = stack;
    const [gone, staying] = webhookTargets(hooks, 'removed', 2) as Array<{ path: string; url: string; secret: string }>;
    expect((await stack.api('PUT', '/v1/audiences/leaving', { webhooks: [{ url: gone!.url, secret: gone!.secret }] })).statusCode).toBe(200);
    expect((await stack.api('PUT', '/v1/audiences/staying', { webhooks: [{ url: staying!.url, secret: staying!.secret }] })).statusCode).toBe(200);
    let incidentId = '';
    await whilePlanned(
      2,
      async () => {
        const opened = created(await stack.api('POST', '/v1/incidents', incident(['leaving', 'staying'])));
        incidentId = opened.incident.id;
        return opened;
      },
      async () => {
        expect((await stack.api('DELETE', '/v1/audiences/leaving')).statusCode).toBe(204);
      },
    );
    await hooks.waitFor({ path: staying!.path }, WAIT_MS);
    const list = await settledDeliveries(stack, incidentId, { count: 2, timeoutMs: WAIT_MS });
    const dead = list.find((d) => d.target === gone!.url);
    expect(dead).toMatchObject({ state: 'dead', attempts: 1 });
    expect(dead!.error).toMatch(/target_removed: .*removed from every audience/);
    expect(hooks.received(gone!.path)).toHaveLength(0);
  }, 60_000);
});
