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
});
