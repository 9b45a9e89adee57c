/**
 * A title is one line of text shown as plain text on every channel: control
 * characters (NUL, BEL, ESC, CR/LF, DEL, C1) never reach an email's Subject
 * header raw, and bidi overrides and isolates — which make text read as
 * something else than it says — are dropped from subjects and from the
 * plain-text title of every channel.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EmailChannel } from '../../src/channels/email.js';
import { newWebhookSecret } from '../fakes/webhook-receiver.js';
import { startSmtpSink, type SmtpSink } from '../fakes/smtp.js';
import { startStack, type Stack } from '../support/stack.js';

/** What must never be written where a title is shown as plain text. */
const CONTROL_OR_BIDI = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/;
/** A header as it crossed the wire: printable ASCII, folded lines continued by a space or tab. */
const WIRE_HEADER = /^[\x20-\x7e]*(?:\r\n[ \t][\x20-\x7e]*)*$/;

/** The Subject header exactly as written in the raw message, folding included. */
function rawSubject(raw: string): string {
  const match = /^Subject: (.*(?:\r\n[ \t].*)*)\r\n/m.exec(raw);
  if (match === null) throw new Error(`no Subject header in:\n${raw.slice(0, 500)}`);
  return match[1]!;
}

describe('the Subject header of an email', () => {
  let sink: SmtpSink;
  let channel: EmailChannel;

  beforeAll(async () => {
    sink = await startSmtpSink();
    channel = new EmailChannel({ smtpUrl: sink.url, from: 'Acme Status <status@acme.example>' });
  });

  afterAll(async () => {
    await channel?.close();
    await sink?.close();
  });

  it.each([
    ['ASCII with NUL, BEL, ESC, DEL and a C1 control', 'Email\u0000 delayed\u0007 \u001b[31mnow\u001b[0m\u007f\u0085!', 'Email delayed [31mnow [0m !'],
    ['ASCII with a right-to-left override', 'Invoices \u202egnp.exe\u202c delayed', 'Invoices gnp.exe delayed'],
    ['non-ASCII with ESC and an isolate', 'Störung \u001b[2J\u2067behoben\u2069', 'Störung [2Jbehoben'],
    ['CR and LF (a header injection)', 'Delayed\r\nBcc: victim@example.com', 'Delayed Bcc: victim@example.com'],
  ])('%s: written as printable ASCII, read back without the controls', async (_what, subject, expected) => {
    sink.reset();
    const id = `<subject.${Math.random().toString(36).slice(2)}@acme.example>`;
    await channel.send(
      { channel: 'email', key: 'ops@partner.example', address: 'ops@partner.example', audiences: ['partners'] },
      { subject, text: 'text', html: '<p>html</p>', messageId: id, unsubscribeUrl: 'https://status.acme.example/u/tok' },
    );

    const [message] = await sink.waitFor(1);
    expect(rawSubject(message!.raw)).toMatch(WIRE_HEADER);
    expect(message!.headers.bcc).toBeUndefined();
    expect(message!.subject).toBe(expected);
  });
});

describe('given an incident whose title carries control characters and a bidi override', () => {
  let stack: Stack;
  const title = 'Payments \u202edelayed\u202c\u001b[5m\u0007 \u2066in EU\u2069\u0000\u007f\u009b';
  const shown = 'Payments delayed [5m in EU';

  beforeAll(async () => {
    stack = await startStack();
    const secret = newWebhookSecret();
    const audience = await stack.api('PUT', '/v1/audiences/partners', {
      slack: { channels: ['C0PARTNERS'] },
      x: { enabled: true },
      email: { recipients: ['ops@partner.example'] },
      webhooks: [{ url: stack.hooks.register('/blog', secret), secret }],
    });
    expect(audience.statusCode, audience.body).toBe(200);
    const opened = await stack.api('POST', '/v1/incidents', {
      title,
      severity: 'major',
      status: 'investigating',
      message: 'We are investigating.',
      components: ['payments'],
      audiences: ['partners'],
    });
    expect(opened.statusCode, opened.body).toBe(201);
    await Promise.all([
      stack.smtp.waitFor(1, 15_000),
      stack.slack.waitFor(1, 15_000),
      stack.x.waitFor(1, 15_000),
      stack.hooks.waitFor(1, 15_000),
    ]);
  });

  afterAll(async () => {
    await stack?.stop();
  });

  it('the email Subject is printable ASCII on the wire and reads the title without them', () => {
    const [message] = stack.smtp.messages;
    expect(rawSubject(message!.raw)).toMatch(WIRE_HEADER);
    expect(message!.subject).toContain(shown);
    expect(message!.subject).not.toMatch(CONTROL_OR_BIDI);
    expect(message!.text).toContain(shown);
    expect(message!.text).not.toMatch(CONTROL_OR_BIDI);
  });

  it('Slack, X and the webhook show the title without them', () => {
    const slackText = String(stack.slack.posts()[0]!.params.text);
    const xText = stack.x.posts[0]!.text;
    const webhook = stack.hooks.received('/blog')[0]!.body as { incident: { title: string }; rendered: { title: string; markdown: string } };
    for (const [where, text] of [
      ['slack', slackText],
      ['x', xText],
      ['webhook rendered.title', webhook.rendered.title],
      ['webhook incident.title', webhook.incident.title],
    ] as const) {
      expect(text, where).toContain(shown);
      expect(text, where).not.toMatch(CONTROL_OR_BIDI);
    }
  });

  it("the incident's public page shows the title without them", async () => {
    const id = (stack.hooks.received('/blog')[0]!.body as { incident: { id: string } }).incident.id;
    const page = await stack.api('GET', `/incidents/${id}`, undefined, { token: null });
    expect(page.statusCode).toBe(200);
    expect(page.body).toContain(`<h1>${shown}</h1>`);
    expect(page.body).not.toMatch(CONTROL_OR_BIDI);
  });
});
