/**
 * Contract §3, audiences: to a `read` token a webhook URL is shown without
 * its query string and with its path past the first segment masked (such
 * URLs often carry a capability token); the full URL only to `write` tokens.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newWebhookSecret } from '../fakes/webhook-receiver.js';
import { READ_TOKEN, WRITE_TOKEN, startStack, type Stack } from '../support/stack.js';

describe('given an audience whose webhook URLs carry capability tokens', () => {
  let stack: Stack;
  const secret = newWebhookSecret();
  /** Parts of the URLs below that only a write token may see. */
  const capabilities = ['T0CAPA', 'B0CAPB', 'cap-in-path-0123', 'cap-in-query-4567', 'frag-secret'];
  let origin: string;
  let urls: string[];

  beforeAll(async () => {
    stack = await startStack();
    origin = new URL(stack.hooks.url('/')).origin;
    // (A user name or password in a webhook URL is refused when it is stored.)
    urls = [
      `${origin}/services/T0CAPA/B0CAPB/cap-in-path-0123`,
      `${origin}/hooks?token=cap-in-query-4567`,
      `${origin}/blog/status?v=2#frag-secret`,
      `${origin}/`,
    ];
    const res = await stack.api('PUT', '/v1/audiences/partners', { webhooks: urls.map((url) => ({ url, secret })) });
    expect(res.statusCode, res.body).toBe(200);
    // The writer who stored them gets them back whole.
    expect((res.json().webhooks as Array<{ url: string }>).map((w) => w.url)).toEqual(urls);
  });

  afterAll(async () => {
    await stack?.stop();
  });

  const shownUrls = (body: { webhooks: Array<{ url: string }> }) => body.webhooks.map((w) => w.url);

  it('a read token sees origin and first path segment only, in GET one and GET all', async () => {
    const expected = [`${origin}/services/…`, `${origin}/hooks`, `${origin}/blog/…`, `${origin}/`];
    const one = await stack.api('GET', '/v1/audiences/partners', undefined, { token: READ_TOKEN });
    expect(one.statusCode).toBe(200);
    expect(shownUrls(one.json())).toEqual(expected);
    const all = await stack.api('GET', '/v1/audiences', undefined, { token: READ_TOKEN });
    expect(all.statusCode).toBe(200);
    expect(shownUrls(all.json().audiences[0])).toEqual(expected);
    for (const body of [one.body, all.body]) {
      for (const capability of [...capabilities, secret]) expect(body).not.toContain(capability);
    }
  });

  it('a write token sees the full URLs, never the secret', async () => {
    const one = await stack.api('GET', '/v1/audiences/partners', undefined, { token: WRITE_TOKEN });
    expect(shownUrls(one.json())).toEqual(urls);
    const all = await stack.api('GET', '/v1/audiences', undefined, { token: WRITE_TOKEN });
    expect(shownUrls(all.json().audiences[0])).toEqual(urls);
    expect(one.body + all.body).not.toContain(secret);
  });

  it('the delivery ledger masks them the same way for a read token, and quotes no capability in an error', async () => {
    // The receiver refuses the capability URL and quotes it back, as receivers do.
    stack.hooks.respond('/services/T0CAPA/B0CAPB/cap-in-path-0123', { status: 400, body: 'bad path /services/T0CAPA/B0CAPB/cap-in-path-0123' });
    const opened = await stack.api('POST', '/v1/incidents', {
      title: 'API errors', severity: 'minor', message: 'Looking into it.', audiences: ['partners'],
    });
    expect(opened.statusCode, opened.body).toBe(201);
    const id = opened.json().incident.id as string;
    await stack.hooks.waitFor(urls.length, 20_000);
    const ledger = async (token: string) => {
      for (;;) {
        const res = await stack.api('GET', `/v1/incidents/${id}/deliveries`, undefined, { token });
        expect(res.statusCode).toBe(200);
        const deliveries = res.json().deliveries as Array<{ state: string; target: string; error: string | null }>;
        if (deliveries.length === urls.length && deliveries.every((d) => d.state === 'sent' || d.state === 'dead')) return { deliveries, body: res.body };
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    };
    const read = await ledger(READ_TOKEN);
    expect(read.deliveries.map((d) => d.target).sort()).toEqual([`${origin}/`, `${origin}/blog/…`, `${origin}/hooks`, `${origin}/services/…`]);
    expect(read.deliveries.find((d) => d.state === 'dead')?.error).toMatch(/bad path/);
    for (const capability of [...capabilities, secret]) expect(read.body).not.toContain(capability);
    const write = await ledger(WRITE_TOKEN);
    expect(write.body).toContain('/services/T0CAPA/B0CAPB/cap-in-path-0123');
    expect(write.body).not.toContain(secret);
  });
});
