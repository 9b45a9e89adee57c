/**
 * With private webhook targets not allowed (the production default), PUT of
 * an audience refuses a webhook URL that points inside the network, naming
 * the field, rather than accepting it and failing at delivery time.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BYPASSES } from '../fixtures/address-bypasses.js';
import { newWebhookSecret } from '../fakes/webhook-receiver.js';
import { startStack, type Stack } from '../support/stack.js';
import { expectError } from './helpers.js';

describe('PUT /v1/audiences/:name with HERALD_WEBHOOK_ALLOW_PRIVATE=false', () => {
  let stack: Stack;
  const secret = newWebhookSecret();

  beforeAll(async () => {
    stack = await startStack({ env: { HERALD_WEBHOOK_ALLOW_PRIVATE: 'false' }, roles: ['api'] });
  });

  afterAll(async () => {
    await stack?.stop();
  });

  it.each([
    'http://127.0.0.1:8080/hook',
    'http://localhost/hook',
    'http://169.254.169.254/latest/meta-data',
    'http://10.1.2.3/hook',
    'http://[::1]/hook',
    'http://[::ffff:192.168.0.1]/hook',
    'http://2130706433/hook',
    // IPv6 forms that lead to a private IPv4 address, and reserved ranges.
    ...BYPASSES.filter(([, address]) => address.includes(':')).map(([, address]) => `https://[${address}]/hooks/status`),
  ])('%s → 400 naming body.webhooks[1].url; nothing stored', async (url) => {
    const res = await stack.api('PUT', '/v1/audiences/partners', {
      webhooks: [
        { url: 'https://blog.example/hooks/status', secret },
        { url, secret },
      ],
    });
    const error = expectError(res, 400, 'invalid_request');
    expect(error.message).toContain('body.webhooks[1].url');
    expect(res.body).not.toContain(secret);
    expectError(await stack.api('GET', '/v1/audiences/partners'), 404, 'not_found');
  });

  it('a public https URL is accepted', async () => {
    const res = await stack.api('PUT', '/v1/audiences/partners', { webhooks: [{ url: 'https://blog.example/hooks/status', secret }] });
    expect(res.statusCode).toBe(200);
    expect(res.json().webhooks).toEqual([{ url: 'https://blog.example/hooks/status', secret: expect.not.stringContaining(secret) }]);
  });
});
