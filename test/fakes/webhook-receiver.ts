/**
 * A real HTTP server standing in for blog webhook receivers. Every request is
 * verified with the `standardwebhooks` library against the secret registered
 * for its path, recorded, and answered as the test scripted (200 by default).
 *
 *     const receiver = await startWebhookReceiver();
 *     const secret = newWebhookSecret();
 *     const url = receiver.register('/hooks/blog', secret);
 *     receiver.respond('/hooks/blog', [500, 200]);          // fail once, then accept
 *     await webhook.send({ channel: 'webhook', key: url, url, secret }, payload);
 *     expect(receiver.received('/hooks/blog')[0]?.signatureValid).toBe(true);
 *     await receiver.close();
 *
 * A request is recorded once its body has arrived and its answer is decided,
 * before the answer is sent, so even a request that is hung up on or never
 * answered shows in `received()`.
 */
import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Webhook } from 'standardwebhooks';
import { Waiters } from './waiters.js';

/** One request as the receiver saw it. */
export interface ReceivedWebhook {
  /** Path of the request, without the query string. */
  path: string;
  method: string;
  /** Lower-cased header names; repeated headers joined with `, `. */
  headers: Record<string, string>;
  /** `webhook-id` header, or `''`. */
  webhookId: string;
  /** `webhook-timestamp` header as a number of Unix seconds, or `NaN`. */
  timestamp: number;
  /** `webhook-signature` header, or `''`. */
  signature: string;
  /** Whether `standardwebhooks` verified the request with the path's secret; false on unregistered paths. */
  signatureValid: boolean;
  /** `'valid'`, `'unregistered'`, or the verifier's complaint. */
  verification: string;
  /** The body parsed as JSON; the raw text when it is not JSON. */
  body: unknown;
  rawBody: string;
  /** How the receiver answered: an HTTP status, or what it did instead. */
  answer: number | 'hang' | 'destroy';
  /** The client's port: equal ports mean one reused keep-alive connection. */
  remotePort: number;
  /** `Date.now()` when the body had arrived. */
  receivedAt: number;
}

/** A scripted answer. */
export interface WebhookAnswer {
  status: number;
  /** Sent as `Retry-After`: a number of seconds, or a string as is (e.g. an HTTP-date). */
  retryAfter?: number | string;
  /** Response body; objects are sent as JSON. */
  body?: string | object;
  headers?: Record<string, string>;
}

/** One step of a script: a status, a full answer, never answering, or hanging up without an answer. */
export type WebhookStep = number | WebhookAnswer | 'hang' | 'destroy';

/** Decides each answer from the request (already recorded). */
export type WebhookHandler = (request: ReceivedWebhook) => WebhookStep | Promise<WebhookStep>;

/** What {@link WebhookReceiver.waitFor} waits for. */
export type WebhookQuery =
  | number
  | ((request: ReceivedWebhook) => boolean)
  | { count?: number; path?: string; where?: (request: ReceivedWebhook) => boolean };

export interface WebhookReceiver {
  /** `http://127.0.0.1:PORT` */
  readonly origin: string;
  /** The target URL of `path` on this receiver (`path` starts with `/`). */
  url(path: string): string;
  /** Verifies requests to `path` with `secret` from now on; returns {@link url}(path). */
  register(path: string, secret: string): string;
  /** Requests received, in order of arrival; only those to `path` when given. */
  received(path?: string): ReceivedWebhook[];
  /**
   * Resolves with the matching requests once there are enough: a number waits
   * for that many requests in all, a predicate for one match, an object for
   * `count` (default 1) requests to `path` and/or matching `where`. Rejects
   * after `timeoutMs` (default 5 s) naming what did arrive.
   */
  waitFor(query: WebhookQuery, timeoutMs?: number): Promise<ReceivedWebhook[]>;
  /**
   * Scripts the answers for `path`: a sequence is answered in order and its
   * last step repeats (`[500, 500, 200]`); a single step always applies
   * (`410`, `{ status: 429, retryAfter: 2 }`); a handler decides per request.
   */
  respond(path: string, script: WebhookStep | readonly WebhookStep[] | WebhookHandler): void;
  /** Requests to `path` are read and recorded but never answered. */
  hang(path: string): void;
  /** Requests to `path` are read and recorded, then the connection is closed without an answer. */
  destroy(path: string): void;
  /** Forgets requests, scripts and secrets. */
  reset(): void;
  /** Closes the server and every connection, hanging ones included. */
  close(): Promise<void>;
}

/** A fresh `whsec_…` secret (24 random bytes, as Standard Webhooks suggests 24–64). */
export function newWebhookSecret(): string {
  return `whsec_${randomBytes(24).toString('base64')}`;
}

type Script = { kind: 'steps'; steps: readonly WebhookStep[]; next: number } | { kind: 'handler'; handler: WebhookHandler };

/** Starts a receiver on 127.0.0.1, on a free port; it answers 200 `{"ok":true}` unless scripted. */
export async function startWebhookReceiver(): Promise<WebhookReceiver> {
  const requests: ReceivedWebhook[] = [];
  const secrets = new Map<string, Webhook>();
  const scripts = new Map<string, Script>();
  const waiters = new Waiters();

  const record = (request: ReceivedWebhook): void => {
    requests.push(request);
    waiters.notify();
  };

  const nextStep = async (request: ReceivedWebhook): Promise<WebhookStep> => {
    const script = scripts.get(request.path);
    if (script === undefined) return 200;
    if (script.kind === 'handler') return script.handler(request);
    const step = script.steps[Math.min(script.next, script.steps.length - 1)] ?? 200;
    script.next += 1;
    return step;
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const rawBody = Buffer.concat(chunks).toString('utf8');
    const path = new URL(req.url ?? '/', 'http://receiver').pathname;
    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries(req.headers)) {
      if (value !== undefined) headers[name] = Array.isArray(value) ? value.join(', ') : value;
    }

    let verification = 'unregistered';
    const verifier = secrets.get(path);
    if (verifier !== undefined) {
      try {
        verifier.verify(rawBody, headers);
        verification = 'valid';
      } catch (error) {
        verification = error instanceof Error ? error.message : String(error);
      }
    }
    let body: unknown = rawBody;
    try {
      body = JSON.parse(rawBody);
    } catch {
      // Recorded as text; a test asserting on a parsed body will say so.
    }
    const request: ReceivedWebhook = {
      path,
      method: req.method ?? '',
      headers,
      webhookId: headers['webhook-id'] ?? '',
      timestamp: Number(headers['webhook-timestamp'] ?? Number.NaN),
      signature: headers['webhook-signature'] ?? '',
      signatureValid: verification === 'valid',
      verification,
      body,
      rawBody,
      answer: 200,
      remotePort: req.socket.remotePort ?? 0,
      receivedAt: Date.now(),
    };
    // Decided before recording so the record says how it was answered; recorded before answering
    // so that a test which awaits the sender sees the request.
    let step: WebhookStep;
    try {
      step = await nextStep(request);
    } catch (error) {
      step = { status: 500, body: `receiver handler failed: ${String(error)}` };
    }
    request.answer = typeof step === 'number' ? step : typeof step === 'string' ? step : step.status;
    record(request);

    if (step === 'hang') return;
    if (step === 'destroy') {
      req.socket.destroy();
      return;
    }
    const answer: WebhookAnswer = typeof step === 'number' ? { status: step } : step;
    const responseHeaders: Record<string, string> = { ...answer.headers };
    if (answer.retryAfter !== undefined) responseHeaders['retry-after'] = String(answer.retryAfter);
    let responseBody: string;
    if (answer.body === undefined) {
      responseBody = answer.status >= 200 && answer.status < 300 ? '{"ok":true}' : `{"error":"status ${answer.status}"}`;
      responseHeaders['content-type'] ??= 'application/json';
    } else if (typeof answer.body === 'string') {
      responseBody = answer.body;
      responseHeaders['content-type'] ??= 'text/plain; charset=utf-8';
    } else {
      responseBody = JSON.stringify(answer.body);
      responseHeaders['content-type'] ??= 'application/json';
    }
    res.writeHead(answer.status, responseHeaders);
    res.end(responseBody);
  };

  // Node's HTTP server keeps connections alive by default, as real receivers do.
  const server = createServer((req, res) => {
    handle(req, res).catch(() => {
      if (!res.headersSent) res.writeHead(500).end();
      else res.destroy();
    });
  });
  // Longer than undici's default 4 s idle timeout, so the client always closes first and a
  // pooled connection is never reused just as the server drops it.
  server.keepAliveTimeout = 10_000;

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const url = (path: string): string => `${origin}${path.startsWith('/') ? path : `/${path}`}`;
  const setScript = (path: string, script: Script): void => {
    scripts.set(new URL(url(path)).pathname, script);
  };

  return {
    origin,
    url,
    register(path, secret) {
      secrets.set(new URL(url(path)).pathname, new Webhook(secret));
      return url(path);
    },
    received(path) {
      if (path === undefined) return [...requests];
      const wanted = new URL(url(path)).pathname;
      return requests.filter((r) => r.path === wanted);
    },
    async waitFor(query, timeoutMs = 5000) {
      const { accepts, count, describe } = compileQuery(query, (p) => new URL(url(p)).pathname);
      const matching = () => requests.filter(accepts);
      await waiters.until(
        () => matching().length >= count,
        timeoutMs,
        () => {
          const seen = requests
            .slice(-5)
            .map((r) => `  ${r.method} ${r.path} id=${r.webhookId} -> ${r.answer}`)
            .join('\n');
          return new Error(
            `webhook receiver: timed out after ${timeoutMs} ms waiting for ${describe}; ` +
              `${matching().length} matched, ${requests.length} received in all` +
              (seen === '' ? '' : `; the last ones:\n${seen}`),
          );
        },
      );
      return matching();
    },
    respond(path, script) {
      if (typeof script === 'function') setScript(path, { kind: 'handler', handler: script });
      else setScript(path, { kind: 'steps', steps: Array.isArray(script) ? script : [script as WebhookStep], next: 0 });
    },
    hang(path) {
      setScript(path, { kind: 'steps', steps: ['hang'], next: 0 });
    },
    destroy(path) {
      setScript(path, { kind: 'steps', steps: ['destroy'], next: 0 });
    },
    reset() {
      requests.length = 0;
      scripts.clear();
      secrets.clear();
    },
    async close() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      await closed;
    },
  };
}

function compileQuery(
  query: WebhookQuery,
  normalise: (path: string) => string,
): { accepts: (request: ReceivedWebhook) => boolean; count: number; describe: string } {
  if (typeof query === 'number') return { accepts: () => true, count: query, describe: `${query} request(s)` };
  if (typeof query === 'function') return { accepts: query, count: 1, describe: 'a request matching the predicate' };
  const path = query.path === undefined ? undefined : normalise(query.path);
  const where = query.where;
  const count = query.count ?? 1;
  return {
    accepts: (r) => (path === undefined || r.path === path) && (where === undefined || where(r)),
    count,
    describe: `${count} request(s)${path === undefined ? '' : ` to ${path}`}${where === undefined ? '' : ' matching the predicate'}`,
  };
}
