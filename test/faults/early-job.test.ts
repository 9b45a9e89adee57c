/**
 * A job that names a delivery before its backoff is over (a recheck, a job
 * re-added after its finished copy was dropped, a re-run) does not send it
 * early: the retry comes at the time its record says, once.
 */
import type { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newWebhookSecret } from '../fakes/webhook-receiver.js';
import { eventually, type Stack } from '../support/stack.js';
import { created, deliveriesOf, startStackWithWebhookQueue, stopStackWithWebhookQueue } from './support.js';

describe('given a webhook delivery that failed and waits for its retry', () => {
  let stack: Stack;
  let redis: Redis;
  let queue: Queue;

  beforeAll(async () => {
    // A long enough backoff that "early" cannot be mistaken on a loaded machine.
    ({ stack, redis, webhookQueue: queue } = await startStackWithWebhookQueue({ env: { HERALD_RETRY_BASE_DELAY_MS: '6000' } }));
  });

  afterAll(() => stopStackWithWebhookQueue({ stack, redis, webhookQueue: queue }));

  it('a job naming it early sends nothing; the retry comes at its time', async () => {
    const secret = newWebhookSecret();
    const url = stack.hooks.register('/flaky', secret);
    stack.hooks.respond('/flaky', [503, 200]);
    expect((await stack.api('PUT', '/v1/audiences/flaky', { webhooks: [{ url, secret }] })).statusCode).toBe(200);
    const opened = created(await stack.api('POST', '/v1/incidents', { title: 'Exports slow', severity: 'minor', message: 'Looking.', audiences: ['flaky'] }));
    const failed = await eventually(async () => (await deliveriesOf(stack, opened.incident.id)).find((d) => d.state === 'failed'), 30_000, 'the failed attempt');
    const retryAt = Date.parse(failed.retryAt!);

    await queue.add('early', { incidentId: opened.incident.id, updateId: opened.update.id, channel: 'webhook', targets: [url] }, { jobId: 'early-1' });
    await eventually(async () => (await queue.getJob('early-1'))?.finishedOn !== undefined || undefined, 30_000, 'the early job to finish');
    expect(stack.hooks.received('/flaky')).toHaveLength(1);

    const [, retried] = await stack.hooks.waitFor({ path: '/flaky', count: 2 }, 60_000);
    expect(retried!.receivedAt).toBeGreaterThanOrEqual(retryAt - 10);
    await eventually(async () => (await deliveriesOf(stack, opened.incident.id)).every((d) => d.state === 'sent') || undefined, 30_000, 'sent');
    expect(stack.hooks.received('/flaky')).toHaveLength(2);
  });
});
