/**
 * Contract §3: POST /v1/preview (read) renders what each enabled channel would
 * send for an incident body, and sends nothing. The commander's text is shown
 * literally everywhere: escaped per channel, never interpreted.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newWebhookSecret } from '../fakes/webhook-receiver.js';
import { READ_TOKEN, startStack, type Stack } from '../support/stack.js';
import { expectError, incidentBody, incidentIds, settle } from './helpers.js';

interface Preview {
  slack: { text: string };
  x: { text: string; weightedLength: number };
  email: { subject: string; text: string; html: string };
  webhook: {
    type: string;
    incident: Record<string, unknown>;
    update: Record<string, unknown>;
    rendered: { title: string; html: string; markdown: string };
  };
}

const ZWSP = '\u200B';
const INCIDENT_LINK = 'https://status.herald.test/incidents/inc_preview';

describe('POST /v1/preview', () => {
  let stack: Stack;

  const preview = async (overrides: Record<string, unknown> = {}): Promise<Preview> => {
    const res = await stack.api('POST', '/v1/preview', incidentBody({ audiences: ['partners'], ...overrides }), { token: READ_TOKEN });
    expect(res.statusCode, res.body.slice(0, 300)).toBe(200);
    return res.json() as Preview;
  };

  beforeAll(async () => {
    stack = await startStack();
    // An audience on every channel: were the preview to send, something would arrive.
    const secret = newWebhookSecret();
    const res = await stack.api('PUT', '/v1/audiences/partners', {
      slack: { channels: ['C0PARTNERS'] },
      x: { enabled: true },
      email: { recipients: ['ops@partner.example'] },
      webhooks: [{ url: stack.hooks.register('/partners', secret), secret }],
    });
    expect(res.statusCode).toBe(200);
  });

  afterAll(async () => {
    await stack?.stop();
  });

  it('answers each channel in its shape, for a read token', async () => {
    const p = await preview({ title: 'Email delivery delayed', message: 'We are investigating delays.' });
    expect(Object.keys(p).sort()).toEqual(['email', 'slack', 'webhook', 'x']);
    expect(Object.keys(p.slack)).toEqual(['text']);
    expect(p.slack.text).toContain('Email delivery delayed');
    expect(p.slack.text).toContain('We are investigating delays.');

    expect(Object.keys(p.x).sort()).toEqual(['text', 'weightedLength']);
    expect(p.x.text).toContain('We are investigating delays.');
    expect(p.x.weightedLength).toBeGreaterThan(0);
    expect(p.x.weightedLength).toBeLessThanOrEqual(280);

    expect(Object.keys(p.email).sort()).toEqual(['html', 'subject', 'text']);
    expect(p.email.subject).toContain('Email delivery delayed');
    expect(p.email.subject).not.toMatch(/\n/);
    expect(p.email.text).toContain('We are investigating delays.');
    expect(p.email.html).toMatch(/^<!DOCTYPE html>/i);
    expect(p.email.html).toContain('We are investigating delays.');

    expect(p.webhook.type).toBe('incident.opened');
    expect(p.webhook.incident).toMatchObject({ title: 'Email delivery delayed', severity: 'major', status: 'investigating', components: ['email'] });
    expect(p.webhook.update).toMatchObject({ seq: 1, kind: 'opened', message: 'We are investigating delays.' });
    expect(Object.keys(p.webhook.rendered).sort()).toEqual(['html', 'markdown', 'title']);
    expect(p.webhook.rendered.title).toContain('Email delivery delayed');
  });

  it('sends nothing and stores nothing', async () => {
    for (const kind of ['opened', 'update', 'holding', 'resolved']) await preview({ kind });
    await settle(600);
    expect(stack.slack.calls).toHaveLength(0);
    expect(stack.x.requests).toHaveLength(0);
    expect(stack.smtp.messages).toHaveLength(0);
    expect(stack.hooks.received()).toHaveLength(0);
    expect(await incidentIds(stack)).toEqual([]);
  });

  it('kind "holding" renders Herald\'s holding statement', async () => {
    const opened = await preview({ message: 'Investigating.' });
    const holding = await preview({ message: 'Investigating.', kind: 'holding' });
    expect(holding.webhook.type).toBe('incident.holding');
    expect(holding.webhook.update).toMatchObject({ kind: 'holding' });
    // Preview shows what a partner's blog receives: the public view, no author (contract §3).
    expect(Object.keys(holding.webhook.update).sort()).toEqual(['id', 'incidentId', 'kind', 'message', 'postedAt', 'seq', 'status']);
    expect(holding.webhook.incident).not.toHaveProperty('commander');
    expect(holding.webhook.incident).not.toHaveProperty('audiences');
    expect(holding.slack.text).toMatch(/still working on it/i);
    expect(holding.x.text).toMatch(/no new information/i);
    expect(holding.slack.text).not.toBe(opened.slack.text);
    expect(holding.x.text).not.toBe(opened.x.text);
    expect(holding.email.html).not.toBe(opened.email.html);
    expect(holding.email.subject).not.toBe(opened.email.subject);
  });

  it('kind "resolved" renders the resolution, with no next update promised', async () => {
    const opened = await preview({ message: 'Delivery is back to normal.' });
    const resolved = await preview({ message: 'Delivery is back to normal.', kind: 'resolved' });
    expect(resolved.webhook.type).toBe('incident.resolved');
    expect(resolved.webhook.incident).toMatchObject({ status: 'resolved', nextUpdateDueAt: null });
    expect(resolved.webhook.incident.resolvedAt).toEqual(expect.any(String));
    expect(resolved.slack.text).toMatch(/resolved/i);
    expect(resolved.x.text).toMatch(/^Resolved/);
    expect(resolved.email.text).toMatch(/^Resolved: Email delivery delayed/);
    expect(resolved.email.text).toMatch(/no further updates/i);
    // The subject stays the incident's, so mail clients keep one thread.
    expect(resolved.email.subject).toBe(`Re: ${opened.email.subject}`);
    expect(opened.slack.text).toMatch(/next update by/i);
    expect(resolved.slack.text).not.toMatch(/next update by/i);
    expect(resolved.x.text).not.toBe(opened.x.text);
  });

  describe('a message full of markup', () => {
    const message = 'Hi <script>alert(1)</script> {{x}} *bold* <!channel> & {{> layout}} {{{raw}}}';
    let p: Preview;

    beforeAll(async () => {
      p = await preview({ title: 'Checkout <b>down</b> & out', message });
    });

    it('email html: HTML-escaped, no live tag', () => {
      expect(p.email.html).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
      expect(p.email.html).not.toContain('<script');
      expect(p.email.html).toContain('&lt;!channel&gt;');
      expect(p.email.html).toContain('Checkout &lt;b&gt;down&lt;/b&gt; &amp; out');
      expect(p.email.html).not.toContain('<b>down');
    });

    it('email text and subject: the text as typed', () => {
      expect(p.email.text).toContain(message);
      expect(p.email.subject).toContain('Checkout <b>down</b> & out');
    });

    it('Slack: control characters as entities, formatting markers neutralised with a zero-width space', () => {
      expect(p.slack.text).toContain('&lt;!channel&gt;');
      expect(p.slack.text).not.toContain('<!channel>');
      expect(p.slack.text).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
      expect(p.slack.text).toContain(`${ZWSP}*bold${ZWSP}*`);
      expect(p.slack.text).not.toMatch(/(^|[^\u200B])\*bold/);
      expect(p.slack.text).toContain('&amp; ');
    });

    it('X: the message verbatim as text', () => {
      expect(p.x.text).toContain(message);
    });

    it('webhook: the raw message in the update, escaped in html and markdown', () => {
      expect(p.webhook.update.message).toBe(message);
      expect(p.webhook.rendered.html).toContain('&lt;script&gt;');
      expect(p.webhook.rendered.html).not.toContain('<script');
      expect(p.webhook.rendered.markdown).toContain('\\<script\\>');
      expect(p.webhook.rendered.markdown).toContain('\\*bold\\*');
    });

    it('template syntax in the message is never interpreted, in any channel', () => {
      expect(p.slack.text).toContain('{{x}}');
      expect(p.slack.text).toContain('{{{raw}}}');
      expect(p.x.text).toContain('{{x}}');
      expect(p.email.text).toContain('{{x}} ');
      expect(p.email.text).toContain('{{> layout}}');
      expect(p.email.html).toContain('{{x}}');
      expect(p.email.html).toContain('{{{raw}}}');
      expect(p.webhook.rendered.html).toContain('{{x}}');
    });
  });

  it('a very long message: the X text fits 280 weighted characters and ends with the incident link', async () => {
    const words = Array.from({ length: 400 }, (_, i) => `word${i}`).join(' ');
    const p = await preview({ message: words });
    expect(p.x.weightedLength).toBeLessThanOrEqual(280);
    expect(p.x.text.endsWith(INCIDENT_LINK)).toBe(true);
    expect(p.x.text).toContain('… ');
    expect(p.x.text).toContain('word0 word1');
    expect(p.x.text).not.toContain('word399');
    // The other channels carry the whole message.
    expect(p.email.text).toContain('word399');
    expect(p.slack.text).toContain('word399');
  });

  it('a long message in wide characters is cut the same way', async () => {
    const p = await preview({ message: '障害が発生しています。'.repeat(100) });
    expect(p.x.weightedLength).toBeLessThanOrEqual(280);
    expect(p.x.text.endsWith(INCIDENT_LINK)).toBe(true);
  });

  it('the body is validated like POST /v1/incidents, plus kind', async () => {
    expect(expectError(await stack.api('POST', '/v1/preview', incidentBody({ kind: 'opening' }), { token: READ_TOKEN }), 400).message).toContain(
      'body.kind',
    );
    expect(expectError(await stack.api('POST', '/v1/preview', incidentBody({ sevrity: 'major' }), { token: READ_TOKEN }), 400).message).toContain(
      'body.sevrity',
    );
    expectError(await stack.api('POST', '/v1/preview', '{"title":', { token: READ_TOKEN }), 400, 'invalid_json');
  });
});
