/**
 * A receiver that never answers is abandoned after HERALD_HTTP_TIMEOUT_MS
 * and one that hangs up without answering is treated the same way: both are
 * retried and delivered once they recover, under one webhook-id, while the
 * other targets — and the next update to them — are not held up. An SMTP
 * server that never acknowledges is abandoned after HERALD_SMTP_TIMEOUT_MS
 * and the message is sent again with the same Message-ID.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { newWebhookSecret } from '../fakes/webhook-receiver.js';
import { startStack, type Stack } from '../support/stack.js';
import { created, settledDeliveries, updatesInArrivalOrder } from './support.js';

/** Longer than "prompt" below, so a healthy target held up by the hanging one would show. */
const HTTP_TIMEOUT_MS = 1500;
const SMTP_TIMEOUT_MS = 1000;
/** A local receiver answers in milliseconds; a second is "not held up" with room to spare. */
const PROMPT_MS = 1000;
const env = {
  HERALD_HTTP_TIMEOUT_MS: String(HTTP_TIMEOUT_MS),
  HERALD_SMTP_TIMEOUT_MS: String(SMTP_TIMEOUT_MS),
  HERALD_RETRY_BASE_DELAY_MS: '200',
  HERALD_RETRY_MAX_ATTEMPTS: '10',
};

let stack: Stack | undefined;
afterEach(async () => {
  await stack?.stop();
  stack = undefined;
});

describe('given one webhook receiver that hangs twice and one that hangs up once', () => {
  it('both are delivered once they recover, same webhook-id across attempts; the healthy one gets both updates at once', async () => {
    stack = await startStack({ env });
    const s = stack;
    const paths = ['/hangs', '/drops', '/healthy'] as const;
    const urls = new Map<string, string>();
    const webhooks = paths.map((path) => {
      const secret = newWebhookSecret();
      const url = s.hooks.register(path, secret);
      urls.set(url, path);
      return { url, secret };
    });
    expect((await s.api('PUT', '/v1/audiences/blogs', { webhooks })).statusCode).toBe(200);
    s.hooks.respond('/hangs', ['hang', 'hang', 200]);
    s.hooks.respond('/drops', ['destroy', 200]);

    const postedAt = Date.now();
    const opened = created(
      await s.api('POST', '/v1/incidents', { title: 'Feeds stale', severity: 'minor', message: 'Feeds are not refreshing.', audiences: ['blogs'] }),
    );
    const incidentId = opened.incident.id;
    const [healthyFirst] = await s.hooks.waitFor({ path: '/healthy' }, 5000);
    expect(healthyFirst!.receivedAt - postedAt).toBeLessThan(PROMPT_MS);

    // Posted while /hangs is still waiting out its first timeout.
    expect(s.hooks.received('/hangs').every((r) => r.answer === 'hang')).toBe(true);
    const nextPostedAt = Date.now();
    const next = created(await s.api('POST', `/v1/incidents/${incidentId}/updates`, { message: 'Feeds are catching up.' }));
    const healthy = await s.hooks.waitFor({ path: '/healthy', count: 2 }, 5000);
    expect(healthy[1]!.receivedAt - nextPostedAt).toBeLessThan(PROMPT_MS);
    expect(updatesInArrivalOrder(healthy)).toEqual([opened.update.id, next.update.id]);

    const deliveries = await settledDeliveries(s, incidentId, { count: 6, timeoutMs: 10_000 });
    expect(deliveries.every((d) => d.state === 'sent')).toBe(true);
    const firstOf = (path: string) => deliveries.find((d) => d.updateId === opened.update.id && urls.get(d.target) === path)!;

    const hangs = s.hooks.received('/hangs');
    expect(hangs.map((r) => r.answer)).toEqual(['hang', 'hang', 200, 200]);
    expect(updatesInArrivalOrder(hangs)).toEqual([opened.update.id, next.update.id]);
    expect(new Set(hangs.slice(0, 3).map((r) => r.webhookId))).toEqual(new Set([firstOf('/hangs').id]));
    expect(firstOf('/hangs').attempts).toBe(3);
    // Abandoned only once the timeout had passed (it starts as the request leaves, a moment before it arrives), then retried.
    for (let i = 1; i < 3; i++) expect(hangs[i]!.receivedAt - hangs[i - 1]!.receivedAt).toBeGreaterThanOrEqual(HTTP_TIMEOUT_MS - 50);

    const drops = s.hooks.received('/drops');
    expect(drops.map((r) => r.answer)).toEqual(['destroy', 200, 200]);
    expect(updatesInArrivalOrder(drops)).toEqual([opened.update.id, next.update.id]);
    expect(drops[0]!.webhookId).toBe(drops[1]!.webhookId);
    expect(firstOf('/drops').attempts).toBe(2);

    for (const r of [...hangs, ...drops, ...healthy]) expect(r.signatureValid, r.verification).toBe(true);
    expect(healthy).toHaveLength(2);
  });
});

describe('given a target that fails once while a batch-mate of the same update is still waiting for its receiver', () => {
  it('the failed target is retried on its own schedule, not stuck behind the slow one', async () => {
    // A timeout long enough for the slow receiver to answer: it is slow, not down.
    stack = await startStack({ env: { ...env, HERALD_HTTP_TIMEOUT_MS: '5000' } });
    const s = stack;
    const webhooks = ['/slow', '/flaky'].map((path) => {
      const secret = newWebhookSecret();
      return { url: s.hooks.register(path, secret), secret };
    });
    expect((await s.api('PUT', '/v1/audiences/blogs', { webhooks })).statusCode).toBe(200);
    const SLOW_ANSWER_MS = 3000;
    s.hooks.respond('/slow', async () => {
      await new Promise((r) => setTimeout(r, SLOW_ANSWER_MS));
      return 200;
    });
    s.hooks.respond('/flaky', [500, 200]);

    const opened = created(
      await s.api('POST', '/v1/incidents', { title: 'Exports failing', severity: 'minor', message: 'Exports fail.', audiences: ['blogs'] }),
    );
    const [failed] = await s.hooks.waitFor({ path: '/flaky' }, 5000);
    expect(failed!.answer).toBe(500);
    // Its retry is due within base delay (200 ms) plus the grouping second; /slow answers only after 3 s.
    const [, retried] = await s.hooks.waitFor({ path: '/flaky', count: 2 }, 6000);
    expect(retried!.webhookId).toBe(failed!.webhookId);
    expect(retried!.receivedAt - failed!.receivedAt).toBeLessThan(SLOW_ANSWER_MS);
    const deliveries = await settledDeliveries(s, opened.incident.id, { count: 2, timeoutMs: 10_000 });
    expect(deliveries.map((d) => d.state)).toEqual(['sent', 'sent']);
  });
});

describe('given an SMTP server that accepts a message but never acknowledges it', () => {
  it('the send is abandoned after HERALD_SMTP_TIMEOUT_MS and retried with the same Message-ID; other channels are not held up', async () => {
    stack = await startStack({ env });
    const s = stack;
    const secret = newWebhookSecret();
    const audience = await s.api('PUT', '/v1/audiences/partners', {
      email: { recipients: ['ops@partner.example'] },
      webhooks: [{ url: s.hooks.register('/blog', secret), secret }],
    });
    expect(audience.statusCode).toBe(200);
    s.smtp.hang();

    const postedAt = Date.now();
    const opened = created(
      await s.api('POST', '/v1/incidents', { title: 'Reports late', severity: 'minor', message: 'Daily reports are late.', audiences: ['partners'] }),
    );
    const [hook] = await s.hooks.waitFor({ path: '/blog' }, 5000);
    expect(hook!.receivedAt - postedAt).toBeLessThan(PROMPT_MS);

    // The first attempt times out; by then the server answers again.
    await settledDeliveries(s, opened.incident.id, {
      count: 2,
      timeoutMs: 10_000,
      done: (d) => d.state === 'sent' || (d.channel === 'email' && d.attempts >= 1 && d.state === 'failed'),
    });
    const recoveredAt = Date.now();
    s.smtp.reset();

    const [mail] = await s.smtp.waitFor({ to: 'ops@partner.example' }, 10_000);
    const deliveries = await settledDeliveries(s, opened.incident.id, { count: 2, timeoutMs: 10_000 });
    const email = deliveries.find((d) => d.channel === 'email')!;
    expect(email).toMatchObject({ state: 'sent', error: null });
    expect(email.attempts).toBeGreaterThanOrEqual(2);
    // The Message-ID is the delivery's own, the same on every attempt.
    expect(mail!.messageId).toBe(email.providerRef);
    expect(email.providerRef).toContain(email.id);
    expect(recoveredAt - postedAt).toBeGreaterThanOrEqual(SMTP_TIMEOUT_MS);
    expect(s.smtp.for('ops@partner.example')).toHaveLength(1);
  });
});
