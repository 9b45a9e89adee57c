/**
 * The webhook address guard against IPv6 forms that lead to an IPv4 address
 * inside the network: IPv4-translated, 6to4, NAT64 (well-known and
 * local-use), Teredo, IPv4-mapped and IPv4-compatible. Each is refused when
 * an audience is stored (a literal in the URL) and when the channel connects
 * (a DNS answer), unless private targets are allowed.
 */
import type { LookupFunction } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { DeliveryError, PermanentDeliveryError } from '../../src/channels/channel.js';
import { checkWebhookUrl, isPrivateAddress } from '../../src/channels/webhook-address.js';
import { WebhookChannel } from '../../src/channels/webhook.js';
import { newWebhookSecret } from '../fakes/webhook-receiver.js';
import { BYPASSES } from '../fixtures/address-bypasses.js';

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
