/**
 * Contract §3, operations: /healthz (process up), /readyz (Redis reachable),
 * /metrics (Prometheus text), all without auth.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newWebhookSecret } from '../fakes/webhook-receiver.js';
import { eventually, startStack, type Stack } from '../support/stack.js';
import { openIncident } from './helpers.js';

describe('operations endpoints', () => {
  let stack: Stack;

  const metrics = async (): Promise<string> => {
    const res = await stack.api('GET', '/metrics', undefined, { token: null });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
    return res.body;
  };

  beforeAll(async () => {
    stack = await startStack();
  });

  afterAll(async () => {
    await stack?.stop();
  });

  it('/healthz answers 200 without a token', async () => {
    const res = await stack.api('GET', '/healthz', undefined, { token: null });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ status: 'ok' });
  });

  it('/readyz answers 200 while Redis is up', async () => {
    const res = await stack.api('GET', '/readyz', undefined, { token: null });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ status: 'ready', redis: 'ok' });
  });

  it('/metrics is Prometheus text with the queue gauge and the delivery counter declared', async () => {
    const text = await metrics();
    expect(text).toContain('# TYPE herald_deliveries_total counter');
    expect(text).toContain('# TYPE herald_queue_jobs gauge');
    expect(text).toMatch(/^herald_queue_jobs\{queue="[^"]+",state="waiting"\} \d+$/m);
    expect(text).toContain('# TYPE herald_http_request_duration_seconds histogram');
    // Every non-comment line is `name{labels} value`.
    for (const line of text.split('\n').filter((l) => l !== '' && !l.startsWith('#'))) {
      expect(line).toMatch(/^[a-zA-Z_:][a-zA-Z0-9_:]*(\{[^}]*\})? [-+0-9.eNaInf]+$/);
    }
  });

  it('after a delivery, herald_deliveries_total counts it by channel and state', async () => {
    const secret = newWebhookSecret();
    const res = await stack.api('PUT', '/v1/audiences/blog', { webhooks: [{ url: stack.hooks.register('/blog', secret), secret }] });
    expect(res.statusCode).toBe(200);
    const { incident } = await openIncident(stack, { audiences: ['blog'] });
    await stack.hooks.waitFor({ path: '/blog' }, 10_000);
    await eventually(
      async () => (await stack.api('GET', `/v1/incidents/${incident.id}/deliveries?state=sent`)).json().deliveries.length === 1,
      10_000,
      'the webhook delivery recorded as sent',
    );
    const text = await eventually(async () => {
      const body = await metrics();
      return /^herald_deliveries_total\{channel="webhook",state="sent"\} 1$/m.test(body) ? body : undefined;
    }, 5_000, 'herald_deliveries_total for the webhook');
    expect(text).not.toMatch(/^herald_deliveries_total\{channel="slack"/m);
  });

  it('request latency is recorded by route, without ids in the label', async () => {
    await stack.api('GET', '/v1/incidents/inc_01NOTREAL0000000000000000');
    const text = await metrics();
    expect(text).toMatch(/herald_http_request_duration_seconds_count\{[^}]*route="\/v1\/incidents\/:id"[^}]*\} \d+/);
    expect(text).not.toContain('inc_01NOTREAL');
  });
});
