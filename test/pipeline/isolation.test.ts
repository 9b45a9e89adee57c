/**
 * One slow channel must never hold back the others, and one dead webhook
 * receiver must never hold back the other receivers.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newWebhookSecret } from '../fakes/webhook-receiver.js';
import { startStack, type Stack } from '../support/stack.js';

describe('given a Slack API that never answers and a webhook receiver that hangs', () => {
  let stack: Stack;
  let postedAt: number;

  beforeAll(async () => {
    stack = await startStack();
    const { hooks, slack } = stack;
    slack.hang();
    const stuck = newWebhookSecret();
    const healthy = newWebhookSecret();
    hooks.hang('/stuck');
    await stack.api('PUT', '/v1/audiences/partners', {
      slack: { channels: ['C0SLOW'] },
      email: { recipients: ['fast@partner.example'] },
      webhooks: [
        { url: hooks.register('/stuck', stuck), secret: stuck },
        { url: hooks.register('/healthy', healthy), secret: healthy },
      ],
    });
    postedAt = Date.now();
    const opened = await stack.api('POST', '/v1/incidents', { title: 'API latency', severity: 'minor', message: 'first' });
    expect(opened.statusCode).toBe(201);
    const id = opened.json().incident.id;
    // The second update must not wait for the hanging receiver's first delivery either.
    await stack.hooks.waitFor({ path: '/healthy', count: 1 }, 5000);
    await stack.api('POST', `/v1/incidents/${id}/updates`, { message: 'second' });
  });

  afterAll(async () => {
    await stack?.stop();
  });

  it('email and the healthy webhook receive both updates promptly while Slack and /stuck hang', async () => {
    const [mails, hooks] = await Promise.all([
      stack.smtp.waitFor({ to: 'fast@partner.example', count: 2 }, 5000),
      stack.hooks.waitFor({ path: '/healthy', count: 2 }, 5000),
    ]);
    // Well inside the 10 s the hanging calls take to time out.
    expect(Math.max(mails[1]!.receivedAt, hooks[1]!.receivedAt) - postedAt).toBeLessThan(5000);
    expect(stack.slack.posts()).toHaveLength(0);
    expect(stack.slack.calls.length).toBeGreaterThan(0);
    expect(stack.hooks.received('/stuck')).toHaveLength(1);
  });
});
