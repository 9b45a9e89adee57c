/**
 * Which webhook targets Herald may call. Pure rules, no I/O: the webhook
 * channel applies them to every address a target resolves to at connect time,
 * and the API applies {@link checkWebhookUrl} to audience input so that a bad
 * URL is refused when it is stored rather than when an incident is open.
 *
 * "Private" means any address that is not public unicast on the Internet, as
 * ipaddr.js classifies ranges (loopback, RFC 1918, CGNAT, link-local,
 * unspecified, multicast, reserved, unique-local, …) — and every IPv6 form that
 * carries an IPv4 address a router or the kernel will reach: `::ffff:127.0.0.1`
 * reaches the same socket as `127.0.0.1`, a NAT64 or 6to4 relay forwards to
 * the IPv4 address inside.
 */
import { isIP } from 'node:net';
import ipaddr from 'ipaddr.js';

/**
 * The only ipaddr.js range a webhook may reach by default: everything else it
 * names (private, loopback, linkLocal, reserved, benchmarking, …) is not the
 * public Internet.
 */
const PUBLIC_RANGE = 'unicast';

/**
 * IPv6 ranges that embed an IPv4 address, and where: the address is as
 * public as the IPv4 address it leads to.
 */
const IPV4_CARRYING_RANGES: Readonly<Record<string, (address: ipaddr.IPv6) => ipaddr.IPv4>> = {
  // ::ffff:0:0/96 (RFC 4291): the kernel connects to the embedded IPv4 address.
  ipv4Mapped: (address) => address.toIPv4Address(),
  // ::ffff:0:0:0/96 IPv4-translated (RFC 6145/2765): a SIIT translator forwards to the last 32 bits.
  rfc6145: lastFourBytes,
  // 6to4 2002::/16 (RFC 3056): the relay tunnels to the IPv4 address in bits 16–47.
  '6to4': (address) => {
    const bytes = address.toByteArray();
    return new ipaddr.IPv4(bytes.slice(2, 6));
  },
};

/** NAT64's well-known prefix 64:ff9b::/96 (RFC 6052): the translator forwards to the last 32 bits. */
const NAT64_WELL_KNOWN = ipaddr.parseCIDR('64:ff9b::/96') as [ipaddr.IPv6, number];

/**
 * IPv6 ranges refused outright, whatever ipaddr.js calls them:
 * - `::/96` IPv4-compatible (RFC 4291, deprecated): ipaddr.js calls it unicast,
 *   yet `::7f00:1` is 127.0.0.1 to some stacks;
 * - `64:ff9b:1::/48` local-use NAT64 (RFC 8215): a network's own translator,
 *   and its prefix length — hence where the IPv4 address sits — is the
 *   network's choice, so the embedded address cannot be checked;
 * - `2001::/32` Teredo (RFC 4380): the client's IPv4 address is stored XOR-ed
 *   and reached through a relay; no webhook receiver needs it.
 */
const REFUSED_IPV6: readonly [ipaddr.IPv6, number][] = ['::/96', '64:ff9b:1::/48', '2001::/32'].map(
  (cidr) => ipaddr.parseCIDR(cidr) as [ipaddr.IPv6, number],
);

/** Host names that always mean "this machine" (RFC 6761 §6.3). */
const LOCALHOST_NAMES = /^(?:localhost|localhost\.localdomain)$|\.localhost$/;

/**
 * Longest URL accepted; browsers and servers commonly stop at about 2 KB, and a
 * longer one is more likely a paste accident than a real endpoint.
 */
export const MAX_WEBHOOK_URL_LENGTH = 2048;

/**
 * Is `ip` (an IPv4 or IPv6 literal, IPv6 optionally in brackets or with a
 * `%zone`) an address a webhook must not reach by default? Returns false for
 * a string that is not an IP literal: host names are checked after DNS.
 */
export function isPrivateAddress(ip: string): boolean {
  const literal = unbracket(ip);
  if (isIP(literal) === 0) return false;
  const address = ipaddr.parse(literal);
  return address.kind() === 'ipv4' ? !isPublicIpv4(address as ipaddr.IPv4) : !isPublicIpv6(address as ipaddr.IPv6);
}

/** Why a URL cannot be a webhook target, in the two ways the channel reports it. */
export type WebhookUrlProblem =
  | { code: 'invalid_url'; reason: string }
  | { code: 'private_address'; reason: string };

/**
 * Classifies a webhook URL without touching the network: `null` when it is
 * acceptable as written (its host may still resolve to a private address,
 * which the channel refuses at connect time).
 */
export function findWebhookUrlProblem(url: string, allowPrivate: boolean): WebhookUrlProblem | null {
  if (url.length > MAX_WEBHOOK_URL_LENGTH) {
    return { code: 'invalid_url', reason: `the URL is longer than ${MAX_WEBHOOK_URL_LENGTH} characters` };
  }
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return { code: 'invalid_url', reason: 'the URL is not a valid absolute URL' };
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    return { code: 'invalid_url', reason: 'the URL must use http or https' };
  }
  if (parsed.username !== '' || parsed.password !== '') {
    // Credentials in a URL end up in logs and error messages; the signature is the authentication.
    return { code: 'invalid_url', reason: 'the URL must not contain a user name or password' };
  }
  if (parsed.hostname === '') {
    return { code: 'invalid_url', reason: 'the URL has no host' };
  }
  if (allowPrivate) return null;

  // The WHATWG parser has already turned shorthand like http://2130706433/ into 127.0.0.1.
  const host = unbracket(parsed.hostname).replace(/\.$/, '').toLowerCase();
  if (LOCALHOST_NAMES.test(host)) {
    return { code: 'private_address', reason: 'the URL points at localhost' };
  }
  if (isIP(host) !== 0 && isPrivateAddress(host)) {
    return { code: 'private_address', reason: `the URL points at a private or loopback address (${host})` };
  }
  return null;
}

/**
 * Returns a human reason when `url` is not acceptable as a webhook target
 * (not http(s), has credentials, a literal private IP or `localhost` when
 * private targets are not allowed…), or `null` when it is. The reason never
 * repeats the URL itself, which may carry a token.
 */
export function checkWebhookUrl(url: string, allowPrivate: boolean): string | null {
  return findWebhookUrlProblem(url, allowPrivate)?.reason ?? null;
}

function unbracket(host: string): string {
  const bare = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
  const zone = bare.indexOf('%');
  return zone < 0 ? bare : bare.slice(0, zone);
}

function isPublicIpv4(address: ipaddr.IPv4): boolean {
  return address.range() === PUBLIC_RANGE;
}

function isPublicIpv6(address: ipaddr.IPv6): boolean {
  if (REFUSED_IPV6.some((cidr) => address.match(cidr))) return false;
  if (address.match(NAT64_WELL_KNOWN)) return isPublicIpv4(lastFourBytes(address));
  const range = address.range();
  const embedded = IPV4_CARRYING_RANGES[range];
  if (embedded !== undefined) return isPublicIpv4(embedded(address));
  return range === PUBLIC_RANGE;
}

function lastFourBytes(address: ipaddr.IPv6): ipaddr.IPv4 {
  return new ipaddr.IPv4(address.toByteArray().slice(12, 16));
}
