/**
 * A local Slack Web API that speaks the real wire protocol: `POST
 * /api/<method>` with a form-encoded or JSON body, `Authorization: Bearer`,
 * `{ ok, … }` answers, HTTP 429 with `Retry-After` when rate limited.
 *
 * It keeps the messages it accepted (per channel, with their threads and
 * edits), records every call, and can be told to misbehave for fault tests.
 *
 * @example
 * const slack = await startSlackFake();
 * const channel = new SlackChannel({ token: slack.token, apiUrl: slack.url });
 * // … post an incident …
 * await slack.waitFor(2); // two messages accepted
 * expect(slack.posts('C0123')[0]?.text).toContain('Email delivery delayed');
 * await slack.close();
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { readBody, writeJson } from './http-body.js';
import { Waiters } from './waiters.js';

export interface SlackFakeOptions {
  /**
   * The bot token the fake accepts; any other answers `invalid_auth`.
   * @defaultValue `'xoxb-herald-test-token'`
   */
  token?: string;
  /**
   * The channels that exist, by id (`C0123`) or name (`#status`); posting
   * elsewhere answers `channel_not_found`. User ids (`U…`, `W…`) are always
   * accepted, as Slack opens a DM for them.
   * @defaultValue every channel exists
   */
  channels?: readonly string[];
}

/** One request to the fake, in arrival order. */
export interface SlackCall {
  /** The Web API method, e.g. `chat.postMessage`. */
  method: string;
  /** Body (and query) parameters. Form-encoded values are strings, as sent (`reply_broadcast: 'true'`). */
  params: Readonly<Record<string, unknown>>;
  /** The token the call carried (header or `token` parameter), if any. */
  token: string | undefined;
  /** `Date.now()` when the body had arrived. */
  receivedAt: number;
  /** What the fake answered; undefined while it hangs or after it dropped the connection. */
  response?: { status: number; body: unknown };
}

/** A message Slack accepted through `chat.postMessage`. */
export interface SlackPost {
  /** The channel as sent: an id, a `#name`, or a user id for a direct message. */
  channel: string;
  /** The id Slack answered with: the channel's for a `#name`, `D…` for a direct message. */
  channelId: string;
  ts: string;
  text: string;
  /** Set when the message is a thread reply. */
  threadTs?: string;
  /** `reply_broadcast` as sent, read as Slack reads it. */
  replyBroadcast: boolean;
  params: Readonly<Record<string, unknown>>;
  receivedAt: number;
}

/** An edit Slack accepted through `chat.update`. */
export interface SlackUpdate {
  channel: string;
  ts: string;
  text: string;
  params: Readonly<Record<string, unknown>>;
  receivedAt: number;
}

/** A message as it now stands in a channel. */
export interface SlackStoredMessage {
  /** The channel id. */
  channel: string;
  ts: string;
  /** Current text, after any `chat.update`. */
  text: string;
  threadTs?: string;
  /** How many times `chat.update` changed it. */
  edits: number;
}

/** A hand-made answer. `status` defaults to 200, the body is sent as JSON unless it is a string. */
export interface SlackReply {
  status?: number;
  headers?: Readonly<Record<string, string>>;
  body: unknown;
}

/** Answers a call in place of the fake; `undefined` lets the fake answer as usual. */
export type SlackResponder = (call: SlackCall) => SlackReply | undefined | Promise<SlackReply | undefined>;

export interface SlackFake {
  /** The base to pass as `apiUrl`, e.g. `http://127.0.0.1:43123/api/`. */
  readonly url: string;
  /** The token the fake accepts. */
  readonly token: string;
  /** Every call, in arrival order (including refused and hung ones). */
  readonly calls: readonly SlackCall[];
  /** Accepted `chat.postMessage` calls, optionally only those to one channel (by what was sent, or by id). */
  posts(channel?: string): SlackPost[];
  /** Accepted `chat.update` calls, optionally only those in one channel. */
  updates(channel?: string): SlackUpdate[];
  /** A message as it now stands, by channel id or name (survives `reset()`). */
  message(channel: string, ts: string): SlackStoredMessage | undefined;
  /** The accepted replies in a thread, oldest first (channel by what was sent, or by id). */
  thread(channel: string, rootTs: string): SlackPost[];
  /**
   * Resolves once `posts().length >= count`, or once `predicate(fake)` holds;
   * rejects after `timeoutMs` with what the fake has seen.
   * @defaultValue timeoutMs 5000
   */
  waitFor(condition: number | ((fake: SlackFake) => boolean), timeoutMs?: number): Promise<void>;
  /**
   * Answers calls to `method` (`'*'` for every method) with `handler`, for
   * `times` calls. A handler that returns `undefined` lets the fake answer
   * as usual and does not use up one of its `times` (handy to delay or spy).
   * Behaviours apply in the order they were added; the first that answers wins.
   * @defaultValue times Infinity
   */
  respond(method: string, handler: SlackResponder, times?: number): void;
  /** Never answers calls to `method` (every method when omitted) until `reset()` or `close()`. */
  hang(method?: string): void;
  /** Answers HTTP 429 with `Retry-After: retryAfterSeconds` and `{ok:false,error:'ratelimited'}`. */
  rateLimit(retryAfterSeconds: number, times?: number, method?: string): void;
  /** Answers `{ ok: false, error: slackErrorCode }` (HTTP 200) to calls to `method` (`'*'` for every method). */
  fail(method: string, slackErrorCode: string, times?: number): void;
  /** Answers a bare HTTP error such as 500 or 503, as a load balancer in front of Slack would. */
  failHttp(status: number, times?: number, method?: string): void;
  /** Drops the connection without answering. */
  disconnect(times?: number, method?: string): void;
  /** Forgets recorded calls and every behaviour above. Messages already accepted stay in their channels. */
  reset(): void;
  /** Stops the server, cutting hung and idle connections. */
  close(): Promise<void>;
}

const DEFAULT_TOKEN = 'xoxb-herald-test-token';
/** Slack truncates and refuses text beyond 40,000 characters (`msg_too_long`). */
const MAX_TEXT_LENGTH = 40_000;
const TEAM = { id: 'T0HERALD', name: 'Herald Test', domain: 'herald-test' } as const;
const BOT = { userId: 'U0HERALDBOT', botId: 'B0HERALDBOT', appId: 'A0HERALD' } as const;
/** Channel ids are `C…`, `G…` or `D…`; `chat.update` accepts nothing else (no names, no user ids). */
const CHANNEL_ID = /^[CGD][A-Z0-9]{2,}$/;
const USER_ID = /^[UW][A-Z0-9]+$/;

type Action =
  | { kind: 'respond'; handler: SlackResponder }
  | { kind: 'hang' }
  | { kind: 'disconnect' };

interface Rule {
  method: string;
  remaining: number;
  action: Action;
}

/** Starts a Slack Web API fake on 127.0.0.1 and a free port. */
export async function startSlackFake(options: SlackFakeOptions = {}): Promise<SlackFake> {
  const token = options.token ?? DEFAULT_TOKEN;
  const knownChannels = options.channels === undefined ? undefined : new Set(options.channels.map(normalizeChannelName));
  const idsByName = new Map<string, string>();
  const calls: SlackCall[] = [];
  const stored = new Map<string, SlackStoredMessage>();
  let rules: Rule[] = [];
  const waiters = new Waiters();
  let lastTsMicros = 0;

  const storeKey = (channel: string, ts: string): string => `${channel}/${ts}`;
  const notify = (): void => waiters.notify();
  /** Strictly increasing `seconds.micros`, close to the wall clock, like Slack's. */
  const nextTs = (): string => {
    lastTsMicros = Math.max(Date.now() * 1000, lastTsMicros + 1);
    return `${Math.floor(lastTsMicros / 1e6)}.${String(lastTsMicros % 1e6).padStart(6, '0')}`;
  };
  const isUserId = (channel: string): boolean => USER_ID.test(channel);
  const channelExists = (channel: string): boolean => {
    // Direct messages always exist: Slack opens the DM on demand.
    if (knownChannels === undefined || isUserId(channel) || /^D[A-Z0-9]{2,}$/.test(channel)) return true;
    if (knownChannels.has(normalizeChannelName(channel))) return true;
    for (const [name, id] of idsByName) if (id === channel && knownChannels.has(name)) return true;
    return false;
  };
  /** The id Slack answers for what was sent; a name gets a stable made-up id. */
  const channelIdOf = (channel: string, create: boolean): string | undefined => {
    if (CHANNEL_ID.test(channel)) return channel;
    // A message to a user id lands in the bot's DM with that user.
    if (isUserId(channel)) return `D${channel.slice(1)}`;
    const name = normalizeChannelName(channel);
    let id = idsByName.get(name);
    if (id === undefined && create) {
      id = `C0NAME${String(idsByName.size + 1).padStart(4, '0')}`;
      idsByName.set(name, id);
    }
    return id;
  };
  const add = (method: string, times: number, action: Action): void => {
    rules.push({ method, remaining: times, action });
  };

  const answerNormally = (call: SlackCall): SlackReply => {
    const p = call.params;
    if (call.token === undefined || call.token === '') return slackError('not_authed');
    if (call.token !== token) return slackError('invalid_auth');

    switch (call.method) {
      case 'auth.test':
        return ok({
          url: `https://${TEAM.domain}.slack.com/`,
          team: TEAM.name,
          user: 'herald',
          team_id: TEAM.id,
          user_id: BOT.userId,
          bot_id: BOT.botId,
          is_enterprise_install: false,
        });

      case 'chat.postMessage': {
        const channel = str(p.channel);
        const text = str(p.text);
        if (channel === undefined || channel === '') return slackError('channel_not_found');
        if (!channelExists(channel)) return slackError('channel_not_found');
        if ((text === undefined || text === '') && p.blocks === undefined && p.attachments === undefined) {
          return slackError('no_text');
        }
        if (text !== undefined && text.length > MAX_TEXT_LENGTH) return slackError('msg_too_long');
        const threadTs = str(p.thread_ts);
        const ts = nextTs();
        const channelId = channelIdOf(channel, true) ?? channel;
        const message = {
          ...(threadTs === undefined ? {} : { thread_ts: threadTs, parent_user_id: BOT.userId }),
          user: BOT.userId,
          type: 'message',
          ts,
          bot_id: BOT.botId,
          app_id: BOT.appId,
          text: text ?? '',
          team: TEAM.id,
          bot_profile: { id: BOT.botId, app_id: BOT.appId, name: 'Herald', deleted: false, team_id: TEAM.id },
        };
        stored.set(storeKey(channelId, ts), {
          channel: channelId,
          ts,
          text: text ?? '',
          ...(threadTs === undefined ? {} : { threadTs }),
          edits: 0,
        });
        return ok({ channel: channelId, ts, message });
      }

      case 'chat.update': {
        const channel = str(p.channel);
        const ts = str(p.ts);
        const text = str(p.text);
        // Unlike chat.postMessage, chat.update takes only an id: a #name or a user id is not found.
        if (channel === undefined || !CHANNEL_ID.test(channel) || !channelExists(channel)) {
          return slackError('channel_not_found');
        }
        if (ts === undefined) return slackError('message_not_found');
        const existing = stored.get(storeKey(channel, ts));
        if (existing === undefined) return slackError('message_not_found');
        if ((text === undefined || text === '') && p.blocks === undefined && p.attachments === undefined) {
          return slackError('no_text');
        }
        if (text !== undefined && text.length > MAX_TEXT_LENGTH) return slackError('msg_too_long');
        existing.text = text ?? '';
        existing.edits += 1;
        return ok({
          channel,
          ts,
          text: existing.text,
          message: { user: BOT.userId, type: 'message', bot_id: BOT.botId, app_id: BOT.appId, text: existing.text, team: TEAM.id, edited: { user: BOT.userId, ts: nextTs() } },
        });
      }

      default:
        return slackError('unknown_method', { req_method: call.method });
    }
  };

  const server = http.createServer((req, res) => {
    void (async () => {
      const url = new URL(req.url ?? '/', 'http://127.0.0.1');
      const match = /^\/api\/([A-Za-z0-9_.]+)$/.exec(url.pathname);
      if (match === null) {
        send(res, { status: 404, body: '<html><body>Not Found</body></html>', headers: { 'content-type': 'text/html' } });
        return;
      }
      let raw: string;
      try {
        raw = await readBody(req);
      } catch {
        send(res, { status: 413, body: 'Payload Too Large', headers: { 'content-type': 'text/plain' } });
        return;
      }
      const parsed = parseParams(req.headers['content-type'], raw, url.searchParams);
      if (parsed === undefined) {
        send(res, slackError('invalid_json'));
        return;
      }
      const call: SlackCall = {
        method: match[1] ?? '',
        params: parsed.params,
        token: bearer(req.headers.authorization) ?? str(parsed.params.token),
        receivedAt: Date.now(),
      };
      calls.push(call);
      notify();

      let reply: SlackReply | undefined;
      for (const rule of rules) {
        if (rule.remaining <= 0 || (rule.method !== '*' && rule.method !== call.method)) continue;
        const { action } = rule;
        if (action.kind === 'hang') {
          rule.remaining -= 1;
          return;
        }
        if (action.kind === 'disconnect') {
          rule.remaining -= 1;
          req.socket.destroy();
          return;
        }
        reply = await action.handler(call);
        if (reply !== undefined) {
          rule.remaining -= 1;
          break;
        }
      }
      reply ??= answerNormally(call);
      call.response = { status: reply.status ?? 200, body: reply.body };
      send(res, reply);
      notify();
    })().catch((error: unknown) => {
      if (!res.headersSent) send(res, { status: 500, body: String(error), headers: { 'content-type': 'text/plain' } });
    });
  });
  // Longer than any test, so that a pooled connection is never closed under a request about to reuse it.
  server.keepAliveTimeout = 60_000;

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;

  const accepted = (method: string): SlackCall[] =>
    calls.filter((c) => c.method === method && isOkBody(c.response?.body));

  const fake: SlackFake = {
    url: `http://127.0.0.1:${port}/api/`,
    token,
    get calls() {
      return calls;
    },
    posts(channel) {
      return accepted('chat.postMessage')
        .map((c): SlackPost => {
          const threadTs = str(c.params.thread_ts);
          const body = c.response?.body as { ts?: unknown; channel?: unknown };
          return {
            channel: str(c.params.channel) ?? '',
            channelId: str(body.channel) ?? '',
            ts: str(body.ts) ?? '',
            text: str(c.params.text) ?? '',
            ...(threadTs === undefined ? {} : { threadTs }),
            replyBroadcast: truthy(c.params.reply_broadcast),
            params: c.params,
            receivedAt: c.receivedAt,
          };
        })
        .filter((p) => channel === undefined || p.channel === channel || p.channelId === channel);
    },
    updates(channel) {
      return accepted('chat.update')
        .map((c): SlackUpdate => ({
          channel: str(c.params.channel) ?? '',
          ts: str(c.params.ts) ?? '',
          text: str(c.params.text) ?? '',
          params: c.params,
          receivedAt: c.receivedAt,
        }))
        .filter((u) => channel === undefined || u.channel === channel);
    },
    message(channel, ts) {
      const m = stored.get(storeKey(channelIdOf(channel, false) ?? channel, ts));
      return m === undefined ? undefined : { ...m };
    },
    thread(channel, rootTs) {
      return fake.posts(channel).filter((p) => p.threadTs === rootTs);
    },
    waitFor(condition, timeoutMs = 5000) {
      const check = typeof condition === 'number' ? () => fake.posts().length >= condition : () => condition(fake);
      return waiters.until(check, timeoutMs, () => {
        const seen = calls.map((c) => `${c.method} → ${c.response === undefined ? 'no answer' : describeBody(c.response)}`);
        return new Error(
          `Slack fake: condition not met within ${timeoutMs} ms` +
            (typeof condition === 'number' ? ` (wanted ${condition} posts, have ${fake.posts().length})` : '') +
            `; calls so far: ${seen.length === 0 ? 'none' : seen.join(', ')}`,
        );
      });
    },
    respond(method, handler, times = Infinity) {
      add(method, times, { kind: 'respond', handler });
    },
    hang(method = '*') {
      add(method, Infinity, { kind: 'hang' });
    },
    rateLimit(retryAfterSeconds, times = Infinity, method = '*') {
      add(method, times, {
        kind: 'respond',
        handler: () => ({
          status: 429,
          headers: { 'retry-after': String(retryAfterSeconds) },
          body: { ok: false, error: 'ratelimited' },
        }),
      });
    },
    fail(method, slackErrorCode, times = Infinity) {
      add(method, times, { kind: 'respond', handler: () => slackError(slackErrorCode) });
    },
    failHttp(status, times = Infinity, method = '*') {
      add(method, times, {
        kind: 'respond',
        handler: () => ({
          status,
          headers: { 'content-type': 'text/html' },
          body: `<html><body><h1>${status} ${http.STATUS_CODES[status] ?? ''}</h1></body></html>`,
        }),
      });
    },
    disconnect(times = Infinity, method = '*') {
      add(method, times, { kind: 'disconnect' });
    },
    reset() {
      calls.length = 0;
      rules = [];
    },
    async close() {
      waiters.clear();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
  return fake;
}

/** Slack channel names are matched without their `#`. */
function normalizeChannelName(channel: string): string {
  return channel.startsWith('#') ? channel.slice(1) : channel;
}

function ok(fields: Record<string, unknown>): SlackReply {
  return { body: { ok: true, ...fields } };
}

/** Slack reports a refused call as HTTP 200 with `ok: false`. */
function slackError(error: string, extra: Record<string, unknown> = {}): SlackReply {
  return { body: { ok: false, error, ...extra } };
}

function send(res: http.ServerResponse, reply: SlackReply): void {
  const payload = typeof reply.body === 'string' ? reply.body : JSON.stringify(reply.body);
  writeJson(res, reply.status ?? 200, 'application/json; charset=utf-8', reply.headers, payload);
}

/** Slack takes query parameters, a form-encoded body, or a JSON body; undefined when the JSON is broken. */
function parseParams(
  contentType: string | undefined,
  raw: string,
  query: URLSearchParams,
): { params: Record<string, unknown> } | undefined {
  const params: Record<string, unknown> = Object.fromEntries(query);
  const type = (contentType ?? '').split(';')[0]?.trim().toLowerCase();
  if (type === 'application/json') {
    if (raw.trim() === '') return { params };
    try {
      const json: unknown = JSON.parse(raw);
      if (typeof json !== 'object' || json === null || Array.isArray(json)) return undefined;
      return { params: { ...params, ...(json as Record<string, unknown>) } };
    } catch {
      return undefined;
    }
  }
  for (const [k, v] of new URLSearchParams(raw)) params[k] = v;
  return { params };
}

function bearer(header: string | undefined): string | undefined {
  const match = /^Bearer\s+(\S+)$/i.exec(header ?? '');
  return match?.[1];
}

function str(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

/** Slack reads booleans from form values `true`/`1` as well as JSON `true`. */
function truthy(value: unknown): boolean {
  return value === true || value === 'true' || value === '1' || value === 1;
}

function isOkBody(body: unknown): boolean {
  return typeof body === 'object' && body !== null && (body as { ok?: unknown }).ok === true;
}

function describeBody(response: { status: number; body: unknown }): string {
  if (isOkBody(response.body)) return 'ok';
  const error = (response.body as { error?: unknown } | null)?.error;
  return typeof error === 'string' ? `${response.status} ${error}` : String(response.status);
}
