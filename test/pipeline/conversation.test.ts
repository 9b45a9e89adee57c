/**
 * The core promise, end to end: an incident opened, updated twice and
 * resolved reaches every target of its audience as ONE conversation per
 * target, in order, and every delivery ends `sent`.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newWebhookSecret } from '../fakes/webhook-receiver.js';
import { eventually, startStack, type Stack } from '../support/stack.js';

interface DeliveryView {
  id: string;
  updateId: string;
  channel: string;
  target: string;
  state: string;
  attempts: number;
  providerRef: string | null;
}

describe('given an audience on every channel, when an incident is opened, updated twice and resolved', () => {
  let stack: Stack;
  let incidentId: string;
  const secrets = { blog: newWebhookSecret(), partner: newWebhookSecret() };
  const updateIds: string[] = [];

  beforeAll(async () => {
    stack = await startStack();
    const { hooks } = stack;
    const audience = await stack.api('PUT', '/v1/audiences/partners', {
      slack: { channels: ['C0PARTNERS', '#status'] },
      x: { enabled: true },
      email: { recipients: ['ops@partner.example', 'cto@other.example'] },
      webhooks: [
        { url: hooks.register('/blog', secrets.blog), secret: secrets.blog },
        { url: hooks.register('/partner', secrets.partner), secret: secrets.partner },
      ],
    });
    expect(audience.statusCode).toBe(200);

    const opened = await stack.api('POST', '/v1/incidents', {
      title: 'Email delivery delayed',
      severity: 'major',
      status: 'investigating',
      message: 'We are investigating delays in outbound email.',
      components: ['email'],
      audiences: ['partners'],
      cadenceSeconds: 1800,
      commander: { name: 'Dana', email: 'dana@corp.example', slackUserId: 'U0DANA' },
    });
    expect(opened.statusCode).toBe(201);
    const body = opened.json();
    incidentId = body.incident.id;
    updateIds.push(body.update.id);
    expect(body.deliveries.planned).toBe(7);

    // Each update is posted once the previous one has reached everyone, as a
    // commander would; ordering under concurrency has its own test.
    const waitAll = (n: number) =>
      Promise.all([
        stack.slack.waitFor((f) => f.posts().length >= 2 * n, 10_000),
        stack.x.waitFor(n, 10_000),
        stack.smtp.waitFor(2 * n, 10_000),
        stack.hooks.waitFor(2 * n, 10_000),
      ]);
    await waitAll(1);
    for (const [i, step] of [
      { message: 'The cause is a misconfigured relay; a fix is rolling out.', status: 'identified' },
      { message: 'The fix is out; queues are draining.', status: 'monitoring' },
    ].entries()) {
      const res = await stack.api('POST', `/v1/incidents/${incidentId}/updates`, step);
      expect(res.statusCode).toBe(201);
      expect(res.json().update.seq).toBe(i + 2);
      updateIds.push(res.json().update.id);
      await waitAll(i + 2);
    }
    const resolved = await stack.api('POST', `/v1/incidents/${incidentId}/resolve`, { message: 'Email delivery is back to normal.' });
    expect(resolved.statusCode).toBe(201);
    expect(resolved.json().update.kind).toBe('resolved');
    updateIds.push(resolved.json().update.id);
    await waitAll(4);
  });

  afterAll(async () => {
    await stack?.stop();
  });

  it('every delivery is recorded as sent, with the provider reference', async () => {
    const deliveries = await eventually(async () => {
      const res = await stack.api('GET', `/v1/incidents/${incidentId}/deliveries`);
      const list = res.json().deliveries as DeliveryView[];
      return list.length === 28 && list.every((d) => d.state === 'sent') ? list : undefined;
    }, 10_000, 'all 28 deliveries sent');
    expect(new Set(deliveries.map((d) => d.id)).size).toBe(28);
    for (const d of deliveries) {
      expect(d.providerRef).toBeTruthy();
      expect(d.attempts).toBe(1);
    }
    expect(deliveries.map((d) => d.updateId)).toEqual(updateIds.flatMap((id) => Array<string>(7).fill(id)));
  });

  it('Slack: one message per channel, three thread replies broadcast to the channel, the first edited to the final status', () => {
    // A channel named by '#name' must still get its first message edited (chat.update takes ids only).
    for (const channel of ['C0PARTNERS', '#status']) {
      const posts = stack.slack.posts(channel);
      expect(posts).toHaveLength(4);
      const [root, ...replies] = posts;
      expect(root!.threadTs).toBeUndefined();
      expect(root!.text).toContain('Email delivery delayed');
      for (const reply of replies) {
        expect(reply.threadTs).toBe(root!.ts);
        expect(reply.replyBroadcast).toBe(true);
      }
      expect(replies[0]!.text).toContain('misconfigured relay');
      expect(replies[2]!.text).toContain('back to normal');
      const edits = stack.slack.updates(root!.channelId);
      expect(edits).toHaveLength(3);
      expect(edits.every((e) => e.ts === root!.ts)).toBe(true);
      expect(stack.slack.message(channel, root!.ts)!.text).toMatch(/resolved/i);
    }
  });

  it('X: four posts, each a reply to the one before', () => {
    const posts = stack.x.posts;
    expect(posts).toHaveLength(4);
    expect(posts[0]!.replyTo).toBeUndefined();
    for (let i = 1; i < 4; i++) expect(posts[i]!.replyTo).toBe(posts[i - 1]!.id);
    expect(stack.x.thread(posts[3]!.id).map((p) => p.id)).toEqual(posts.map((p) => p.id));
  });

  it('email: four messages per recipient, threaded with In-Reply-To and References, with one-click unsubscribe', () => {
    for (const address of ['ops@partner.example', 'cto@other.example']) {
      const mails = stack.smtp.for(address);
      expect(mails).toHaveLength(4);
      const ids = mails.map((m) => m.messageId);
      expect(new Set(ids).size).toBe(4);
      expect(mails[0]!.inReplyTo).toBeFalsy();
      for (let i = 1; i < 4; i++) {
        expect(mails[i]!.inReplyTo).toBe(ids[i - 1]);
        expect(mails[i]!.references).toEqual(ids.slice(0, i));
      }
      for (const mail of mails) {
        expect(mail.text).toBeTruthy();
        expect(mail.html).toContain('<');
        expect(mail.headers['list-unsubscribe']).toMatch(/^<https:\/\/status\.herald\.test\/unsubscribe\/[^>]+>$/);
        expect(mail.headers['list-unsubscribe-post']).toBe('List-Unsubscribe=One-Click');
      }
      // Mail clients thread by subject as well as by references.
      expect(new Set(mails.map((m) => m.subject.replace(/^(re:\s*)+/i, ''))).size).toBe(1);
    }
  });

  it('webhooks: four signed events per target, in order, typed by kind, with stable ids', () => {
    for (const path of ['/blog', '/partner']) {
      const events = stack.hooks.received(path);
      expect(events).toHaveLength(4);
      expect(events.every((e) => e.signatureValid)).toBe(true);
      const bodies = events.map((e) => e.body as { type: string; update: { seq: number; message: string }; incident: { id: string }; rendered: Record<string, string> });
      expect(bodies.map((b) => b.type)).toEqual(['incident.opened', 'incident.updated', 'incident.updated', 'incident.resolved']);
      expect(bodies.map((b) => b.update.seq)).toEqual([1, 2, 3, 4]);
      for (const b of bodies) {
        expect(b.incident.id).toBe(incidentId);
        expect(Object.keys(b.rendered).sort()).toEqual(['html', 'markdown', 'title']);
      }
      expect(new Set(events.map((e) => e.webhookId)).size).toBe(4);
    }
  });

  it('the incident reads back resolved, with its four updates in order', async () => {
    const res = await stack.api('GET', `/v1/incidents/${incidentId}`);
    const incident = res.json();
    expect(incident.status).toBe('resolved');
    expect(incident.nextUpdateDueAt).toBeNull();
    expect(incident.resolvedAt).toBeTruthy();
    expect(incident.updates.map((u: { kind: string }) => u.kind)).toEqual(['opened', 'update', 'update', 'resolved']);
    const late = await stack.api('POST', `/v1/incidents/${incidentId}/updates`, { message: 'one more' });
    expect(late.statusCode).toBe(409);
    expect(late.json().error.code).toBe('incident_resolved');
  });
});
