/**
 * Blog webhooks: a signed JSON `POST` per update (Standard Webhooks). The
 * receiver's answer decides what happens next: 2xx is delivered, `410 Gone`
 * disables the target, `429` (or a 5xx with `Retry-After`) holds back only
 * this target, other 4xx and redirects will never succeed as sent.
 */
import { createHmac } from 'node:crypto';
import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { EventEmitter } from 'node:events';
import { isIP, type LookupFunction } from 'node:net';
import { Agent, buildConnector, request } from 'undici';
import type { ChannelTarget } from '../domain/audience.js';
import {
  type Channel,
  type DeliveryError,
  PermanentDeliveryError,
  RateLimitedError,
  type Receipt,
  TargetGoneError,
  TransientDeliveryError,
} from './channel.js';
import { findWebhookUrlProblem, isPrivateAddress } from './webhook-address.js';

/** A receiver that has not answered in this long is treated as down for this attempt. */
export const DEFAULT_WEBHOOK_TIMEOUT_MS = 10_000;

/**
 * A blog's webhook endpoint is usually one small server, and several targets
 * may share it (a hosted blog platform); eight parallel requests is all the
 * load Herald should put on one origin.
 */
export const DEFAULT_WEBHOOK_CONNECTIONS_PER_ORIGIN = 8;

/** How long to hold a target back after a `429` that names no `Retry-After`. */
export const DEFAULT_WEBHOOK_RETRY_AFTER_MS = 30_000;

export const DEFAULT_WEBHOOK_USER_AGENT = 'Herald-Webhooks/1.0';

/** Longest excerpt of a receiver's error body quoted in an error message. */
const BODY_EXCERPT_CHARS = 200;

/**
 * Error bodies are read up to this many bytes to get the excerpt and keep the
 * connection reusable; a longer body is cut off by closing the connection.
 */
const MAX_ERROR_BODY_BYTES = 64 * 1024;

const SECRET_PREFIX = 'whsec_';
const STRICT_BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}(?:==)?|[A-Za-z0-9+/]{3}=?)?$/;

/** Options of {@link WebhookChannel}. */
export interface WebhookChannelOptions {
  /**
   * Longest a whole delivery may take: connecting, sending, and the
   * receiver's answer.
   * @defaultValue {@link DEFAULT_WEBHOOK_TIMEOUT_MS} (10 000 ms)
   */
  timeoutMs?: number;
  /**
   * Allow targets on loopback, private, link-local and other non-public
   * addresses (`HERALD_WEBHOOK_ALLOW_PRIVATE`). Checked on every connection,
   * after DNS, so a name that later re-resolves to a private address is still
   * refused.
   */
  allowPrivate: boolean;
  /**
   * `User-Agent` of every request.
   * @defaultValue {@link DEFAULT_WEBHOOK_USER_AGENT}
   */
  userAgent?: string;
  /**
   * Most connections kept open to one origin (scheme, host, port).
   * @defaultValue {@link DEFAULT_WEBHOOK_CONNECTIONS_PER_ORIGIN} (8)
   */
  maxConnectionsPerOrigin?: number;
  /**
   * Resolves host names, with the contract of `net.connect`'s `lookup`
   * (e.g. a resolver pinned to internal DNS). Unless private targets are
   * allowed, every address it returns is checked.
   * @defaultValue `lookup` from `node:dns`
   */
  lookup?: LookupFunction;
}

/** One webhook delivery: the serialised JSON and the id that stays the same across its retries. */
export interface WebhookPayload {
  /** `webhook-id`: the delivery's id, identical on every retry so receivers can de-duplicate. */
  id: string;
  /**
   * The JSON document, already serialised (as UTF-8 bytes when one body goes
   * to many targets: encoded once, not once per request); it is signed and
   * sent byte for byte.
   */
  body: string | Buffer;
}

/** Raised by the connect-time address check; turned into `private_address`. */
class PrivateAddressRefusedError extends Error {
  readonly code = 'EPRIVATEADDRESS';
  constructor(readonly address: string) {
    super(`refusing to connect to private address ${address}`);
  }
}

/** The blog webhook channel: one keep-alive `undici` agent for every receiver. */
export class WebhookChannel implements Channel {
  readonly name = 'webhook' as const;

  readonly #agent: Agent;
  readonly #timeoutMs: number;
  readonly #allowPrivate: boolean;
  readonly #userAgent: string;
  #closing: Promise<void> | undefined;

  constructor(options: WebhookChannelOptions) {
    this.#timeoutMs = options.timeoutMs ?? DEFAULT_WEBHOOK_TIMEOUT_MS;
    this.#allowPrivate = options.allowPrivate;
    this.#userAgent = options.userAgent ?? DEFAULT_WEBHOOK_USER_AGENT;
    this.#agent = new Agent({
      // One request at a time per connection: a slow receiver must not hold up the next delivery.
      pipelining: 1,
      connections: options.maxConnectionsPerOrigin ?? DEFAULT_WEBHOOK_CONNECTIONS_PER_ORIGIN,
      headersTimeout: this.#timeoutMs,
      bodyTimeout: this.#timeoutMs,
      connect: guardedConnector(this.#timeoutMs, options.allowPrivate, options.lookup ?? (dnsLookup as LookupFunction)),
    });
  }

  /** Signs and posts one delivery to one receiver. */
  async send(target: ChannelTarget<'webhook'>, payload: WebhookPayload): Promise<Receipt> {
    if (this.#closing !== undefined) throw new TransientDeliveryError('channel_closed', 'the webhook channel is closed');
    const problem = findWebhookUrlProblem(target.url, this.#allowPrivate);
    if (problem !== null) throw new PermanentDeliveryError(problem.code, `webhook target refused: ${problem.reason}`);
    const key = decodeSecret(target.secret);
    if (key === null) {
      throw new PermanentDeliveryError('invalid_secret', `webhook secret for ${describeTarget(target.url)} is not valid base64 (whsec_…)`);
    }
    const timestamp = Math.floor(Date.now() / 1000);
    const signature = createHmac('sha256', key).update(`${payload.id}.${timestamp}.`).update(payload.body).digest('base64');

    const deadline = new Deadline(this.#timeoutMs);
    try {
      return await this.#post(target, payload, signature, timestamp, deadline);
    } finally {
      deadline.clear();
    }
  }

  async #post(target: ChannelTarget<'webhook'>, payload: WebhookPayload, signature: string, timestamp: number, deadline: Deadline): Promise<Receipt> {
    let response: Awaited<ReturnType<typeof request>>;
    try {
      response = await request(target.url, {
        method: 'POST',
        dispatcher: this.#agent,
        headers: {
          'content-type': 'application/json',
          'user-agent': this.#userAgent,
          'webhook-id': payload.id,
          'webhook-timestamp': String(timestamp),
          'webhook-signature': `v1,${signature}`,
        },
        body: payload.body,
        // headersTimeout/bodyTimeout bound each phase; this bounds the whole delivery.
        signal: deadline,
      });
    } catch (error) {
      throw networkError(error, describeTarget(target.url), this.#timeoutMs);
    }

    const status = response.statusCode;
    if (status >= 200 && status < 300) {
      // Discarding the body hands the socket back to the pool for the next delivery.
      await response.body.dump().catch(() => undefined);
      return { providerRef: String(status) };
    }
    // Named by origin only (parsed here, off the hot path): a path or query may carry a token.
    const where = describeTarget(target.url);
    const excerpt = await readExcerpt(response.body);
    const said = excerpt === '' ? '' : `: ${excerpt}`;
    const retryAfter = response.headers['retry-after'];
    const retryAfterMs = parseRetryAfter(Array.isArray(retryAfter) ? retryAfter[0] : retryAfter);

    if (status === 410) throw new TargetGoneError(`webhook ${where} answered 410 Gone${said}`);
    if (status === 429) {
      throw new RateLimitedError(
        retryAfterMs ?? DEFAULT_WEBHOOK_RETRY_AFTER_MS,
        'target',
        `webhook ${where} answered 429 Too Many Requests${said}`,
      );
    }
    if (status >= 500) {
      // A receiver that says when to come back is obeyed for this target only.
      if (retryAfterMs !== undefined) {
        throw new RateLimitedError(retryAfterMs, 'target', `webhook ${where} answered ${status} with Retry-After${said}`);
      }
      throw new TransientDeliveryError(`http_${status}`, `webhook ${where} answered ${status}${said}`);
    }
    if (status === 408) throw new TransientDeliveryError('http_408', `webhook ${where} answered 408 Request Timeout${said}`);
    if (status >= 300 && status < 400) {
      // Following a redirect would re-send the signed body somewhere the audience never named.
      const location = response.headers.location;
      const to = typeof location === 'string' ? ` to ${describeTarget(location, target.url)}` : '';
      throw new PermanentDeliveryError(`http_${status}`, `webhook ${where} redirected (${status})${to}; redirects are not followed`);
    }
    throw new PermanentDeliveryError(`http_${status}`, `webhook ${where} answered ${status}${said}`);
  }

  /** Lets requests in progress finish, then closes every connection. Closing twice is harmless. */
  async close(): Promise<void> {
    this.#closing ??= this.#agent.close();
    await this.#closing;
  }
}

/**
 * A whole delivery's deadline, in the form undici's `request` accepts as its
 * `signal` besides an `AbortSignal`: an `EventEmitter` that emits `abort`,
 * with `aborted` and `reason`. `AbortSignal.timeout()` does the same at about
 * 40 times the CPU (an `EventTarget`, a weakly held timer and a finaliser:
 * 22 µs against 0.5 µs measured here), a tenth of what a whole webhook
 * delivery costs, and cannot be cleared once the delivery is done.
 */
class Deadline extends EventEmitter {
  aborted = false;
  reason: Error | undefined;
  readonly #timer: NodeJS.Timeout;

  constructor(ms: number) {
    super();
    this.#timer = setTimeout(() => {
      this.aborted = true;
      // Named as AbortSignal.timeout() names it; networkError() tells a timeout by it.
      this.reason = new DOMException(`the delivery took longer than ${ms} ms`, 'TimeoutError');
      this.emit('abort');
    }, ms);
  }

  clear(): void {
    clearTimeout(this.#timer);
  }
}

/**
 * The key of a `whsec_…` secret: the base64 after the prefix (or the whole
 * string when there is no prefix); `null` when that is not valid base64.
 */
export function decodeSecret(secret: string): Buffer | null {
  const encoded = secret.startsWith(SECRET_PREFIX) ? secret.slice(SECRET_PREFIX.length) : secret;
  if (encoded === '' || !STRICT_BASE64.test(encoded)) return null;
  return Buffer.from(encoded, 'base64');
}

/**
 * `Retry-After` as milliseconds from now: delay-seconds or an HTTP-date
 * (RFC 9110 §10.2.3). `undefined` when absent or unreadable.
 */
export function parseRetryAfter(value: string | undefined, now: number = Date.now()): number | undefined {
  if (value === undefined) return undefined;
  const trimmed = value.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 1000;
  const at = Date.parse(trimmed);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

/**
 * An undici connector that refuses private addresses unless they are allowed:
 * literal IPs are checked before connecting, names through a DNS lookup that
 * refuses when any resolved address is private — at connect time, so DNS
 * rebinding after validation cannot bypass it.
 */
function guardedConnector(timeoutMs: number, allowPrivate: boolean, lookup: LookupFunction): buildConnector.connector {
  const connect = buildConnector({ timeout: timeoutMs, lookup: allowPrivate ? lookup : publicOnlyLookup(lookup) });
  if (allowPrivate) return connect;
  return (options, callback) => {
    const host = options.hostname.replace(/^\[(.*)\]$/, '$1');
    if (isIP(host) !== 0 && isPrivateAddress(host)) {
      callback(new PrivateAddressRefusedError(host), null);
      return;
    }
    connect(options, callback);
  };
}

/** Wraps a resolver so that a name with any private address fails to resolve. */
function publicOnlyLookup(lookup: LookupFunction): LookupFunction {
  return (hostname, options, callback) => {
    // Asking for every address means one private answer among public ones cannot slip through.
    lookup(hostname, { ...options, all: true }, (error, result, family) => {
      const none = options.all === true ? [] : '';
      if (error) {
        callback(error, none, 0);
        return;
      }
      const addresses: LookupAddress[] =
        typeof result === 'string' ? [{ address: result, family: family ?? isIP(result) }] : result;
      const refused = addresses.find((a) => isPrivateAddress(a.address));
      if (refused !== undefined) {
        callback(new PrivateAddressRefusedError(refused.address), none, 0);
        return;
      }
      const first = addresses[0];
      if (first === undefined) {
        callback(Object.assign(new Error(`no address for ${hostname}`), { code: 'ENOTFOUND' }), none, 0);
        return;
      }
      if (options.all === true) callback(null, addresses);
      else callback(null, first.address, first.family);
    });
  };
}

/** undici / Node error codes of a failed request, and what they mean for a retry. */
const NETWORK_FAILURES: Readonly<Record<string, { code: string; what: string }>> = {
  UND_ERR_CONNECT_TIMEOUT: { code: 'timeout', what: 'connecting timed out' },
  UND_ERR_HEADERS_TIMEOUT: { code: 'timeout', what: 'no answer in time' },
  UND_ERR_BODY_TIMEOUT: { code: 'timeout', what: 'the answer stalled' },
  ETIMEDOUT: { code: 'timeout', what: 'connecting timed out' },
  ECONNREFUSED: { code: 'connection_refused', what: 'connection refused' },
  ECONNRESET: { code: 'connection_reset', what: 'connection reset' },
  EPIPE: { code: 'connection_reset', what: 'connection closed while sending' },
  UND_ERR_SOCKET: { code: 'connection_reset', what: 'connection closed before an answer' },
  UND_ERR_CLOSED: { code: 'connection_reset', what: 'connection closed' },
  ENOTFOUND: { code: 'dns_failed', what: 'the host name did not resolve' },
  EAI_AGAIN: { code: 'dns_failed', what: 'DNS lookup failed' },
  EHOSTUNREACH: { code: 'unreachable', what: 'host unreachable' },
  ENETUNREACH: { code: 'unreachable', what: 'network unreachable' },
};

/** A request that got no HTTP answer: all transient except a refused private address. */
function networkError(error: unknown, where: string, timeoutMs: number): DeliveryError {
  const refused = findInCauses(error, (e) => e instanceof PrivateAddressRefusedError);
  if (refused instanceof PrivateAddressRefusedError) {
    return new PermanentDeliveryError(
      'private_address',
      `webhook ${where} resolves to a private address (${refused.address}); set HERALD_WEBHOOK_ALLOW_PRIVATE to allow it`,
    );
  }
  if (findInCauses(error, (e) => e.name === 'TimeoutError' || e.name === 'AbortError') !== undefined) {
    return new TransientDeliveryError('timeout', `webhook ${where} did not answer within ${timeoutMs} ms`, { cause: error });
  }
  const coded = findInCauses(error, (e) => typeof codeOf(e) === 'string' && codeOf(e)! in NETWORK_FAILURES);
  const failure = coded === undefined ? undefined : NETWORK_FAILURES[codeOf(coded)!];
  if (failure !== undefined) {
    return new TransientDeliveryError(failure.code, `webhook ${where}: ${failure.what}`, { cause: error });
  }
  const detail = error instanceof Error ? error.message : String(error);
  return new TransientDeliveryError('network_error', `webhook ${where} failed: ${detail}`, { cause: error });
}

function codeOf(error: Error): string | undefined {
  const code = (error as { code?: unknown }).code;
  return typeof code === 'string' ? code : undefined;
}

function findInCauses(error: unknown, test: (e: Error) => boolean): Error | undefined {
  let current: unknown = error;
  for (let depth = 0; depth < 5 && current instanceof Error; depth++) {
    if (test(current)) return current;
    if (current instanceof AggregateError) {
      const inner = current.errors.find((e): e is Error => e instanceof Error && test(e));
      if (inner !== undefined) return inner;
    }
    current = current.cause;
  }
  return undefined;
}

/**
 * Reads at most {@link MAX_ERROR_BODY_BYTES} of an error body and returns a
 * short single-line excerpt; stopping early closes the connection instead.
 */
async function readExcerpt(body: AsyncIterable<Buffer> & { destroy(): unknown }): Promise<string> {
  const chunks: Buffer[] = [];
  let kept = 0;
  let read = 0;
  try {
    for await (const chunk of body) {
      read += chunk.length;
      if (kept < BODY_EXCERPT_CHARS * 4) {
        chunks.push(chunk.subarray(0, BODY_EXCERPT_CHARS * 4 - kept));
        kept += Math.min(chunk.length, BODY_EXCERPT_CHARS * 4 - kept);
      }
      if (read > MAX_ERROR_BODY_BYTES) {
        body.destroy();
        break;
      }
    }
  } catch {
    // The status already says what happened; a body cut short only shortens the excerpt.
  }
  const text = Buffer.concat(chunks)
    .toString('utf8')
    .replace(/[\u0000-\u001f\u007f\s]+/g, ' ')
    .trim();
  return text.length > BODY_EXCERPT_CHARS ? `${text.slice(0, BODY_EXCERPT_CHARS)}…` : text;
}

/** The origin of a target, for messages: a webhook path or query may carry a token. */
function describeTarget(url: string, base?: string): string {
  try {
    return new URL(url, base).origin;
  } catch {
    return '(invalid URL)';
  }
}
