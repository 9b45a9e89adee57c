/**
 * A commander's words are shown as text on every channel, never interpreted:
 * asserted on what reached each fake, not on the renderer alone.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newWebhookSecret } from '../fakes/webhook-receiver.js';
import { startStack, type Stack } from '../support/stack.js';

const NASTY = 'Ignore <script>alert(1)</script> and {{incident.id}} — *bold* <!channel> & <@U0BOSS>';

describe('given a message full of markup, when it is broadcast', () => {
  let stack: Stack;

  beforeAll(async () => {
    stack = await startStack();
    const secret = newWebhookSecret();
    await stack.api('PUT', '/v1/audiences/all', {
      slack: { channels: ['C0ESC'] },
      x: { enabled: true },
      email: { recipients: ['esc@partner.example'] },
      webhooks: [{ url: stack.hooks.register('/esc', secret), secret }],
    });
    const res = await stack.api('POST', '/v1/incidents', { title: 'Title <b>x</b>', severity: 'minor', message: NASTY });
    expect(res.statusCode).toBe(201);
    await Promise.all([
      stack.slack.waitFor(1),
      stack.x.waitFor(1),
      stack.smtp.waitFor(1),
      stack.hooks.waitFor({ path: '/esc' }),
    ]);
  });

  afterAll(async () => {
    await stack?.stop();
  });

  it('Slack gets entities for & < > and no live mention or bold', () => {
    const text = stack.slack.posts('C0ESC')[0]!.text;
    expect(text).toContain('&lt;!channel&gt;');
    expect(text).toContain('&lt;@U0BOSS&gt;');
    expect(text).toContain('&lt;script&gt;');
    expect(text).toContain('&amp;');
    expect(text).not.toContain('<!channel>');
    expect(text).toContain('\u200b*bold\u200b*');
    expect(text).toContain('{{incident.id}}');
  });

  it('X gets the words verbatim as plain text', () => {
    expect(stack.x.posts[0]!.text).toContain('<script>alert(1)</script> and {{incident.id}}');
  });

  it('email HTML escapes the markup; the text part keeps it verbatim', () => {
    const mail = stack.smtp.for('esc@partner.example')[0]!;
    expect(mail.html).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
    expect(mail.html).not.toContain('<script>');
    expect(mail.html).toContain('Title &lt;b&gt;x&lt;/b&gt;');
    expect(mail.text).toContain(NASTY);
    expect(mail.subject).toContain('Title <b>x</b>');
  });

  it('the webhook carries the raw message, escaped HTML and escaped Markdown', () => {
    const body = stack.hooks.received('/esc')[0]!.body as { update: { message: string }; rendered: { html: string; markdown: string } };
    expect(body.update.message).toBe(NASTY);
    expect(body.rendered.html).toContain('&lt;script&gt;');
    expect(body.rendered.html).not.toContain('<script>');
    expect(body.rendered.markdown).toContain('\\*bold\\*');
    expect(body.rendered.markdown).toContain('\\<script\\>');
  });
});
