/**
 * A posted update's `deliveries.planned` is counted from each audience's
 * summary (kept beside it), not by reading every address: the count must
 * still be exactly what the broadcast delivers — a target in two audiences
 * once — and audiences stored before summaries existed must count too.
 */
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keysFor } from '../../src/store/keys.js';
import { eventually, startStack, type Stack } from '../support/stack.js';
import { openIncident } from './helpers.js';

const SECRET = 'whsec_c3VtbWFyeS10ZXN0LXNlY3JldC0wMTIz';

describe('given audiences that share some of their targets', () => {
  let stack: Stack;

  beforeAll(async () => {
    stack = await startStack({ env: { HERALD_WEBHOOK_ALLOW_PRIVATE: 'true' } });
    const audiences = {
      // ops@… twice, the second time with its domain in capitals: one target.
      customers: { email: { recipients: ['ops@shop.example', 'ops@SHOP.example', 'cto@shop.example'] }, slack: { channels: ['C0SHARED'] }, components: ['checkout'] },
      partners: {
        email: { recipients: ['OPS@shop.example', 'ops@shop.example', 'noc@bank.example'] },
        slack: { channels: ['C0SHARED', 'C0PARTNERS'] },
        webhooks: [{ url: stack.hooks.url('/partners'), secret: SECRET }],
        components: ['checkout'],
      },
    };
    for (const [name, body] of Object.entries(audiences)) {
      expect((await stack.api('PUT', `/v1/audiences/${name}`, body)).statusCode).toBe(200);
    }
  }, 30_000);

  afterAll(async () => {
    await stack?.stop();
  });

  it('an incident to both plans each target once, and exactly as many deliveries are made', async () => {
    // Email: ops@shop, cto@shop, OPS@shop (another mailbox: the local part keeps its case), noc@bank.
    // Slack: C0SHARED, C0PARTNERS. Webhook: one.
    const { incident, deliveries } = await openIncident(stack, { components: ['checkout'], audiences: ['customers', 'partners'] });
    expect(deliveries.planned).toBe(4 + 2 + 1);
    const made = await eventually(async () => {
      const res = await stack.api('GET', `/v1/incidents/${incident.id}/deliveries`);
      const list = (res.json() as { deliveries: unknown[] }).deliveries;
      return list.length === 7 && list;
    });
    expect(made).toHaveLength(deliveries.planned);
  });

  it('an audience alone plans its own distinct targets', async () => {
    const { deliveries } = await openIncident(stack, { components: ['checkout'], audiences: ['customers'] });
    expect(deliveries.planned).toBe(2 + 1);
  });
});

describe('given an audience stored before summaries existed', () => {
  let stack: Stack;
  let redis: Redis;

  beforeAll(async () => {
    stack = await startStack();
    redis = new Redis(stack.herald.redisUrl);
    const keys = keysFor(stack.config.prefix);
    // As an earlier Herald stored it: the audience alone, no summary beside it.
    const stored = {
      name: 'legacy',
      email: { recipients: ['a@old.example', 'b@old.example'] },
      components: ['billing'],
      createdAt: '2026-01-01T00:00:00.000Z',
      updatedAt: '2026-01-01T00:00:00.000Z',
    };
    await redis.hset(keys.audiences, 'legacy', JSON.stringify(stored));
    await redis.set(keys.audiencesVersion, 'before-summaries');
  }, 30_000);

  afterAll(async () => {
    redis?.disconnect();
    await stack?.stop();
  });

  it('is chosen by its components and its targets are counted', async () => {
    const { deliveries } = await openIncident(stack, { components: ['billing'] });
    expect(deliveries.planned).toBe(2);
  });

  it('keeps its creation time when replaced', async () => {
    const res = await stack.api('PUT', '/v1/audiences/legacy', { email: { recipients: ['a@old.example'] }, components: ['billing'] });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ createdAt: '2026-01-01T00:00:00.000Z' });
    const { deliveries } = await openIncident(stack, { components: ['billing'] });
    expect(deliveries.planned).toBe(1);
  });
});

describe('given a PUT of an audience with an Idempotency-Key', () => {
  let stack: Stack;

  beforeAll(async () => {
    stack = await startStack();
  }, 30_000);

  afterAll(async () => {
    await stack?.stop();
  });

  it('the same request again gets the same answer, the stored audience', async () => {
    const body = { email: { recipients: ['ops@shop.example'] }, components: ['checkout'] };
    const headers = { 'idempotency-key': 'audience-put-1' };
    const first = await stack.api('PUT', '/v1/audiences/customers', body, { headers });
    const again = await stack.api('PUT', '/v1/audiences/customers', body, { headers });
    expect(first.statusCode).toBe(200);
    expect(first.json()).toMatchObject({ name: 'customers', email: { recipients: ['ops@shop.example'] } });
    expect(again.statusCode).toBe(200);
    expect(again.json()).toEqual(first.json());
  });
});
