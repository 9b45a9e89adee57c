/**
 * OAuth 1.0a (RFC 5849) request verification, as X performs it for user-context
 * requests: HMAC-SHA1 over the signature base string built from the method,
 * the base string URI and the normalized parameters (query, `oauth_*` from the
 * Authorization header, and a form-encoded body — a JSON body is not signed).
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

/** The four OAuth 1.0a user-context credentials. */
export interface OAuth1Credentials {
  /** Consumer key (API key). */
  appKey: string;
  /** Consumer secret. */
  appSecret: string;
  /** Access token of the user. */
  accessToken: string;
  /** Access token secret of the user. */
  accessSecret: string;
}

/** One received request, as far as its signature is concerned. */
export interface OAuth1SignedRequest {
  /** HTTP method, any case. */
  method: string;
  /** The absolute URL requested, e.g. `https://127.0.0.1:4431/2/tweets?x=1`. */
  url: string;
  /** The `Authorization` header, `OAuth k="v", …`. */
  authorization: string | undefined;
  /** The body when it is `application/x-www-form-urlencoded` (its parameters are signed); otherwise omit. */
  formBody?: string;
}

export interface OAuth1VerifyOptions {
  /**
   * The current time in epoch seconds.
   * @defaultValue `Date.now() / 1000`
   */
  nowSeconds?: number;
  /**
   * How far `oauth_timestamp` may be from now, in seconds; `Infinity` turns the check off.
   * @defaultValue 300
   */
  maxSkewSeconds?: number;
  /** Nonces already used; a repeated one is refused, and a new one is added. */
  seenNonces?: Set<string>;
}

export type OAuth1Verdict = { ok: true; params: ReadonlyMap<string, string> } | { ok: false; reason: string };

/** RFC 3986 percent-encoding, as RFC 5849 §3.6 requires (unreserved characters only stay as they are). */
export function percentEncode(value: string): string {
  return encodeURIComponent(value).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

/** The parameters of an `Authorization: OAuth …` header, decoded; undefined when it is not one. */
export function parseOAuthHeader(header: string | undefined): Map<string, string> | undefined {
  if (header === undefined) return undefined;
  const match = /^OAuth\s+(.*)$/is.exec(header.trim());
  if (match === null) return undefined;
  const params = new Map<string, string>();
  for (const part of (match[1] ?? '').split(',')) {
    const pair = /^\s*([^=\s]+)\s*=\s*"([^"]*)"\s*$/.exec(part);
    if (pair === null) {
      if (part.trim() === '') continue;
      return undefined;
    }
    try {
      params.set(decodeURIComponent(pair[1] ?? ''), decodeURIComponent(pair[2] ?? ''));
    } catch {
      return undefined;
    }
  }
  return params;
}

/** RFC 5849 §3.4.1.2: lowercase scheme and host, the port only when not the default, no query. */
export function baseStringUri(url: string): string {
  const u = new URL(url);
  // URL already lowercases scheme and host and drops the scheme's default port.
  return `${u.protocol}//${u.host}${u.pathname}`;
}

/** RFC 5849 §3.4.1: `METHOD&encoded-uri&encoded-normalized-parameters`. */
export function signatureBaseString(method: string, url: string, params: ReadonlyArray<readonly [string, string]>): string {
  const normalized = params
    .map(([k, v]) => [percentEncode(k), percentEncode(v)] as const)
    .sort(([ak, av], [bk, bv]) => (ak < bk ? -1 : ak > bk ? 1 : av < bv ? -1 : av > bv ? 1 : 0))
    .map(([k, v]) => `${k}=${v}`)
    .join('&');
  return [method.toUpperCase(), percentEncode(baseStringUri(url)), percentEncode(normalized)].join('&');
}

/** RFC 5849 §3.4.2: HMAC-SHA1 keyed with `consumerSecret&tokenSecret`, base64. */
export function hmacSha1Signature(baseString: string, consumerSecret: string, tokenSecret: string): string {
  const key = `${percentEncode(consumerSecret)}&${percentEncode(tokenSecret)}`;
  return createHmac('sha1', key).update(baseString).digest('base64');
}

/** Checks a request's OAuth 1.0a HMAC-SHA1 signature and credentials the way X does. */
export function verifyOAuth1Request(
  request: OAuth1SignedRequest,
  credentials: OAuth1Credentials,
  options: OAuth1VerifyOptions = {},
): OAuth1Verdict {
  const oauth = parseOAuthHeader(request.authorization);
  if (oauth === undefined) return { ok: false, reason: 'no OAuth Authorization header' };

  const signature = oauth.get('oauth_signature');
  if (signature === undefined) return { ok: false, reason: 'oauth_signature missing' };
  if (oauth.get('oauth_signature_method') !== 'HMAC-SHA1') return { ok: false, reason: 'oauth_signature_method is not HMAC-SHA1' };
  const version = oauth.get('oauth_version');
  if (version !== undefined && version !== '1.0') return { ok: false, reason: `oauth_version ${version} is not 1.0` };
  if (oauth.get('oauth_consumer_key') !== credentials.appKey) return { ok: false, reason: 'unknown oauth_consumer_key' };
  if (oauth.get('oauth_token') !== credentials.accessToken) return { ok: false, reason: 'unknown oauth_token' };

  const timestamp = Number(oauth.get('oauth_timestamp'));
  if (!Number.isInteger(timestamp)) return { ok: false, reason: 'oauth_timestamp missing or not an integer' };
  const now = options.nowSeconds ?? Date.now() / 1000;
  if (Math.abs(now - timestamp) > (options.maxSkewSeconds ?? 300)) return { ok: false, reason: 'oauth_timestamp out of range' };
  const nonce = oauth.get('oauth_nonce');
  if (nonce === undefined || nonce === '') return { ok: false, reason: 'oauth_nonce missing' };

  const params: Array<[string, string]> = [];
  for (const [k, v] of oauth) if (k !== 'oauth_signature' && k !== 'realm') params.push([k, v]);
  for (const [k, v] of new URL(request.url).searchParams) params.push([k, v]);
  if (request.formBody !== undefined) for (const [k, v] of new URLSearchParams(request.formBody)) params.push([k, v]);

  const expected = hmacSha1Signature(
    signatureBaseString(request.method, request.url, params),
    credentials.appSecret,
    credentials.accessSecret,
  );
  const a = Buffer.from(expected);
  const b = Buffer.from(signature);
  if (a.length !== b.length || !timingSafeEqual(a, b)) return { ok: false, reason: 'signature does not match' };

  // Only a correctly signed nonce is remembered, so a forged request cannot burn one.
  const nonceKey = `${timestamp}:${nonce}`;
  if (options.seenNonces !== undefined) {
    if (options.seenNonces.has(nonceKey)) return { ok: false, reason: 'oauth_nonce already used' };
    options.seenNonces.add(nonceKey);
  }
  return { ok: true, params: oauth };
}
