/**
 * Slack: the first update of an incident is a message in each channel, every
 * later update a broadcast reply in its thread, and the first message is
 * edited to show the current status (CONTRACT §4).
 */
import http from 'node:http';
import https from 'node:https';
import { ErrorCode, LogLevel, WebClient, type Logger } from '@slack/web-api';
import type { ChannelTarget } from '../domain/audience.js';
import type { SlackRendered } from '../render/types.js';
import {
  PermanentDeliveryError,
  RateLimitedError,
  TransientDeliveryError,
  type Channel,
  type DeliveryError,
  type Receipt,
} from './channel.js';

/** How the Slack channel reaches the Web API. */
export interface SlackChannelOptions {
  /**
   * Bot token (`xoxb-…`) with the `chat:write` scope (and `im:write` for
   * direct messages to commanders). Never logged, never put in an error.
   */
  token: string;
  /**
   * Base of the Web API, ending in `/api/`. `http:` is accepted so that tests
   * can point it at a local fake.
   * @example `https://slack.com/api/`
   */
  apiUrl: string;
  /**
   * How long one API call may stay silent before it is abandoned as a
   * (transient) timeout.
   * @defaultValue 10000
   */
  timeoutMs?: number;
}

/** What Slack hands back for a posted message. */
export interface SlackReceipt extends Receipt {
  /** The message's `ts`. */
  providerRef: string;
  /**
   * The id of the channel the message landed in, as Slack answered it: `C…`
   * for a channel posted to by `#name`, `D…` for a direct message. Edits
   * (`chat.update`) accept only ids, never names.
   */
  channelId: string;
}

/** Slack answers `chat.*` in well under a second; ten seconds of silence means trouble. */
const DEFAULT_TIMEOUT_MS = 10_000;

/**
 * A 429 is supposed to carry `Retry-After`; when it does not, wait one minute,
 * the window Slack's per-method tiers are counted over.
 */
const DEFAULT_RETRY_AFTER_MS = 60_000;

/**
 * Platform errors (`ok: false`) that will fail the same way however often the
 * message is sent again. Each code with the reason Slack gives for it.
 */
const PERMANENT_SLACK_ERRORS: Readonly<Record<string, string>> = {
  // The token itself
  not_authed: 'no token was sent',
  invalid_auth: 'the token is not valid',
  account_inactive: 'the token belongs to a deleted user or workspace',
  token_revoked: 'the token has been revoked',
  token_expired: 'the token has expired',
  not_allowed_token_type: 'this method does not accept this kind of token',
  no_permission: 'the workspace token lacks the permission for this action',
  missing_scope: 'the token lacks a scope this method needs (chat:write, im:write)',
  access_denied: 'access to this resource was denied',
  accesslimited: 'access to this method is limited on the current network',
  ekm_access_denied: 'administrators suspended the ability to post a message',
  enterprise_is_restricted: 'the method cannot be called from an Enterprise',
  two_factor_setup_required: 'two-factor setup is required',
  team_access_not_granted: 'the token has no access to this workspace',
  org_login_required: 'the workspace is undergoing an Enterprise migration that needs a login',
  // The target
  channel_not_found: 'the channel does not exist or the bot cannot see it',
  is_archived: 'the channel has been archived',
  not_in_channel: 'the bot is not a member of the channel',
  user_not_found: 'the user does not exist',
  user_not_visible: 'the bot cannot see this user',
  cannot_dm_bot: 'bots cannot be sent direct messages',
  restricted_action: 'a workspace preference forbids posting to this channel',
  restricted_action_read_only_channel: 'the channel is read-only',
  restricted_action_thread_only_channel: 'only thread replies are allowed in this channel',
  restricted_action_non_threadable_channel: 'the channel does not allow threads',
  // The message
  msg_too_long: 'the message text is too long',
  no_text: 'the message has no text',
  invalid_blocks: 'the blocks are not valid',
  invalid_blocks_format: 'the blocks are not a valid JSON array',
  too_many_attachments: 'too many attachments',
  as_user_not_supported: 'as_user is not supported for this token',
  // Editing the first message
  cant_update_message: 'this message cannot be edited by the bot',
  message_not_found: 'no message with this ts in this channel',
  edit_window_closed: 'the message can no longer be edited',
  // The request
  invalid_arguments: 'the method was called with invalid arguments',
  invalid_arg_name: 'an argument name is not valid',
  invalid_array_arg: 'an array was passed where it is not allowed',
  invalid_charset: 'the request charset is not valid',
  invalid_form_data: 'the form data is not valid',
  invalid_post_type: 'the request content type is not valid',
  missing_post_type: 'the request has no content type',
  invalid_json: 'the JSON body is not valid',
  json_not_object: 'the JSON body is not an object',
  unknown_method: 'the API has no such method',
  method_deprecated: 'the method is deprecated',
  deprecated_endpoint: 'the endpoint is deprecated',
};

/**
 * Platform errors worth another try later. Any code in neither table is
 * treated like these: the queue bounds the attempts, and a message lost to a
 * code Slack invents tomorrow is worse than a few wasted retries.
 */
const TRANSIENT_SLACK_ERRORS: Readonly<Record<string, string>> = {
  internal_error: 'Slack had an internal error',
  fatal_error: 'Slack had a catastrophic error',
  service_unavailable: 'Slack is temporarily unavailable',
  request_timeout: 'Slack timed out reading the request',
  ratelimited: 'too many requests (reported in the body rather than by HTTP 429)',
  message_limit_exceeded: 'members of this workspace are sending too many messages',
  team_added_to_org: 'the workspace is being migrated to an Enterprise',
};

/** Channel ids are `C…` (public), `G…` (private, older), `D…` (direct); anything else is a name. */
const CHANNEL_ID = /^[CGD][A-Z0-9]{2,}$/;

/** How many `#name` → id resolutions to remember for edits; audiences name far fewer channels. */
const MAX_REMEMBERED_CHANNEL_IDS = 1000;

/** HTTP statuses that mean "later" although they are 4xx. */
const TRANSIENT_HTTP_STATUSES: ReadonlySet<number> = new Set([
  408, // Request Timeout: the server gave up waiting for us
]);

/** The codes axios gives a request that ran out of time (`ETIMEDOUT` with clarified timeout errors). */
const TIMEOUT_ERROR_CODES: ReadonlySet<string> = new Set(['ECONNABORTED', 'ETIMEDOUT']);

/** The Web API client logs request failures at `warn`; errors reach the caller as typed errors instead. */
const SILENT_LOGGER: Logger = {
  debug: () => undefined,
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
  setLevel: () => undefined,
  getLevel: () => LogLevel.ERROR,
  setName: () => undefined,
};

/** Posts incident updates to Slack channels and commander reminders to users. */
export class SlackChannel implements Channel {
  readonly name = 'slack' as const;

  readonly #token: string;
  readonly #agent: http.Agent;
  readonly #client: WebClient;
  readonly #inFlight = new Set<Promise<unknown>>();
  /** `#name` → id, learned from `chat.postMessage` answers (which accept names; `chat.update` does not). */
  readonly #channelIds = new Map<string, string>();
  #closed = false;

  constructor(options: SlackChannelOptions) {
    this.#token = options.token;
    const apiUrl = new URL(options.apiUrl);
    this.#agent =
      apiUrl.protocol === 'https:' ? new https.Agent({ keepAlive: true }) : new http.Agent({ keepAlive: true });
    this.#client = new WebClient(options.token, {
      slackApiUrl: apiUrl.href,
      agent: this.#agent,
      timeout: options.timeoutMs ?? DEFAULT_TIMEOUT_MS,
      // The delivery queue owns retries and rate limits; the client must
      // report them at once instead of sleeping inside a job.
      retryConfig: { retries: 0 },
      rejectRateLimitedCalls: true,
      logger: SILENT_LOGGER,
      // Only ever call the configured API, whatever a method name looks like.
      allowAbsoluteUrls: false,
    });
  }

  /**
   * Posts a message to a channel; with `thread`, as a reply in that thread
   * that is also broadcast to the channel. Links are not unfurled: an
   * incident update should not grow a preview card.
   * @returns the new message's `ts`, and the id of the channel it is in.
   */
  async post(target: ChannelTarget<'slack'>, message: SlackRendered, thread?: { rootTs: string }): Promise<SlackReceipt> {
    const method = 'chat.postMessage';
    return this.#call(method, target.slackChannel, async () => {
      const fields = { channel: target.slackChannel, text: message.text, unfurl_links: false, unfurl_media: false };
      const result = await this.#client.chat.postMessage(
        thread === undefined ? fields : { ...fields, thread_ts: thread.rootTs, reply_broadcast: true },
      );
      const receipt = { providerRef: requireTs(result.ts, method), channelId: result.channel ?? target.slackChannel };
      this.#rememberChannelId(target.slackChannel, receipt.channelId);
      return receipt;
    });
  }

  /**
   * Replaces the text of an incident's first message in a channel.
   * `chat.update` takes only a channel id: pass the `channelId` of the root's
   * receipt when the target names its channel (`#status`); otherwise the id
   * this channel learned when posting there is used, if it did.
   */
  async editRoot(target: ChannelTarget<'slack'>, rootTs: string, message: SlackRendered, channelId?: string): Promise<void> {
    const channel = channelId ?? this.#channelIds.get(target.slackChannel) ?? target.slackChannel;
    await this.#call('chat.update', channel, async () => {
      await this.#client.chat.update({ channel, ts: rootTs, text: message.text });
    });
  }

  /**
   * Sends a direct message to a user (a commander reminder). Slack opens the
   * bot's DM with the user when `channel` is a user id.
   * @returns the message's `ts`.
   */
  async sendDirect(userId: string, message: SlackRendered): Promise<SlackReceipt> {
    const method = 'chat.postMessage';
    return this.#call(method, userId, async () => {
      const result = await this.#client.chat.postMessage({
        channel: userId,
        text: message.text,
        unfurl_links: false,
        unfurl_media: false,
      });
      return { providerRef: requireTs(result.ts, method), channelId: result.channel ?? userId };
    });
  }

  /** Waits for calls in progress, then drops the pooled connections. */
  async close(): Promise<void> {
    this.#closed = true;
    await Promise.allSettled([...this.#inFlight]);
    this.#agent.destroy();
  }

  #rememberChannelId(channel: string, channelId: string): void {
    if (CHANNEL_ID.test(channel) || channel === channelId) return;
    if (this.#channelIds.size >= MAX_REMEMBERED_CHANNEL_IDS) {
      const oldest = this.#channelIds.keys().next().value;
      if (oldest !== undefined) this.#channelIds.delete(oldest);
    }
    this.#channelIds.set(channel, channelId);
  }

  async #call<T>(method: string, destination: string, send: () => Promise<T>): Promise<T> {
    if (this.#closed) {
      throw new TransientDeliveryError('channel_closed', `Slack ${method} to ${destination} not sent: the channel is closing`);
    }
    const attempt = send().catch((error: unknown) => {
      throw toDeliveryError(error, `Slack ${method} to ${destination}`, this.#token);
    });
    this.#inFlight.add(attempt);
    try {
      return await attempt;
    } finally {
      this.#inFlight.delete(attempt);
    }
  }
}

function requireTs(ts: string | undefined, method: string): string {
  // ok: true without a ts breaks the protocol; sending again would most likely
  // post a duplicate that can still not be threaded.
  if (typeof ts !== 'string' || ts === '') {
    throw new PermanentDeliveryError('invalid_response', `Slack ${method} answered ok without a message ts`);
  }
  return ts;
}

interface SlackClientError {
  code?: unknown;
  message?: unknown;
  retryAfter?: unknown;
  statusCode?: unknown;
  statusMessage?: unknown;
  data?: { error?: unknown };
  original?: { code?: unknown; message?: unknown };
}

/**
 * Turns whatever the Web API client threw into the delivery error the queue
 * understands. The client's error is not kept as `cause`: it carries the
 * request config, Authorization header included.
 */
function toDeliveryError(error: unknown, what: string, token: string): DeliveryError {
  const e: SlackClientError = typeof error === 'object' && error !== null ? (error as SlackClientError) : {};
  const text = (message: string): string => redact(message, token);

  switch (e.code) {
    case ErrorCode.RateLimitedError: {
      const seconds = typeof e.retryAfter === 'number' && e.retryAfter >= 0 ? e.retryAfter : undefined;
      const retryAfterMs = seconds === undefined ? DEFAULT_RETRY_AFTER_MS : seconds * 1000;
      return new RateLimitedError(retryAfterMs, 'channel', text(`${what}: rate limited, retry after ${retryAfterMs} ms`));
    }
    case ErrorCode.PlatformError: {
      const code = typeof e.data?.error === 'string' ? e.data.error : 'unknown_error';
      const permanent = PERMANENT_SLACK_ERRORS[code];
      if (permanent !== undefined) return new PermanentDeliveryError(code, text(`${what} failed: ${code} (${permanent})`));
      const reason = TRANSIENT_SLACK_ERRORS[code] ?? 'an error Slack may not repeat';
      return new TransientDeliveryError(code, text(`${what} failed: ${code} (${reason})`));
    }
    case ErrorCode.HTTPError: {
      const status = typeof e.statusCode === 'number' ? e.statusCode : 0;
      const statusText = typeof e.statusMessage === 'string' && e.statusMessage !== '' ? ` ${e.statusMessage}` : '';
      const message = text(`${what} failed: HTTP ${status}${statusText}`);
      if (status >= 400 && status < 500 && !TRANSIENT_HTTP_STATUSES.has(status)) {
        return new PermanentDeliveryError(`http_${status}`, message);
      }
      return new TransientDeliveryError(`http_${status}`, message);
    }
    case ErrorCode.RequestError: {
      const original = e.original ?? {};
      const cause = typeof original.message === 'string' ? original.message : String(e.message ?? 'request failed');
      const isTimeout = typeof original.code === 'string' && TIMEOUT_ERROR_CODES.has(original.code);
      return isTimeout
        ? new TransientDeliveryError('timeout', text(`${what} timed out: ${cause}`))
        : new TransientDeliveryError('network_error', text(`${what} failed to reach Slack: ${cause}`));
    }
  }

  const message = error instanceof Error ? error.message : String(error);
  // The client reports a 429 without a usable Retry-After as a plain Error.
  if (message.startsWith('Retry header did not contain a valid timeout')) {
    return new RateLimitedError(
      DEFAULT_RETRY_AFTER_MS,
      'channel',
      text(`${what}: rate limited without a Retry-After, retry after ${DEFAULT_RETRY_AFTER_MS} ms`),
    );
  }
  return new TransientDeliveryError('unexpected_error', text(`${what} failed: ${message}`));
}

/** Belt and braces: no message built above should contain the token, but none may. */
function redact(message: string, token: string): string {
  return token === '' ? message : message.split(token).join('[redacted]');
}
