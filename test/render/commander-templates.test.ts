import { beforeAll, describe, expect, it } from 'vitest';

import { ZERO_WIDTH_SPACE as ZWSP } from '../../src/render/escape.js';
import { Renderer } from '../../src/render/renderer.js';
import type { RenderContext } from '../../src/render/types.js';

const URL = 'https://status.example.com/incidents/01HZXINCIDENT';
const UPDATE_URL = 'https://herald.corp.example/v1/incidents/01HZXINCIDENT/updates';
const CURL = `curl -X POST ${UPDATE_URL} -H "Authorization: Bearer $HERALD_TOKEN" -H 'Content-Type: application/json' -d '{"message": "…"}'`;
const LAST_MESSAGE = 'The relay was misconfigured and a fix is rolling out';

/** Given an open critical incident whose last update was at 14:00 UTC, what its commander is sent. */
function commanderContext(title = 'Email delivery delayed'): RenderContext {
  return {
    incident: {
      id: '01HZXINCIDENT',
      title,
      severity: 'critical',
      status: 'identified',
      components: ['api-gateway', 'email'],
      createdAt: '2024-05-14T12:50:00.000Z',
      resolvedAt: null,
      url: URL,
    },
    update: {
      id: 'u2',
      seq: 2,
      kind: 'update',
      status: 'identified',
      message: LAST_MESSAGE,
      postedAt: '2024-05-14T14:00:00.000Z',
    },
    nextUpdateDueAt: '2024-05-14T14:30:00.000Z',
  };
}

/** …reminded at 14:25 that the next update is due at 14:30. */
function reminderContext(change: { title?: string; curl?: string; sentAt?: string | null } = {}): RenderContext {
  const sentAt = change.sentAt === undefined ? '2024-05-14T14:25:00.000Z' : change.sentAt;
  return {
    ...commanderContext(change.title),
    reminder: {
      dueAt: '2024-05-14T14:30:00.000Z',
      ...(sentAt !== null && { sentAt }),
      updateUrl: UPDATE_URL,
      curl: change.curl ?? CURL,
    },
  };
}

/** …told that the update could not reach a blog webhook. */
function failureContext(change: { title?: string; attempts?: number; error?: string } = {}): RenderContext {
  return {
    ...commanderContext(change.title),
    failure: {
      channel: 'webhook',
      target: 'https://blog.example/hooks/status',
      error: change.error ?? 'HTTP 503 Service Unavailable',
      attempts: change.attempts ?? 8,
    },
  };
}

let renderer: Renderer;
beforeAll(async () => {
  renderer = await Renderer.load();
});

describe('the reminder to the commander', () => {
  it('in Slack says when the update is due and in how long, what was last said, and how to post it', () => {
    const { text } = renderer.render('slack', 'reminder', reminderContext());
    expect(text).toContain('Your next update on *Email delivery delayed* is due at *14:30 UTC* (in 5 min).');
    expect(text).toContain(LAST_MESSAGE);
    expect(text).toContain(`\`\`\`\n${CURL}\n\`\`\``);
    expect(text).toContain(UPDATE_URL);
    expect(text).toMatch(/Herald will post a holding statement/);
    expect(text).toContain(URL);
  });

  it('by email says the same, the curl line on a line of its own', () => {
    const { subject, text, html } = renderer.render('email', 'reminder', reminderContext());
    expect(subject).toBe('Update due at 14:30 UTC: Email delivery delayed');
    expect(text).toContain('Your next update on Email delivery delayed is due at 14:30 UTC (in 5 min).');
    expect(text).toContain(`\n    ${CURL}\n`);
    expect(text).toContain(UPDATE_URL);
    expect(text).toContain(LAST_MESSAGE);
    expect(text).toMatch(/Herald will post a holding statement/);
    expect(html).toContain('<pre');
    expect(html).toContain('<code>curl -X POST');
    expect(html).toContain('&quot;Authorization: Bearer $HERALD_TOKEN&quot;');
    expect(html).toMatch(/Herald will post a holding statement/);
  });

  it('gives the due time alone when it does not know when it goes out', () => {
    const ctx = reminderContext({ sentAt: null });
    expect(renderer.render('slack', 'reminder', ctx).text).toContain('is due at *14:30 UTC*.');
    expect(renderer.render('email', 'reminder', ctx).text).toContain('is due at 14:30 UTC.');
  });

  it('is addressed to the commander, not to subscribers', () => {
    const { text, html } = renderer.render('email', 'reminder', { ...reminderContext(), unsubscribeUrl: 'https://x.example/u' });
    for (const body of [text, html]) {
      expect(body).toMatch(/you are the commander of this incident/);
      expect(body).not.toMatch(/subscribed|Unsubscribe/);
    }
  });

  it('keeps the curl line pasteable in Slack: entities for < & >, no zero-width spaces', () => {
    const curl = `curl ${UPDATE_URL} -H "Authorization: Bearer $HERALD_TOKEN" -d '{"message": "<b> & *x*"}'`;
    const { text } = renderer.render('slack', 'reminder', reminderContext({ curl }));
    expect(text).toContain(`curl ${UPDATE_URL} -H "Authorization: Bearer $HERALD_TOKEN" -d '{"message": "&lt;b&gt; &amp; *x*"}'`);
    const block = text.slice(text.indexOf('```'), text.lastIndexOf('```'));
    expect(block).not.toContain(ZWSP);
  });

  it('escapes a hostile title', () => {
    const ctx = reminderContext({ title: '<b>Mail</b> *x*' });
    expect(renderer.render('slack', 'reminder', ctx).text).toContain(`*&lt;b&gt;Mail&lt;/b&gt; ${ZWSP}*x${ZWSP}**`);
    const email = renderer.render('email', 'reminder', ctx);
    expect(email.subject).toBe('Update due at 14:30 UTC: <b>Mail</b> *x*');
    expect(email.html).toContain('&lt;b&gt;Mail&lt;/b&gt; *x*');
    expect(email.html).not.toContain('<b>');
  });
});

describe('the delivery failure alert to the commander', () => {
  it('in Slack names the channel, the target, the attempts and the error, and links the incident', () => {
    const { text } = renderer.render('slack', 'delivery-failed', failureContext());
    expect(text).toContain(
      'An update of *Email delivery delayed* could not be delivered to webhook target `https://blog.example/hooks/status` after 8 attempts: HTTP 503 Service Unavailable',
    );
    expect(text).toContain(URL);
  });

  it('by email says the same', () => {
    const { subject, text, html } = renderer.render('email', 'delivery-failed', failureContext());
    expect(subject).toBe('Delivery failed: Email delivery delayed');
    expect(text).toContain(
      'An update of Email delivery delayed could not be delivered to webhook target https://blog.example/hooks/status after 8 attempts: HTTP 503 Service Unavailable',
    );
    for (const body of [text, html]) {
      expect(body).toContain('HTTP 503 Service Unavailable');
      expect(body).toContain('https://blog.example/hooks/status');
      expect(body).toContain(LAST_MESSAGE);
      expect(body).toContain(URL);
      expect(body).toMatch(/you are the commander of this incident/);
    }
  });

  it('counts one attempt as one', () => {
    expect(renderer.render('slack', 'delivery-failed', failureContext({ attempts: 1 })).text).toContain('after 1 attempt:');
  });

  it('escapes a hostile title and error', () => {
    const ctx = failureContext({ title: '<b>Mail</b> *x*', error: '<!channel> *boom*' });
    const { text } = renderer.render('slack', 'delivery-failed', ctx);
    expect(text).toContain(`&lt;b&gt;Mail&lt;/b&gt; ${ZWSP}*x${ZWSP}*`);
    expect(text).toContain(`&lt;!channel&gt; ${ZWSP}*boom${ZWSP}*`);
    expect(text).not.toContain('<!channel>');
    expect(renderer.render('email', 'delivery-failed', ctx).html).not.toMatch(/<b>|<!channel>/);
  });
});

describe('commander kinds on channels that have none', () => {
  it.each(['reminder', 'delivery-failed'])('rendering %s for X or a webhook throws, naming the channel', (kind) => {
    expect(() => renderer.render('x', kind, reminderContext())).toThrow(new RegExp(`no x templates loaded for kind "${kind}"`));
    expect(() => renderer.render('webhook', kind, failureContext())).toThrow(new RegExp(`no webhook templates loaded for kind "${kind}"`));
    expect(() => renderer.renderAll(kind, reminderContext())).toThrow(RangeError);
  });
});
