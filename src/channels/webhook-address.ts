/**
 * Which webhook targets Herald may call. Pure rules, no I/O: the webhook
 * channel applies them to every address a target resolves to at connect time,
 * and the API applies {@link checkWebhookUrl} to audience input so that a bad
 * URL is refused when it is stored rather than when an incident is open.
 *
 * "Private" means any address that is not on the public Internet: loopback,
 * RFC 1918, CGNAT, link-local, unspecified, multicast, IPv6 unique-local — and
 * the IPv4-in-IPv6 forms of all of those, because `::ffff:127.0.0.1` reaches
 * the same socket as `127.0.0.1`.
 */
import { isIP } from 'node:net';

/** One blocked IPv4 range and why it is blocked. */
interface Ipv4Range {
  base: string;
  prefix: number;
  reason: string;
}

/** IPv4 ranges a webhook may never reach unless private targets are allowed. */
const PRIVATE_IPV4_RANGES: readonly Ipv4Range[] = [
  { base: '0.0.0.0', prefix: 8, reason: '"this network"; 0.0.0.0 reaches the local host on Linux' },
  { base: '10.0.0.0', prefix: 8, reason: 'RFC 1918 private network' },
  { base: '100.64.0.0', prefix: 10, reason: 'RFC 6598 carrier-grade NAT, shared inside a provider' },
  { base: '127.0.0.0', prefix: 8, reason: 'loopback' },
  { base: '169.254.0.0', prefix: 16, reason: 'link-local; cloud metadata services live at 169.254.169.254' },
  { base: '172.16.0.0', prefix: 12, reason: 'RFC 1918 private network' },
  { base: '192.0.0.0', prefix: 24, reason: 'RFC 6890 IETF protocol assignments, not globally routable' },
  { base: '192.168.0.0', prefix: 16, reason: 'RFC 1918 private network' },
  { base: '198.18.0.0', prefix: 15, reason: 'RFC 2544 benchmarking, used for internal test networks' },
  { base: '224.0.0.0', prefix: 4, reason: 'multicast' },
  { base: '240.0.0.0', prefix: 4, reason: 'reserved, including the 255.255.255.255 broadcast address' },
];

/** Parsed once: [network as uint32, mask as uint32]. */
const PRIVATE_IPV4_MASKS: readonly (readonly [number, number])[] = PRIVATE_IPV4_RANGES.map((range) => {
  const mask = range.prefix === 0 ? 0 : (0xffffffff << (32 - range.prefix)) >>> 0;
  return [(parseIpv4(range.base)! & mask) >>> 0, mask] as const;
});

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
  const family = isIP(literal);
  if (family === 4) return isPrivateIpv4(parseIpv4(literal)!);
  if (family === 6) {
    const bytes = parseIpv6(literal);
    return bytes === null ? false : isPrivateIpv6(bytes);
  }
  return false;
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

function isPrivateIpv4(address: number): boolean {
  return PRIVATE_IPV4_MASKS.some(([network, mask]) => ((address & mask) >>> 0) === network);
}

/** Parses dotted-quad IPv4 (as validated by `net.isIP`) into an unsigned 32-bit number. */
function parseIpv4(text: string): number | null {
  const parts = text.split('.');
  if (parts.length !== 4) return null;
  let value = 0;
  for (const part of parts) {
    const octet = Number(part);
    if (!Number.isInteger(octet) || octet < 0 || octet > 255) return null;
    value = value * 256 + octet;
  }
  return value;
}

/** Parses an IPv6 literal (no brackets, no zone) into its 16 bytes. */
function parseIpv6(text: string): Uint8Array | null {
  let head = text;
  const tailWords: number[] = [];
  // A trailing dotted quad (::ffff:1.2.3.4) stands for the last two 16-bit words.
  const lastColon = head.lastIndexOf(':');
  const maybeV4 = head.slice(lastColon + 1);
  if (maybeV4.includes('.')) {
    const v4 = parseIpv4(maybeV4);
    if (v4 === null) return null;
    head = head.slice(0, lastColon + 1);
    if (head.endsWith(':') && !head.endsWith('::')) head = head.slice(0, -1);
    tailWords.push(v4 >>> 16, v4 & 0xffff);
  }
  const halves = head.split('::');
  if (halves.length > 2) return null;
  const toWords = (part: string | undefined): number[] | null => {
    if (part === undefined || part === '') return [];
    const words = part.split(':').map((w) => (/^[0-9a-f]{1,4}$/i.test(w) ? parseInt(w, 16) : Number.NaN));
    return words.some(Number.isNaN) ? null : words;
  };
  const left = toWords(halves[0]);
  const right = toWords(halves[1]);
  if (left === null || right === null) return null;
  const explicit = left.length + right.length + tailWords.length;
  let words: number[];
  if (halves.length === 2) {
    if (explicit > 7) return null;
    words = [...left, ...new Array<number>(8 - explicit).fill(0), ...right, ...tailWords];
  } else {
    if (explicit !== 8) return null;
    words = [...left, ...tailWords];
  }
  const bytes = new Uint8Array(16);
  words.forEach((word, i) => {
    bytes[i * 2] = word >>> 8;
    bytes[i * 2 + 1] = word & 0xff;
  });
  return bytes;
}

function isPrivateIpv6(b: Uint8Array): boolean {
  const byte = (i: number): number => b[i] ?? 0;
  const allZero = (from: number, to: number): boolean => b.subarray(from, to).every((x) => x === 0);
  const embeddedV4 = (): number => ((byte(12) << 24) | (byte(13) << 16) | (byte(14) << 8) | byte(15)) >>> 0;

  // ::ffff:0:0/96 — IPv4-mapped: the kernel connects to the embedded IPv4 address.
  if (allZero(0, 10) && byte(10) === 0xff && byte(11) === 0xff) return isPrivateIpv4(embeddedV4());
  // ::/96 — IPv4-compatible (deprecated) and, within it, :: (unspecified) and ::1 (loopback).
  if (allZero(0, 12)) return true;
  // 64:ff9b::/96 — NAT64: a translator forwards to the embedded IPv4 address.
  if (byte(0) === 0x00 && byte(1) === 0x64 && byte(2) === 0xff && byte(3) === 0x9b && allZero(4, 12)) {
    return isPrivateIpv4(embeddedV4());
  }
  // 100::/64 — discard-only (RFC 6666).
  if (byte(0) === 0x01 && byte(1) === 0x00 && allZero(2, 8)) return true;
  // fc00::/7 — unique local addresses, the IPv6 counterpart of RFC 1918.
  if ((byte(0) & 0xfe) === 0xfc) return true;
  // fe80::/10 link-local and fec0::/10 (deprecated) site-local.
  if (byte(0) === 0xfe && (byte(1) & 0xc0) >= 0x80) return true;
  // ff00::/8 — multicast.
  if (byte(0) === 0xff) return true;
  return false;
}
