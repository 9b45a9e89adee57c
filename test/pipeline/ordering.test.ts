/**
 * Updates of one incident reach each target in the order they were posted,
 * even when they are posted faster than they can be delivered and when a
 * target fails and is retried in between.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newWebhookSecret } from '../fakes/webhook-receiver.js';
import { eventually, startStack, type Stack } from '../support/stack.js';

const UPDATES = 5;

describe('given updates posted back to back, faster than they are delivered', () => {
  let stack: Stack;
  let incidentId: string;

  beforeAll(async () => {
    stack = await startStack();
    const { hooks, slack } = stack;
    const slow = newWebhookSecret();
    const flaky = newWebhookSecret();
    const steady = newWebhookSecret();
    // A slow receiver: every answer takes 150 ms.
    hooks.respond('/slow', async () => {
      await new Promise((r) => setTimeout(r, 150));
      return 200;
    });
    // A flaky one: the first request fails, and is retried after a backoff.
    hooks.respond('/flaky', [500, 200]);
    // Slack is slow too, so replies queue up behind their thread's first message.
    slack.respond('chat.postMessage', async () => {
      await new Promise((r) => setTimeout(r, 100));
      return undefined;
    });
    await stack.api('PUT', '/v1/audiences/everyone', {
      slack: { channels: ['C0ORDER'] },
      x: { enabled: true },
      email: { recipients: ['order@partner.example'] },
      webhooks: [
        { url: hooks.register('/slow', slow), secret: slow },
        { url: hooks.register('/flaky', flaky), secret: flaky },
        { url: hooks.register('/steady', steady), secret: steady },
      ],
    });
    const opened = await stack.api('POST', '/v1/incidents', {
      title: 'Checkout errors',
      severity: 'critical',
      message: 'update 1',
      components: ['checkout'],
    });
    expect(opened.statusCode).toBe(201);
    incidentId = opened.json().incident.id;
    for (let n = 2; n <= UPDATES; n++) {
      const res = await stack.api('POST', `/v1/incidents/${incidentId}/updates`, { message: `update ${n}` });
      expect(res.statusCode).toBe(201);
    }
  });

  afterAll(async () => {
    await stack?.stop();
  });

  const expected = Array.from({ length: UPDATES }, (_, i) => i + 1);
  const seqOf = (body: unknown): number => (body as { update: { seq: number } }).update.seq;

  it('each webhook target receives every update once, in order — the flaky one after its retry', async () => {
    for (const path of ['/steady', '/slow']) {
      const received = await stack.hooks.waitFor({ path, count: UPDATES }, 10_000);
      expect(received.map((r) => seqOf(r.body))).toEqual(expected);
    }
    const flaky = await stack.hooks.waitFor({ path: '/flaky', count: UPDATES + 1 }, 15_000);
    // The failed first attempt, then the same delivery again (same webhook-id), then the rest.
    expect(flaky.map((r) => seqOf(r.body))).toEqual([1, ...expected]);
    expect(flaky[0]!.webhookId).toBe(flaky[1]!.webhookId);
    expect(flaky[0]!.answer).toBe(500);
  });

  it('Slack: the first message, then every reply threaded under it, in order', async () => {
    await stack.slack.waitFor(UPDATES, 10_000);
    const [root, ...replies] = stack.slack.posts('C0ORDER');
    expect(root!.threadTs).toBeUndefined();
    expect(replies.map((r) => r.threadTs)).toEqual(Array(UPDATES - 1).fill(root!.ts));
    expect(stack.slack.posts('C0ORDER').map((p) => /update (\d)/.exec(p.text)?.[1])).toEqual(expected.map(String));
  });

  it('X: a single thread, in order', async () => {
    await stack.x.waitFor(UPDATES, 10_000);
    const posts = stack.x.posts;
    expect(posts.map((p) => /update (\d)/.exec(p.text)?.[1])).toEqual(expected.map(String));
    for (let i = 1; i < posts.length; i++) expect(posts[i]!.replyTo).toBe(posts[i - 1]!.id);
  });

  it('email: in order, each replying to the one before', async () => {
    const mails = await stack.smtp.waitFor({ to: 'order@partner.example', count: UPDATES }, 10_000);
    expect(mails.map((m) => /update (\d)/.exec(m.text)?.[1])).toEqual(expected.map(String));
    for (let i = 1; i < mails.length; i++) expect(mails[i]!.inReplyTo).toBe(mails[i - 1]!.messageId);
  });

  it('the flaky delivery is recorded with its two attempts', async () => {
    const flaky = await eventually(async () => {
      const res = await stack.api('GET', `/v1/incidents/${incidentId}/deliveries?channel=webhook`);
      const list = res.json().deliveries as Array<{ target: string; attempts: number; state: string }>;
      return list.find((d) => d.target.endsWith('/flaky') && d.state === 'sent' && d.attempts === 2);
    }, 10_000, 'the flaky delivery sent on its second attempt');
    expect(flaky).toBeTruthy();
  });
});
