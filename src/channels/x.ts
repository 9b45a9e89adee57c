/**
 * X: one post per incident update, each later post a reply to the previous
 * one, so that an incident reads as one thread (CONTRACT §4). Posts as a
 * single account with OAuth 1.0a user context.
 */
import https from 'node:https';
import {
  ApiPartialResponseError,
  ApiRequestError,
  ApiResponseError,
  TwitterApi,
  type TweetV2PostTweetResult,
  type TwitterApiErrorData,
  type TwitterRateLimit,
} from 'twitter-api-v2';
import {
  PermanentDeliveryError,
  RateLimitedError,
  TransientDeliveryError,
  type Channel,
  type DeliveryError,
  type Receipt,
} from './channel.js';

/** The account Herald posts as, and where the API is. */
export interface XChannelOptions {
  /** OAuth 1.0a consumer key (API key) of the X app. */
  appKey: string;
  /** OAuth 1.0a consumer secret of the X app. Never logged, never put in an error. */
  appSecret: string;
  /** OAuth 1.0a access token of the account that posts. */
  accessToken: string;
  /** OAuth 1.0a access token secret of the account that posts. Never logged, never put in an error. */
  accessSecret: string;
  /**
   * Base of the v2 API, `https:` only, ending in `/2/`. Requests go to
   * `<apiUrl>tweets` and are signed for exactly that URL.
   * @example `https://api.x.com/2/`
   */
  apiUrl: string;
  /**
   * How long one request may stay silent before it is abandoned as a
   * (transient) timeout.
   * @defaultValue 10000
   */
  timeoutMs?: number;
}

/** X answers a post in about a second; ten seconds of silence means trouble. */
const DEFAULT_TIMEOUT_MS = 10_000;

/**
 * A 429 names its reset time in `x-rate-limit-reset`; without it, try again in
 * a minute: another 429 costs nothing, a silent incident does.
 */
const DEFAULT_RETRY_AFTER_MS = 60_000;

/** Never ask the queue to retry sooner than this, even when the reset time has just passed (clock skew). */
const MIN_RETRY_AFTER_MS = 1000;

/** Statuses other than 429 that are worth another try, each with its reason. */
const TRANSIENT_STATUSES: Readonly<Record<number, string>> = {
  408: 'the server gave up waiting for the request',
  500: 'X had an internal error',
  502: 'X is down or being upgraded',
  503: 'X is over capacity',
  504: 'X timed out inside',
};

/** 4xx statuses with the code the delivery error carries and what they mean. */
const PERMANENT_STATUSES: Readonly<Record<number, { code: string; reason: string }>> = {
  400: { code: 'invalid_request', reason: 'X refused the post as sent' },
  401: { code: 'unauthorized', reason: 'the OAuth credentials or signature were refused' },
  403: { code: 'forbidden', reason: 'the account may not do this (suspended, app permissions, duplicate post)' },
  404: { code: 'not_found', reason: 'no such endpoint, or the post replied to is gone' },
};

/** Posts incident updates to X as a thread. */
export class XChannel implements Channel {
  readonly name = 'x' as const;

  readonly #secrets: readonly string[];
  readonly #apiUrl: string;
  readonly #timeoutMs: number;
  readonly #agent: https.Agent;
  readonly #client: TwitterApi;
  readonly #inFlight = new Set<Promise<unknown>>();
  #closed = false;

  constructor(options: XChannelOptions) {
    const apiUrl = new URL(options.apiUrl);
    if (apiUrl.protocol !== 'https:') throw new TypeError(`X apiUrl must be https, got ${apiUrl.protocol}`);
    if (!apiUrl.pathname.endsWith('/')) apiUrl.pathname += '/';
    this.#apiUrl = apiUrl.href;
    this.#timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.#secrets = [options.appSecret, options.accessSecret, options.appKey, options.accessToken].filter((s) => s !== '');
    this.#agent = new https.Agent({ keepAlive: true });
    this.#client = new TwitterApi(
      {
        appKey: options.appKey,
        appSecret: options.appSecret,
        accessToken: options.accessToken,
        accessSecret: options.accessSecret,
      },
      { httpAgent: this.#agent },
    );
  }

  /**
   * Publishes a post; with `replyTo`, as a reply to that post (the previous
   * update of the incident).
   * @returns the new post's id.
   */
  async post(text: string, replyTo?: string): Promise<Receipt> {
    if (this.#closed) {
      throw new TransientDeliveryError('channel_closed', 'X post not sent: the channel is closing');
    }
    const body = replyTo === undefined ? { text } : { text, reply: { in_reply_to_tweet_id: replyTo } };
    const attempt = this.#client.v2
      .post<TweetV2PostTweetResult>('tweets', body, {
        // The library has no base-URL option; a per-request prefix is signed as requested.
        prefix: this.#apiUrl,
        // v2 takes JSON; the library only guesses that from a path starting with /2/.
        forceBodyMode: 'json',
        timeout: this.#timeoutMs,
      })
      .then(
        (result): Receipt => {
          const id = result?.data?.id;
          // A 2xx without an id breaks the protocol; posting again would most
          // likely publish a duplicate that still cannot be threaded.
          if (typeof id !== 'string' || id === '') {
            throw new PermanentDeliveryError('invalid_response', 'X accepted the post without returning its id');
          }
          return { providerRef: id };
        },
        (error: unknown) => {
          throw this.#toDeliveryError(error);
        },
      );
    this.#inFlight.add(attempt);
    try {
      return await attempt;
    } finally {
      this.#inFlight.delete(attempt);
    }
  }

  /** Waits for posts in progress, then drops the pooled connections. */
  async close(): Promise<void> {
    this.#closed = true;
    await Promise.allSettled([...this.#inFlight]);
    this.#agent.destroy();
  }

  /**
   * The library's errors are not kept as `cause`: they hold the request, and
   * with it the OAuth Authorization header.
   */
  #toDeliveryError(error: unknown): DeliveryError {
    const text = (message: string): string => redact(message, this.#secrets);

    if (error instanceof ApiResponseError) {
      const status = error.code;
      const said = describeXError(error.data);
      if (status === 429) {
        const retryAfterMs = retryAfterMsFrom(error.rateLimit, error.headers['x-rate-limit-reset']);
        return new RateLimitedError(retryAfterMs, 'channel', text(`X post rate limited, retry after ${retryAfterMs} ms${said}`));
      }
      const transient = TRANSIENT_STATUSES[status];
      if (transient !== undefined || status >= 500) {
        return new TransientDeliveryError(`http_${status}`, text(`X post failed: HTTP ${status} (${transient ?? 'server error'})${said}`));
      }
      const permanent = PERMANENT_STATUSES[status] ?? { code: `http_${status}`, reason: 'X refused the request' };
      return new PermanentDeliveryError(permanent.code, text(`X post failed: HTTP ${status} (${permanent.reason})${said}`));
    }
    if (error instanceof ApiRequestError) {
      const cause = requestErrorOf(error)?.message ?? 'request failed';
      // The library destroys a silent request with exactly this message.
      return cause === 'Request timeout.'
        ? new TransientDeliveryError('timeout', text(`X post timed out after ${this.#timeoutMs} ms of silence`))
        : new TransientDeliveryError('network_error', text(`X post failed to reach X: ${cause}`));
    }
    if (error instanceof ApiPartialResponseError) {
      return new TransientDeliveryError('incomplete_response', text(`X post failed: ${error.message}`));
    }
    if (error instanceof PermanentDeliveryError) return error;
    const message = error instanceof Error ? error.message : String(error);
    return new TransientDeliveryError('unexpected_error', text(`X post failed: ${message}`));
  }
}

/**
 * Milliseconds until every exhausted window has reset: the 15-minute window
 * of `x-rate-limit-*`, and the 24-hour app or user windows when those are the
 * ones at zero.
 */
function retryAfterMsFrom(rateLimit: TwitterRateLimit | undefined, resetHeader: string | string[] | undefined): number {
  const resets: number[] = [];
  const headerReset = Number(Array.isArray(resetHeader) ? resetHeader[0] : resetHeader);
  if (rateLimit !== undefined && Number.isFinite(rateLimit.reset)) resets.push(rateLimit.reset);
  else if (Number.isFinite(headerReset) && resetHeader !== undefined) resets.push(headerReset);
  for (const window of [rateLimit?.day, rateLimit?.userDay]) {
    if (window !== undefined && window.remaining === 0 && Number.isFinite(window.reset)) resets.push(window.reset);
  }
  if (resets.length === 0) return DEFAULT_RETRY_AFTER_MS;
  const resetAtMs = Math.max(...resets) * 1000;
  return Math.max(MIN_RETRY_AFTER_MS, Math.ceil(resetAtMs - Date.now()));
}

/**
 * The socket error behind a failed request. twitter-api-v2 1.29 stores it as
 * `_options.error` while its `requestError` getter reads `_options.requestError`,
 * which is always undefined.
 */
function requestErrorOf(error: ApiRequestError): Error | undefined {
  const options = (error as unknown as { _options?: { error?: unknown; requestError?: unknown } })._options;
  const cause: unknown = (error.requestError as unknown) ?? options?.requestError ?? options?.error;
  return cause instanceof Error ? cause : undefined;
}

/** What X said about a refusal: the problem's title and detail, or the v1-style error messages. */
function describeXError(data: TwitterApiErrorData | undefined): string {
  if (typeof data !== 'object' || data === null) return '';
  const parts: string[] = [];
  if (typeof data.title === 'string') parts.push(data.title);
  if (typeof data.detail === 'string' && data.detail !== data.title) parts.push(data.detail);
  for (const e of data.errors ?? []) {
    const message: unknown = (e as { message?: unknown }).message;
    if (typeof message === 'string' && !parts.includes(message)) parts.push(message);
  }
  if (typeof data.error === 'string' && parts.length === 0) parts.push(data.error);
  return parts.length === 0 ? '' : `: ${parts.join(' — ')}`;
}

/** Belt and braces: no message built above should contain a credential, but none may. */
function redact(message: string, secrets: readonly string[]): string {
  let out = message;
  for (const secret of secrets) out = out.split(secret).join('[redacted]');
  return out;
}
