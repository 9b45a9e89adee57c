/**
 * One-click unsubscribe (RFC 8058), reached from the List-Unsubscribe header
 * of a real email: GET shows a confirmation form and changes nothing, POST
 * removes that recipient only, and the next update no longer reaches them.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ReceivedEmail } from '../fakes/smtp.js';
import { newWebhookSecret } from '../fakes/webhook-receiver.js';
import { startStack, type Stack } from '../support/stack.js';
import { expectError, openIncident, settle } from './helpers.js';

const LEAVING = 'ops@partner.example';
const STAYING = 'cto@other.example';
const ONE_CLICK = { 'content-type': 'application/x-www-form-urlencoded' };

describe('given an incident emailed to an audience of two, when one recipient unsubscribes', () => {
  let stack: Stack;
  let incidentId: string;
  /** Path of the leaving recipient's link, e.g. `/unsubscribe/<token>`. */
  let unsubscribePath: string;
  let token: string;
  let stayingMail: ReceivedEmail;

  const recipients = async (): Promise<string[]> => {
    const res = await stack.api('GET', '/v1/audiences/partners');
    expect(res.statusCode).toBe(200);
    return res.json().email.recipients;
  };

  beforeAll(async () => {
    stack = await startStack();
    const secret = newWebhookSecret();
    const res = await stack.api('PUT', '/v1/audiences/partners', {
      email: { recipients: [LEAVING, STAYING] },
      webhooks: [{ url: stack.hooks.register('/partners', secret), secret }],
    });
    expect(res.statusCode).toBe(200);
    incidentId = (await openIncident(stack, { audiences: ['partners'] })).incident.id;
    const [mail] = await stack.smtp.waitFor({ to: LEAVING }, 10_000);
    stayingMail = (await stack.smtp.waitFor({ to: STAYING }, 10_000))[0]!;
    const header = mail!.headers['list-unsubscribe'] ?? '';
    const match = /^<(https:\/\/status\.herald\.test(\/unsubscribe\/([^>]+)))>$/.exec(header);
    expect(match, `List-Unsubscribe: ${header}`).not.toBeNull();
    unsubscribePath = match![2]!;
    token = match![3]!;
    // The same link is in the HTML body for people.
    expect(mail!.html).toContain(match![1]!);
  });

  afterAll(async () => {
    await stack?.stop();
  });

  it('GET of the link, without a bearer token, answers an HTML page with a one-click form', async () => {
    const res = await stack.api('GET', unsubscribePath, undefined, { token: null });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/html/);
    expect(res.body).toContain(LEAVING);
    expect(res.body).toMatch(/<form method="post"/);
    expect(res.body).toContain('name="List-Unsubscribe" value="One-Click"');
  });

  it("each recipient's email carries their own link, in the header, the text and the HTML", async () => {
    const link = /^<([^>]+)>$/.exec(stayingMail.headers['list-unsubscribe'] ?? '')?.[1];
    expect(link).toMatch(/\/unsubscribe\//);
    expect(link).not.toContain(token);
    expect(stayingMail.text).toContain(link!);
    expect(stayingMail.html).toContain(link!);
  });

  it('GET alone unsubscribes nobody (link scanners follow GETs)', async () => {
    expect(await recipients()).toEqual([LEAVING, STAYING]);
  });

  it('the link tells the recipient nothing of the audiences: sealed, not just signed', async () => {
    expect(token).toMatch(/^s1\.[A-Za-z0-9_-]+$/);
    const opened = Buffer.from(token.slice(3), 'base64url').toString('latin1');
    expect(opened).not.toContain('partners');
    expect(opened).not.toContain(LEAVING);
    const page = await stack.api('GET', unsubscribePath, undefined, { token: null });
    expect(page.body).not.toContain('partners');
  });

  it('a tampered link → 400, and nobody is removed', async () => {
    const sealed = token.slice(3);
    const flip = (text: string, at: number) => `${text.slice(0, at)}${text[at] === 'A' ? 'B' : 'A'}${text.slice(at + 1)}`;
    const forgedSigned = `${Buffer.from(JSON.stringify({ e: STAYING, a: ['partners'] })).toString('base64url')}.AAAAAAAAAAAAAAAAAAAAAA`;
    for (const bad of [
      `s1.${flip(sealed, 5)}`, // the nonce
      `s1.${flip(sealed, Math.floor(sealed.length / 2))}`, // the sealed text
      `s1.${sealed.slice(0, -4)}`, // cut short
      `s1.${sealed}AA`, // lengthened
      forgedSigned,
      'garbage',
      's1.',
      `${token}.`,
    ]) {
      const page = await stack.api('GET', `/unsubscribe/${bad}`, undefined, { token: null });
      expect(page.statusCode, bad).toBe(400);
      const post = await stack.api('POST', `/unsubscribe/${bad}`, 'List-Unsubscribe=One-Click', { token: null, headers: ONE_CLICK });
      expectError(post, 400, 'invalid_token');
    }
    expect(await recipients()).toEqual([LEAVING, STAYING]);
  });

  it('POST of List-Unsubscribe=One-Click → 200, and only that recipient is gone from the audience', async () => {
    const res = await stack.api('POST', unsubscribePath, 'List-Unsubscribe=One-Click', { token: null, headers: ONE_CLICK });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toEqual({ unsubscribed: LEAVING });
    expect(await recipients()).toEqual([STAYING]);
  });

  it('the same link posted again still answers 200 and changes nothing', async () => {
    const res = await stack.api('POST', unsubscribePath, 'List-Unsubscribe=One-Click', {
      token: null,
      headers: { ...ONE_CLICK, accept: 'text/html' },
    });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/html/);
    expect(res.body).toContain('Unsubscribed');
    expect(await recipients()).toEqual([STAYING]);
  });

  it('the next update reaches only the remaining recipient', async () => {
    const res = await stack.api('POST', `/v1/incidents/${incidentId}/updates`, { message: 'A fix is rolling out.', status: 'identified' });
    expect(res.statusCode).toBe(201);
    expect(res.json().deliveries.planned).toBe(2); // STAYING + the webhook
    await stack.smtp.waitFor({ to: STAYING, count: 2 }, 10_000);
    await stack.hooks.waitFor({ path: '/partners', count: 2 }, 10_000);
    await settle();
    expect(stack.smtp.for(LEAVING)).toHaveLength(1);
    expect(stack.smtp.for(STAYING)).toHaveLength(2);
    const deliveries = (await stack.api('GET', `/v1/incidents/${incidentId}/deliveries?channel=email`)).json().deliveries;
    expect(deliveries.filter((d: { updateId: string }) => d.updateId === res.json().update.id).map((d: { target: string }) => d.target)).toEqual([
      STAYING,
    ]);
  });

  it('a mail client posting multipart/form-data (RFC 8058 §3.2\'s SHOULD) unsubscribes too', async () => {
    const address = 'legal@third.example';
    expect((await stack.api('PUT', '/v1/audiences/legal', { email: { recipients: [address, STAYING] } })).statusCode).toBe(200);
    await openIncident(stack, { audiences: ['legal'], title: 'Billing delayed' });
    const [mail] = await stack.smtp.waitFor({ to: address }, 10_000);
    const path = /^<https:\/\/status\.herald\.test(\/unsubscribe\/[^>]+)>$/.exec(mail!.headers['list-unsubscribe'] ?? '')![1]!;
    const boundary = '---FormBoundaryjWmhtjORrn';
    const body = `--${boundary}\r\nContent-Disposition: form-data; name="List-Unsubscribe"\r\n\r\nOne-Click\r\n--${boundary}--\r\n`;
    const res = await stack.api('POST', path, body, {
      token: null,
      headers: { 'content-type': `multipart/form-data; boundary=${boundary}` },
    });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toEqual({ unsubscribed: address });
    expect((await stack.api('GET', '/v1/audiences/legal')).json().email.recipients).toEqual([STAYING]);
  });
});

describe('given an operator template that transforms the unsubscribe link', () => {
  let stack: Stack | undefined;
  let dir: string | undefined;
  afterAll(async () => {
    await stack?.stop();
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  });

  it('each recipient still gets their own link, transformed as the template says', async () => {
    dir = mkdtempSync(join(tmpdir(), 'herald-templates-'));
    mkdirSync(join(dir, 'email'));
    writeFileSync(join(dir, 'email', '_text-footer.hbs'), '--\n{{#if unsubscribeUrl}}UNSUBSCRIBE: {{upper unsubscribeUrl}}{{/if}}\n');
    stack = await startStack({ env: { HERALD_TEMPLATES_DIR: dir } });
    await stack.api('PUT', '/v1/audiences/partners', { email: { recipients: [LEAVING, STAYING] } });
    await openIncident(stack, { audiences: ['partners'] });
    for (const address of [LEAVING, STAYING]) {
      const [mail] = await stack.smtp.waitFor({ to: address }, 10_000);
      const link = /^<([^>]+)>$/.exec(mail!.headers['list-unsubscribe'] ?? '')?.[1];
      expect(mail!.text).toContain(`UNSUBSCRIBE: ${link!.toUpperCase()}`);
    }
  });
});
