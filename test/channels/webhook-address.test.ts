/**
 * The webhook address guard against IPv6 forms that lead to an IPv4 address
 * inside the network: IPv4-translated, 6to4, NAT64 (well-known and
 * local-use), Teredo, IPv4-mapped and IPv4-compatible. Each is refused when
 * an audience is stored (a literal in the URL) and when the channel connects
 * (a DNS answer), unless private targets are allowed.
 */
import type { LookupFunction } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { DeliveryError, PermanentDeliveryError } from '../../src/channels/channel.js';
import { checkWebhookUrl, isPrivateAddress } from '../../src/channels/webhook-address.js';
import { WebhookChannel } from '../../src/channels/webhook.js';
import { newWebhookSecret } from '../fakes/webhook-receiver.js';
import { expectError } from '../api/helpers.js';
import { startStack, type Stack } from '../support/stack.js';

/** Addresses that reach a private, loopback or metadata IPv4 address, each through another IPv6 form. */
const BYPASSES: ReadonlyArray<readonly [string, string]> = [
  ['IPv4-translated ::ffff:0:0:0/96 of 127.0.0.1', '::ffff:0:7f00:1'],
  ['IPv4-translated ::ffff:0:0:0/96 of 169.254.169.254 (dotted)', '::ffff:0:169.254.169.254'],
  ['6to4 2002::/16 of 127.0.0.1', '2002:7f00:1::1'],
  ['6to4 2002::/16 of 10.0.0.1', '2002:a00:1::'],
  ['6to4 2002::/16 of 192.168.1.1', '2002:c0a8:101:1::1'],
  ['NAT64 local-use 64:ff9b:1::/48 of 127.0.0.1', '64:ff9b:1::7f00:1'],
  ['NAT64 local-use 64:ff9b:1::/48, any address', '64:ff9b:1:abcd::1'],
  ['NAT64 64:ff9b::/96 of 169.254.169.254', '64:ff9b::a9fe:a9fe'],
  ['Teredo 2001::/32 (client 192.168.0.1, XOR-ed)', '2001:0:4136:e378:8000:63bf:3f57:fefe'],
  ['Teredo 2001::/32, any', '2001::1'],
  ['IPv4-mapped ::ffff:0:0/96 of 127.0.0.1', '::ffff:7f00:1'],
  ['IPv4-mapped ::ffff:0:0/96 of 100.64.0.1 (CGNAT)', '::ffff:100.64.0.1'],
  ['IPv4-compatible ::/96 of 127.0.0.1', '::7f00:1'],
  ['documentation 2001:db8::/32', '2001:db8::1'],
  ['benchmarking 2001:2::/48', '2001:2::1'],
  ['discard 100::/64', '100::1'],
  ['site-local fec0::/10', 'fec0::1'],
  ['IPv4 reserved 240.0.0.0/4', '240.0.0.1'],
  ['IPv4 documentation 192.0.2.0/24', '192.0.2.10'],
  ['IPv4 benchmarking 198.18.0.0/15', '198.18.0.1'],
];

/** Public addresses, also in the IPv6 forms that carry a public IPv4 address. */
const PUBLIC: ReadonlyArray<readonly [string, string]> = [
  ['IPv4', '93.184.215.14'],
  ['IPv6', '2606:4700::1111'],
  ['IPv4-mapped of a public address', '::ffff:8.8.8.8'],
  ['IPv4-translated of a public address', '::ffff:0:8.8.8.8'],
  ['6to4 of a public address', '2002:808:808::1'],
  ['NAT64 64:ff9b::/96 of a public address', '64:ff9b::808:808'],
];

describe('isPrivateAddress', () => {
  it.each(BYPASSES)('%s (%s) is private', (_what, address) => {
    expect(isPrivateAddress(address)).toBe(true);
    expect(isPrivateAddress(`[${address}]`)).toBe(true);
  });

  it.each(PUBLIC)('%s (%s) is public', (_what, address) => {
    expect(isPrivateAddress(address)).toBe(false);
  });
});

describe('checkWebhookUrl', () => {
  it.each(BYPASSES)('refuses a URL on %s', (_what, address) => {
    const host = address.includes(':') ? `[${address}]` : address;
    expect(checkWebhookUrl(`https://${host}/hooks/status`, false)).toMatch(/private or loopback address/);
    expect(checkWebhookUrl(`https://${host}/hooks/status`, true)).toBeNull();
  });
});

/** A resolver that answers one made-up name with `address`, as DNS would. */
function resolverFor(name: string, address: string): LookupFunction {
  const family = address.includes(':') ? 6 : 4;
  return ((hostname, options, callback) => {
    if (hostname !== name) {
      callback(Object.assign(new Error(`no address for ${hostname}`), { code: 'ENOTFOUND' }), '', 0);
      return;
    }
    if (options.all === true) callback(null, [{ address, family }]);
    else callback(null, address, family);
  }) as LookupFunction;
}

describe('the webhook channel at connect time', () => {
  let channel: WebhookChannel | undefined;

  afterEach(async () => {
    await channel?.close();
    channel = undefined;
  });

  it.each(BYPASSES)('refuses a host name that resolves to %s', async (_what, address) => {
    channel = new WebhookChannel({ allowPrivate: false, lookup: resolverFor('blog.herald.test', address) });
    const url = 'https://blog.herald.test/hooks/status';
    expect(checkWebhookUrl(url, false)).toBeNull();

    const error = await channel.send({ channel: 'webhook', key: url, url, secret: newWebhookSecret() }, { id: 'd', body: '{}' }).then(
      () => {
        throw new Error('expected the delivery to be refused');
      },
      (e: unknown) => e,
    );

    expect(error).toBeInstanceOf(PermanentDeliveryError);
    expect((error as DeliveryError).code).toBe('private_address');
  });
});

describe('PUT /v1/audiences/:name with HERALD_WEBHOOK_ALLOW_PRIVATE=false', () => {
  let stack: Stack;
  const secret = newWebhookSecret();

  beforeAll(async () => {
    stack = await startStack({ env: { HERALD_WEBHOOK_ALLOW_PRIVATE: 'false' }, roles: ['api'] });
  });

  afterAll(async () => {
    await stack?.stop();
  });

  it.each(BYPASSES.filter(([, address]) => address.includes(':')))('%s → 400 naming the field; nothing stored', async (_what, address) => {
    const res = await stack.api('PUT', '/v1/audiences/partners', { webhooks: [{ url: `https://[${address}]/hooks/status`, secret }] });

    const error = expectError(res, 400, 'invalid_request');
    expect(error.message).toContain('body.webhooks[0].url');
    expect(res.body).not.toContain(secret);
    expectError(await stack.api('GET', '/v1/audiences/partners'), 404, 'not_found');
  });
});
