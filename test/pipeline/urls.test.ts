/**
 * A link a commander pastes (a runbook, a workaround) must still open where
 * it lands (contract §4): the exact URL string reaches Slack, X, the email's
 * text part and the webhook's Markdown, while mentions and markup around it
 * stay literal. Asserted on what reached each fake.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newWebhookSecret } from '../fakes/webhook-receiver.js';
import { startStack, type Stack } from '../support/stack.js';

const RUNBOOK = 'https://runbooks.example.com/api_error_rate_high?x=1&y=2#step_3';
const WORKAROUND = 'https://example.com/a*b*c';
const MESSAGE = `*Alert* api_error_rate_high fired, <!channel> @here: follow ${RUNBOOK}. Workaround (${WORKAROUND}) _for now_.`;

describe('given an update whose message carries URLs, when it is broadcast', () => {
  let stack: Stack;

  beforeAll(async () => {
    stack = await startStack();
    const secret = newWebhookSecret();
    await stack.api('PUT', '/v1/audiences/all', {
      slack: { channels: ['C0URL'] },
      x: { enabled: true },
      email: { recipients: ['urls@partner.example'] },
      webhooks: [{ url: stack.hooks.register('/urls', secret), secret }],
    });
    const res = await stack.api('POST', '/v1/incidents', { title: 'API errors', severity: 'major', message: MESSAGE });
    expect(res.statusCode).toBe(201);
    await Promise.all([
      stack.slack.waitFor(1),
      stack.x.waitFor(1),
      stack.smtp.waitFor(1),
      stack.hooks.waitFor({ path: '/urls' }),
    ]);
  }, 30_000);

  afterAll(async () => {
    await stack?.stop();
  });

  it('Slack carries each exact URL as a link, the identifier unbroken, mentions and markup inert', () => {
    const text = stack.slack.posts('C0URL')[0]!.text;
    expect(text).toContain(`<${RUNBOOK}>`);
    expect(text).toContain(`<${WORKAROUND}>`);
    expect(text).toContain('api_error_rate_high fired');
    expect(text).toContain('&lt;!channel&gt;');
    expect(text).not.toContain('<!channel>');
    expect(text).toContain('\u200b*Alert\u200b*');
    expect(text).toContain('\u200b_for now\u200b_');
  });

  it('X carries each exact URL', () => {
    const text = stack.x.posts[0]!.text;
    expect(text).toContain(RUNBOOK);
    expect(text).toContain(WORKAROUND);
  });

  it("the email's text part carries each exact URL, its HTML part a link to it", () => {
    const mail = stack.smtp.for('urls@partner.example')[0]!;
    expect(mail.text).toContain(RUNBOOK);
    expect(mail.text).toContain(WORKAROUND);
    // Handlebars' HTML escaping (`&amp;`, `&#x3D;`), which a browser reads back as the URL.
    const inHtml = RUNBOOK.replaceAll('&', '&amp;').replaceAll('=', '&#x3D;');
    expect(mail.html).toContain(`<a href="${inHtml}">${inHtml}</a>`);
    expect(mail.html).not.toContain('<!channel>');
  });

  it("the webhook's Markdown carries each exact URL as an autolink, the prose around it escaped", () => {
    const body = stack.hooks.received('/urls')[0]!.body as { rendered: { markdown: string } };
    const { markdown } = body.rendered;
    expect(markdown).toContain(`<${RUNBOOK}>`);
    expect(markdown).toContain(`(<${WORKAROUND}>)`);
    expect(markdown).toContain('\\*Alert\\*');
    expect(markdown).toContain('\\<!channel\\>');
    expect(markdown).toContain('\\_for now\\_');
  });
});
