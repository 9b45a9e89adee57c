/**
 * A whole Herald for a test: the four fakes (Slack, X over HTTPS, SMTP, a
 * webhook receiver), a fresh key prefix on the run's Redis, and Herald itself
 * started from environment-style configuration, exactly as `main` does.
 */
import { randomUUID } from 'node:crypto';
import type { LightMyRequestResponse } from 'fastify';
import type { DestinationStream } from 'pino';
import { inject } from 'vitest';
import { loadConfig, type Config } from '../../src/config.js';
import { startHerald, type Role, type RunningHerald } from '../../src/herald.js';
import { createLogger } from '../../src/logger.js';
import { startSlackFake, type SlackFake } from '../fakes/slack-api.js';
import { startSmtpSink, type SmtpSink } from '../fakes/smtp.js';
import { startWebhookReceiver, type WebhookReceiver } from '../fakes/webhook-receiver.js';
import { startXFake, type XFake } from '../fakes/x-api.js';

export const WRITE_TOKEN = 'write-token-0123456789';
export const READ_TOKEN = 'read-token-0123456789';

export const X_CREDENTIALS = {
  appKey: 'test-app-key',
  appSecret: 'test-app-secret',
  accessToken: 'test-access-token',
  accessSecret: 'test-access-secret',
} as const;

export interface Stack {
  herald: RunningHerald;
  config: Readonly<Config>;
  /** The environment Herald was configured from: spawn more processes of the same Herald with it. */
  env: Record<string, string>;
  slack: SlackFake;
  x: XFake;
  smtp: SmtpSink;
  hooks: WebhookReceiver;
  /** Calls the API in-process; `token` defaults to the write token. */
  api(method: string, url: string, body?: unknown, options?: { token?: string | null; headers?: Record<string, string> }): Promise<LightMyRequestResponse>;
  stop(): Promise<void>;
}

export interface StackOptions {
  env?: Record<string, string>;
  roles?: Role[];
  /**
   * Let the X fake refuse a text it already accepted, as X does.
   * @defaultValue true; fast cadences in tests repeat holding statements within a minute
   */
  xRejectDuplicates?: boolean;
  /**
   * Where Herald's log lines go (at `LOG_LEVEL`, which `env` may set): read
   * them with {@link captureLogs}. @defaultValue stdout
   */
  logs?: DestinationStream;
}

/** One JSON log line, as pino wrote it. */
export interface CapturedLogLine {
  level: number;
  msg: string;
  [field: string]: unknown;
}

/** Log lines captured from a stack (see {@link StackOptions.logs}). */
export interface LogCapture {
  stream: DestinationStream;
  /** Every line so far, raw, for asserting what must never appear. */
  text(): string;
  lines(): CapturedLogLine[];
  /** Resolves with the lines matching `where` once there are `count` of them. */
  waitFor(where: (line: CapturedLogLine) => boolean, count?: number, timeoutMs?: number): Promise<CapturedLogLine[]>;
}

/** A log destination that keeps every line in memory. */
export function captureLogs(): LogCapture {
  let text = '';
  const lines = (): CapturedLogLine[] =>
    text
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => JSON.parse(l) as CapturedLogLine);
  return {
    stream: {
      write(chunk: string) {
        text += chunk;
      },
    },
    text: () => text,
    lines,
    waitFor: (where, count = 1, timeoutMs = 10_000) =>
      eventually(() => {
        const found = lines().filter(where);
        return found.length >= count && found;
      }, timeoutMs, `${count} log line(s) matching ${String(where)}`),
  };
}

/** The environment a test Herald starts with, pointing at the fakes. */
export function testEnv(fakes: { slack: SlackFake; x: XFake; smtp: SmtpSink }, extra: Record<string, string> = {}): Record<string, string> {
  return {
    REDIS_URL: inject('redisUrl'),
    HERALD_PREFIX: `test-${randomUUID().slice(0, 8)}`,
    HERALD_API_TOKENS: `ops:${WRITE_TOKEN}:write,viewer:${READ_TOKEN}:read`,
    PORT: '0',
    HERALD_PUBLIC_URL: 'https://status.herald.test',
    HERALD_MIN_CADENCE_SECONDS: '1',
    HERALD_WEBHOOK_ALLOW_PRIVATE: 'true',
    SLACK_BOT_TOKEN: fakes.slack.token,
    SLACK_API_URL: fakes.slack.url,
    X_APP_KEY: X_CREDENTIALS.appKey,
    X_APP_SECRET: X_CREDENTIALS.appSecret,
    X_ACCESS_TOKEN: X_CREDENTIALS.accessToken,
    X_ACCESS_SECRET: X_CREDENTIALS.accessSecret,
    X_API_URL: fakes.x.url,
    SMTP_URL: fakes.smtp.url,
    EMAIL_FROM: 'Herald Status <status@herald.test>',
    HERALD_SHUTDOWN_GRACE_MS: '2000',
    LOG_LEVEL: process.env.HERALD_TEST_LOG_LEVEL ?? 'silent',
    ...extra,
  };
}

export async function startStack(options: StackOptions = {}): Promise<Stack> {
  const [slack, x, smtp, hooks] = await Promise.all([
    startSlackFake(),
    startXFake({ ...X_CREDENTIALS, rejectDuplicates: options.xRejectDuplicates ?? true }),
    startSmtpSink({ user: 'herald', pass: 'smtp-secret-pass' }),
    startWebhookReceiver(),
  ]);
  const env = testEnv({ slack, x, smtp }, options.env);
  const config = loadConfig(env);
  const herald = await startHerald({
    config,
    roles: new Set(options.roles ?? ['api', 'workers']),
    logger: createLogger(config.logLevel, options.logs),
  });
  const app = herald.app;
  return {
    herald,
    config,
    env,
    slack,
    x,
    smtp,
    hooks,
    api(method, url, body, opts = {}) {
      if (app === undefined) throw new Error('this stack runs no API');
      const token = opts.token === undefined ? WRITE_TOKEN : opts.token;
      return app.inject({
        method: method as 'GET',
        url,
        headers: {
          ...(token !== null && { authorization: `Bearer ${token}` }),
          ...(body !== undefined && { 'content-type': 'application/json' }),
          ...opts.headers,
        },
        ...(body !== undefined && { payload: typeof body === 'string' ? body : JSON.stringify(body) }),
      });
    },
    async stop() {
      await herald.stop();
      await Promise.all([slack.close(), x.close(), smtp.close(), hooks.close()]);
    },
  };
}

/** Polls `check` until it returns a value other than undefined/false, or fails after `timeoutMs`. */
export async function eventually<T>(check: () => Promise<T | undefined | false> | T | undefined | false, timeoutMs = 10_000, what = 'condition'): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined && value !== false) return value;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last instanceof Error ? `: ${last.message}` : ''}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}
