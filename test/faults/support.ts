/**
 * What the fault-injection tests share: the four protocol fakes without a
 * Herald (for tests that run Herald as child processes), a `redis-server`
 * with AOF that a test may kill and start again on the same port and data
 * directory, the API seen over real HTTP, and readers for what crossed the
 * wire and what Herald recorded.
 */
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import type { LightMyRequestResponse } from 'fastify';
import { expect } from 'vitest';
import { startSlackFake, type SlackFake } from '../fakes/slack-api.js';
import { startSmtpSink, type SmtpSink } from '../fakes/smtp.js';
import { newWebhookSecret, type ReceivedWebhook, type WebhookReceiver, startWebhookReceiver } from '../fakes/webhook-receiver.js';
import { startXFake, type XFake } from '../fakes/x-api.js';
import { killAllChildren, processEnv, spawnHerald, startOwnRedis, type HeraldProcess } from '../support/process.js';
import { X_CREDENTIALS, WRITE_TOKEN, startStack, type Stack, type StackOptions } from '../support/stack.js';

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** A Herald stack with a connection to its Redis and its webhook delivery queue, to add, hold or inspect jobs by hand. */
export interface StackWithWebhookQueue {
  stack: Stack;
  redis: Redis;
  webhookQueue: Queue;
}

export async function startStackWithWebhookQueue(options?: StackOptions): Promise<StackWithWebhookQueue> {
  const stack = await startStack(options);
  const redis = new Redis(stack.env.REDIS_URL!);
  return { stack, redis, webhookQueue: new Queue('deliver-webhook', { connection: redis, prefix: stack.config.prefix }) };
}

/** Stops what {@link startStackWithWebhookQueue} started, as far as it got. */
export async function stopStackWithWebhookQueue({ stack, redis, webhookQueue }: Partial<StackWithWebhookQueue>): Promise<void> {
  await webhookQueue?.close();
  redis?.disconnect();
  await stack?.stop();
}

/** A delivery as `GET /v1/incidents/:id/deliveries` shows it. */
export interface DeliveryView {
  id: string;
  updateId: string;
  channel: 'slack' | 'x' | 'email' | 'webhook';
  target: string;
  state: 'queued' | 'sent' | 'failed' | 'dead';
  attempts: number;
  providerRef: string | null;
  error: string | null;
  sentAt: string | null;
  retryAt: string | null;
}

/** The fakes a Herald talks to, started without a Herald. */
export interface Fakes {
  slack: SlackFake;
  x: XFake;
  smtp: SmtpSink;
  hooks: WebhookReceiver;
  close(): Promise<void>;
}

export async function startFakes(): Promise<Fakes> {
  const [slack, x, smtp, hooks] = await Promise.all([
    startSlackFake(),
    startXFake({ ...X_CREDENTIALS, rejectDuplicates: false }),
    startSmtpSink({ user: 'herald', pass: 'smtp-secret-pass' }),
    startWebhookReceiver(),
  ]);
  return {
    slack,
    x,
    smtp,
    hooks,
    async close() {
      await Promise.allSettled([slack.close(), x.close(), smtp.close(), hooks.close()]);
    },
  };
}

/** `count` webhook targets on `hooks`, each on its own path with its own secret, registered for verification. */
export function webhookTargets(hooks: WebhookReceiver, prefix: string, count: number): Array<{ path: string; url: string; secret: string }> {
  return Array.from({ length: count }, (_, i) => {
    const path = `/${prefix}/${i}`;
    const secret = newWebhookSecret();
    return { path, url: hooks.register(path, secret), secret };
  });
}

/** Starts a `--role workers` child of the same Herald as `stack` (same Redis, same prefix, same fakes). */
export async function spawnWorkers(env: Record<string, string>): Promise<HeraldProcess> {
  const child = spawnHerald(processEnv({ ...env, LOG_LEVEL: 'info' }), ['--role', 'workers']);
  await child.waitForLog(/^Herald workers running/, 30_000);
  return child;
}

/** The update's deliveries as Herald recorded them (in-process API). */
export async function deliveriesOf(stack: Stack, incidentId: string, updateId?: string): Promise<DeliveryView[]> {
  const query = updateId === undefined ? '' : `?updateId=${encodeURIComponent(updateId)}`;
  const res = await stack.api('GET', `/v1/incidents/${incidentId}/deliveries${query}`);
  expect(res.statusCode, res.body).toBe(200);
  return (res.json() as { deliveries: DeliveryView[] }).deliveries;
}

/** Every delivery has reached a final state (`sent` or `dead`). */
export function allFinal(list: readonly DeliveryView[]): boolean {
  return list.length > 0 && list.every((d) => d.state === 'sent' || d.state === 'dead');
}

/**
 * Waits until the incident (or one update of it) has `count` deliveries that
 * all satisfy `done` (default: final); on timeout the error lists where each
 * delivery stands.
 */
export async function settledDeliveries(
  stack: Stack,
  incidentId: string,
  options: { updateId?: string; count: number; timeoutMs?: number; done?: (d: DeliveryView) => boolean },
): Promise<DeliveryView[]> {
  const done = options.done ?? ((d: DeliveryView) => d.state === 'sent' || d.state === 'dead');
  const deadline = Date.now() + (options.timeoutMs ?? 10_000);
  let list: DeliveryView[] = [];
  for (;;) {
    list = await deliveriesOf(stack, incidentId, options.updateId);
    if (list.length === options.count && list.every(done)) return list;
    if (Date.now() > deadline) break;
    await sleep(50);
  }
  const where = list.map((d) => `  ${d.channel} ${d.target}: ${d.state}, ${d.attempts} attempt(s)${d.error === null ? '' : `, ${d.error}`}`);
  throw new Error(
    `timed out after ${options.timeoutMs ?? 10_000} ms waiting for ${options.count} settled deliveries of ` +
      `${options.updateId ?? incidentId}; ${list.length} recorded:\n${where.join('\n')}`,
  );
}

/** The value of one series in Prometheus text, labels in any order; undefined when absent. */
export function metricValue(text: string, name: string, labels: Record<string, string>): number | undefined {
  for (const line of text.split('\n')) {
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{([^}]*)\})? (\S+)$/.exec(line);
    if (match === null || match[1] !== name) continue;
    const found = new Map<string, string>();
    for (const pair of (match[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) found.set(pair[1]!, pair[2]!);
    if (Object.entries(labels).every(([k, v]) => found.get(k) === v)) return Number(match[3]);
  }
  return undefined;
}

/** `update.id` of a webhook request's JSON body. */
export function updateIdOf(request: ReceivedWebhook): string | undefined {
  const body = request.body as { update?: { id?: unknown } } | null;
  return typeof body?.update?.id === 'string' ? body.update.id : undefined;
}

/**
 * The distinct updates a target received, in order of first arrival; a
 * re-send of one update must carry the same webhook-id as its first send.
 */
export function updatesInArrivalOrder(requests: readonly ReceivedWebhook[]): string[] {
  const order: string[] = [];
  const idOf = new Map<string, string>();
  for (const r of requests) {
    const update = updateIdOf(r);
    if (update === undefined) throw new Error(`a request to ${r.path} carried no update id: ${r.rawBody.slice(0, 200)}`);
    const seen = idOf.get(update);
    if (seen === undefined) {
      idOf.set(update, r.webhookId);
      order.push(update);
    } else if (seen !== r.webhookId) {
      throw new Error(`${r.path} received update ${update} twice with different webhook-ids (${seen}, ${r.webhookId})`);
    }
  }
  return order;
}

/** The API of a Herald child process, over real HTTP; each call is timed and bounded. */
export interface HttpApi {
  readonly url: string;
  call(method: string, path: string, body?: unknown, timeoutMs?: number, headers?: Record<string, string>): Promise<TimedResponse>;
}

export interface TimedResponse {
  status: number;
  text: string;
  json<T = unknown>(): T;
  ms: number;
}

export function httpApi(url: string, token = WRITE_TOKEN): HttpApi {
  return {
    url,
    async call(method, path, body, timeoutMs = 5000, headers = {}) {
      const started = Date.now();
      const response = await fetch(`${url}${path}`, {
        method,
        headers: {
          authorization: `Bearer ${token}`,
          ...(body !== undefined && { 'content-type': 'application/json' }),
          ...headers,
        },
        ...(body !== undefined && { body: JSON.stringify(body) }),
        // A hang shows as a failure naming the call, not as a stuck test.
        signal: AbortSignal.timeout(timeoutMs),
      });
      const text = await response.text();
      return { status: response.status, text, json: <T>() => JSON.parse(text) as T, ms: Date.now() - started };
    },
  };
}

/** Asserts a 201 from an in-process API call and returns its JSON. */
export function created<T = { incident: { id: string }; update: { id: string; seq: number }; deliveries: { planned: number } }>(
  res: LightMyRequestResponse,
): T {
  expect(res.statusCode, res.body).toBe(201);
  return res.json() as T;
}

/** A `redis-server` this test owns, persisting with AOF into `dir`. */
export interface AofRedis {
  readonly url: string;
  readonly port: number;
  readonly dir: string;
  /** SIGKILL: no shutdown, no final rewrite, as if the host lost power to the process. */
  kill(): Promise<void>;
}

/**
 * Starts `redis-server` on `port` with AOF on and waits until it answers PING.
 * Starting it again with the same `port` and `dir` after a kill replays the AOF.
 */
export async function startAofRedis(port: number, dir: string): Promise<AofRedis> {
  return { ...(await startOwnRedis(port, dir, { appendOnly: true })), dir };
}

/** SIGKILLs every process started here (and by test/support/process.ts) that still runs. */
export const killOwnChildren = killAllChildren;

/** Jobs of a queue waiting to run, its queue paused or not. */
export async function queued(queue: Queue): Promise<number> {
  const counts = await queue.getJobCounts('wait', 'paused');
  return (counts.wait ?? 0) + (counts.paused ?? 0);
}
