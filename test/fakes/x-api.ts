/**
 * A local X API v2 over HTTPS that speaks the real wire protocol for posting:
 * `POST /2/tweets` with a JSON body, OAuth 1.0a user-context signatures
 * verified for real, X's 280 weighted-character limit (twitter-text), and
 * X-shaped problem answers (401, 400, 403, 429 with `x-rate-limit-*`).
 *
 * Its certificate is signed by `test/fixtures/tls/ca.pem`, which the test run
 * trusts through `NODE_EXTRA_CA_CERTS`.
 *
 * @example
 * const x = await startXFake(X_CREDENTIALS);
 * const channel = new XChannel({ ...X_CREDENTIALS, apiUrl: x.url });
 * const { providerRef } = await channel.post('Investigating email delays');
 * expect(x.posts[0]).toMatchObject({ id: providerRef, text: 'Investigating email delays' });
 * await x.close();
 */
import { readFileSync } from 'node:fs';
import https from 'node:https';
import tls from 'node:tls';
import type http from 'node:http';
import type { AddressInfo } from 'node:net';
import twitterText from 'twitter-text';
import { verifyOAuth1Request, type OAuth1Credentials } from './oauth1.js';
import { readBody, writeJson } from './http-body.js';
import { Waiters } from './waiters.js';

const TLS_DIR = new URL('../fixtures/tls/', import.meta.url);

export interface XFakeOptions extends OAuth1Credentials {
  /**
   * Refuse a post whose text equals one already accepted since the last
   * `reset()`, with X's 403 "duplicate content".
   * @defaultValue true
   */
  rejectDuplicates?: boolean;
}

/** A post X accepted. */
export interface XPost {
  id: string;
  text: string;
  /** `reply.in_reply_to_tweet_id`, when the post is a reply. */
  replyTo?: string;
  receivedAt: number;
}

/** One request to the fake, accepted or not, in arrival order. */
export interface XRequest {
  method: string;
  /** Path and query, e.g. `/2/tweets`. */
  path: string;
  /** The parsed JSON body, or the raw text when it is not JSON. */
  body: unknown;
  /** Whether the OAuth 1.0a signature and credentials were accepted. */
  authorized: boolean;
  /** Why the signature was refused, when it was. */
  authProblem?: string;
  receivedAt: number;
  /** What the fake answered; undefined while it hangs or after it dropped the connection. */
  response?: { status: number; body: unknown };
}

export interface XFake {
  /** The base to pass as `apiUrl`: `https://127.0.0.1:PORT/2/`. */
  readonly url: string;
  /** The same server by name: `https://localhost:PORT/2/`. */
  readonly localhostUrl: string;
  /** Accepted posts, oldest first. */
  readonly posts: readonly XPost[];
  /** Every request, in arrival order (including refused and hung ones). */
  readonly requests: readonly XRequest[];
  /** The conversation ending at `lastId`, walked back through `replyTo`: root first. */
  thread(lastId: string): XPost[];
  /**
   * Resolves once `posts.length >= count`, or once `predicate(fake)` holds;
   * rejects after `timeoutMs` with what the fake has seen.
   * @defaultValue timeoutMs 5000
   */
  waitFor(condition: number | ((fake: XFake) => boolean), timeoutMs?: number): Promise<void>;
  /**
   * Answers 429 with `x-rate-limit-limit`, `x-rate-limit-remaining: 0` and
   * `x-rate-limit-reset` = now + `resetInSeconds` (epoch seconds).
   * @defaultValue times Infinity
   */
  rateLimit(resetInSeconds: number, times?: number): void;
  /** Answers `status` with an X-shaped problem body. @defaultValue times Infinity */
  fail(status: number, times?: number): void;
  /** Never answers, until `reset()` or `close()`. */
  hang(): void;
  /** Drops the connection without answering. @defaultValue times Infinity */
  disconnect(times?: number): void;
  /** Forgets recorded posts, requests and every behaviour above. Posts already made still exist (replies to them work), ids keep increasing. */
  reset(): void;
  /** Stops the server, cutting hung and idle connections. */
  close(): Promise<void>;
}

/** X counts text with twitter-text's weighting: URLs 23, CJK 2, most else 1; the limit is 280. */
const MAX_WEIGHTED_LENGTH = 280;
/** The documented user limit of POST /2/tweets per 15-minute window (reported, not enforced). */
const POSTS_PER_WINDOW = 100;
const WINDOW_SECONDS = 15 * 60;
/** Top-level fields POST /2/tweets knows; X refuses any other with 400. */
const TWEET_FIELDS: ReadonlySet<string> = new Set([
  'text', 'reply', 'quote_tweet_id', 'poll', 'media', 'reply_settings', 'for_super_followers_only',
  'direct_message_deep_link', 'geo', 'nullcast', 'card_uri', 'community_id', 'made_with_ai', 'paid_partnership',
]);
const ACCOUNT = { id: '1700000000000000001', name: 'Herald Status', username: 'herald_status' } as const;

interface Reply {
  status: number;
  headers?: Readonly<Record<string, string>>;
  body: unknown;
}

type Action = { kind: 'reply'; make: () => Reply } | { kind: 'hang' } | { kind: 'disconnect' };

interface Rule {
  remaining: number;
  action: Action;
}

/** Starts an X API fake on https://127.0.0.1 and a free port, accepting only the given credentials. */
export async function startXFake(options: XFakeOptions): Promise<XFake> {
  const credentials: OAuth1Credentials = {
    appKey: options.appKey,
    appSecret: options.appSecret,
    accessToken: options.accessToken,
    accessSecret: options.accessSecret,
  };
  const rejectDuplicates = options.rejectDuplicates ?? true;
  const posts: XPost[] = [];
  const requests: XRequest[] = [];
  /** Every post ever made, by id: survives `reset()` so that later replies still find their parent. */
  const allPosts = new Map<string, XPost>();
  const seenNonces = new Set<string>();
  const waiters = new Waiters();
  let rules: Rule[] = [];
  let lastId = 1_790_000_000_000_000_000n;

  const notify = (): void => waiters.notify();

  const rateLimitHeaders = (): Record<string, string> => {
    const now = Math.floor(Date.now() / 1000);
    const windowStart = now - (now % WINDOW_SECONDS);
    const used = posts.filter((p) => p.receivedAt / 1000 >= windowStart).length;
    return {
      'x-rate-limit-limit': String(POSTS_PER_WINDOW),
      'x-rate-limit-remaining': String(Math.max(0, POSTS_PER_WINDOW - used)),
      'x-rate-limit-reset': String(windowStart + WINDOW_SECONDS),
    };
  };

  const createPost = (request: XRequest): Reply => {
    const body = request.body;
    if (typeof body !== 'object' || body === null || Array.isArray(body)) {
      return invalidRequest('Request body must be a JSON object.');
    }
    const fields = body as Record<string, unknown>;
    for (const key of Object.keys(fields)) {
      if (!TWEET_FIELDS.has(key)) return invalidRequest(`The \`${key}\` field is not one of the fields of this endpoint.`);
    }
    const text = fields.text;
    if (typeof text !== 'string' || text.trim() === '') {
      return invalidRequest('The `text` field must be a non-empty string.');
    }
    const { weightedLength } = twitterText.parseTweet(text);
    if (weightedLength > MAX_WEIGHTED_LENGTH) {
      return invalidRequest(`Your Tweet text is too long: weighted length ${weightedLength} exceeds ${MAX_WEIGHTED_LENGTH}.`, 'text', text);
    }
    let replyTo: string | undefined;
    if (fields.reply !== undefined) {
      const reply = fields.reply as { in_reply_to_tweet_id?: unknown } | null;
      const id = reply?.in_reply_to_tweet_id;
      if (typeof id !== 'string' || !/^[0-9]{1,19}$/.test(id)) {
        return invalidRequest('The `reply.in_reply_to_tweet_id` field must be a post id.', 'reply.in_reply_to_tweet_id', String(id));
      }
      if (!allPosts.has(id)) {
        return forbidden('You attempted to reply to a Tweet that is deleted or not visible to you.');
      }
      replyTo = id;
    }
    if (rejectDuplicates && posts.some((p) => p.text === text)) {
      return forbidden('You are not allowed to create a Tweet with duplicate content.');
    }
    lastId += BigInt(1 + Math.floor(Math.random() * 1000));
    const post: XPost = { id: lastId.toString(), text, ...(replyTo === undefined ? {} : { replyTo }), receivedAt: request.receivedAt };
    posts.push(post);
    allPosts.set(post.id, post);
    return { status: 201, headers: rateLimitHeaders(), body: { data: { id: post.id, text, edit_history_tweet_ids: [post.id] } } };
  };

  const answerNormally = (req: http.IncomingMessage, request: XRequest): Reply => {
    const path = request.path.split('?')[0];
    if (request.method === 'POST' && path === '/2/tweets') {
      const contentType = (req.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase();
      if (contentType !== 'application/json') return invalidRequest('The request must be application/json.');
      return createPost(request);
    }
    if (request.method === 'GET' && path === '/2/users/me') {
      return { status: 200, headers: rateLimitHeaders(), body: { data: { ...ACCOUNT } } };
    }
    return problem(404, 'Not Found Error', 'The requested resource does not exist.', 'https://api.twitter.com/2/problems/resource-not-found');
  };

  const server = https.createServer(
    {
      cert: readFileSync(new URL('server.pem', TLS_DIR)),
      key: readFileSync(new URL('server-key.pem', TLS_DIR)),
    },
    (req, res) => {
      void (async () => {
        let raw: string;
        try {
          raw = await readBody(req);
        } catch {
          send(res, problem(413, 'Payload Too Large', 'The request body is too large.'));
          return;
        }
        const host = req.headers.host ?? `127.0.0.1:${port}`;
        const method = (req.method ?? 'GET').toUpperCase();
        const path = req.url ?? '/';
        const contentType = (req.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase();
        const verdict = verifyOAuth1Request(
          {
            method,
            url: `https://${host}${path}`,
            authorization: req.headers.authorization,
            ...(contentType === 'application/x-www-form-urlencoded' ? { formBody: raw } : {}),
          },
          credentials,
          { seenNonces },
        );
        const request: XRequest = {
          method,
          path,
          body: parseJson(raw),
          authorized: verdict.ok,
          ...(verdict.ok ? {} : { authProblem: verdict.reason }),
          receivedAt: Date.now(),
        };
        requests.push(request);
        notify();

        let reply: Reply | undefined;
        const rule = rules.find((r) => r.remaining > 0);
        if (rule !== undefined) {
          rule.remaining -= 1;
          if (rule.action.kind === 'hang') return;
          if (rule.action.kind === 'disconnect') {
            req.socket.destroy();
            return;
          }
          reply = rule.action.make();
        }
        // X answers a bad signature with a bare 401 problem, before looking at the request.
        reply ??= verdict.ok ? answerNormally(req, request) : problem(401, 'Unauthorized', 'Unauthorized');
        request.response = { status: reply.status, body: reply.body };
        send(res, reply);
        notify();
      })().catch((error: unknown) => {
        if (!res.headersSent) send(res, problem(500, 'Internal Server Error', String(error)));
      });
    },
  );
  // Longer than any test, so that a pooled connection is never closed under a request about to reuse it.
  server.keepAliveTimeout = 60_000;

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  try {
    await assertCertificateTrusted(port);
  } catch (error) {
    server.close();
    throw error;
  }

  const fake: XFake = {
    url: `https://127.0.0.1:${port}/2/`,
    localhostUrl: `https://localhost:${port}/2/`,
    get posts() {
      return posts;
    },
    get requests() {
      return requests;
    },
    thread(lastPostId) {
      const chain: XPost[] = [];
      let current = allPosts.get(lastPostId);
      while (current !== undefined) {
        chain.unshift(current);
        current = current.replyTo === undefined ? undefined : allPosts.get(current.replyTo);
      }
      return chain;
    },
    waitFor(condition, timeoutMs = 5000) {
      const check = typeof condition === 'number' ? () => posts.length >= condition : () => condition(fake);
      return waiters.until(check, timeoutMs, () => {
        const seen = requests.map(
          (r) => `${r.method} ${r.path} → ${r.response === undefined ? 'no answer' : r.response.status}${r.authProblem === undefined ? '' : ` (${r.authProblem})`}`,
        );
        return new Error(
          `X fake: condition not met within ${timeoutMs} ms` +
            (typeof condition === 'number' ? ` (wanted ${condition} posts, have ${posts.length})` : '') +
            `; requests so far: ${seen.length === 0 ? 'none' : seen.join(', ')}`,
        );
      });
    },
    rateLimit(resetInSeconds, times = Infinity) {
      rules.push({
        remaining: times,
        action: {
          kind: 'reply',
          make: () => ({
            status: 429,
            headers: {
              'x-rate-limit-limit': String(POSTS_PER_WINDOW),
              'x-rate-limit-remaining': '0',
              'x-rate-limit-reset': String(Math.floor(Date.now() / 1000) + resetInSeconds),
            },
            body: { title: 'Too Many Requests', detail: 'Too Many Requests', type: 'about:blank', status: 429 },
          }),
        },
      });
    },
    fail(status, times = Infinity) {
      rules.push({ remaining: times, action: { kind: 'reply', make: () => problemFor(status) } });
    },
    hang() {
      rules.push({ remaining: Infinity, action: { kind: 'hang' } });
    },
    disconnect(times = Infinity) {
      rules.push({ remaining: times, action: { kind: 'disconnect' } });
    },
    reset() {
      posts.length = 0;
      requests.length = 0;
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

/**
 * Fails early, with the fix, when this process does not trust the test CA:
 * otherwise every test would fail later with a bare certificate error.
 */
async function assertCertificateTrusted(port: number): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const socket = tls.connect({ host: '127.0.0.1', port, servername: 'localhost' }, () => {
      socket.end();
      resolve();
    });
    socket.once('error', (error) => {
      socket.destroy();
      reject(
        new Error(
          `startXFake: this process does not trust the test CA (${error.message}). ` +
            'Start Node with NODE_EXTRA_CA_CERTS=test/fixtures/tls/ca.pem (it is read only at startup).',
        ),
      );
    });
  });
}

/** X's RFC 7807-style problem body. */
function problem(status: number, title: string, detail: string, type = 'about:blank', extra: Record<string, unknown> = {}): Reply {
  return { status, body: { title, detail, type, status, ...extra } };
}

function invalidRequest(message: string, parameter?: string, value?: string): Reply {
  return problem(400, 'Invalid Request', 'One or more parameters to your request was invalid.', 'https://api.twitter.com/2/problems/invalid-request', {
    errors: [{ ...(parameter === undefined ? {} : { parameters: { [parameter]: [value ?? ''] } }), message }],
  });
}

function forbidden(detail: string): Reply {
  return problem(403, 'Forbidden', detail);
}

/** What X answers for a status the test asks for. */
function problemFor(status: number): Reply {
  switch (status) {
    case 400:
      return invalidRequest('The request was refused by the test.');
    case 401:
      return problem(401, 'Unauthorized', 'Unauthorized');
    case 403:
      return forbidden('You are not permitted to perform this action.');
    case 503:
      return problem(503, 'Service Unavailable', 'Service Unavailable', 'https://api.twitter.com/2/problems/service-unavailable');
    default:
      return problem(status, httpTitle(status), httpTitle(status));
  }
}

function httpTitle(status: number): string {
  const titles: Record<number, string> = {
    404: 'Not Found Error',
    408: 'Request Timeout',
    500: 'Internal Server Error',
    502: 'Bad Gateway',
    504: 'Gateway Timeout',
  };
  return titles[status] ?? `HTTP ${status}`;
}

function send(res: http.ServerResponse, reply: Reply): void {
  const contentType = reply.status >= 400 ? 'application/problem+json' : 'application/json; charset=utf-8';
  writeJson(res, reply.status, contentType, reply.headers, JSON.stringify(reply.body));
}

function parseJson(raw: string): unknown {
  if (raw === '') return undefined;
  try {
    return JSON.parse(raw) as unknown;
  } catch {
    return raw;
  }
}
