/**
 * Herald's life as a process: it starts against a reachable Redis, logs the
 * URL it listens on and which channels are enabled, answers /healthz and
 * /readyz, and on SIGTERM or SIGINT stops cleanly with exit code 0. Each
 * role starts on its own; the workers-only role serves no HTTP.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, describe, inject, it, type TestContext } from 'vitest';
import { freePort } from '../support/global-redis.js';
import { killAllChildren, processEnv, spawnHerald, type HeraldProcess, type LogLine } from '../support/process.js';

const WRITE_TOKEN = 'lifecycle-write-token-5e21';
const READ_TOKEN = 'lifecycle-read-token-9c04';

/** The shutdown is bounded (HERALD_SHUTDOWN_GRACE_MS below); an idle Herald stops well within this. */
const STOP_WITHIN_MS = 5000;

/** Starts Herald, killed when `test` finishes (tests here run concurrently, so the context's own hook). */
async function start(test: TestContext, args: string[], extra: Record<string, string> = {}): Promise<{ herald: HeraldProcess; port: number }> {
  const port = await freePort();
  const herald = spawnHerald(
    processEnv({
      HERALD_API_TOKENS: `ops:${WRITE_TOKEN}:write,viewer:${READ_TOKEN}:read`,
      REDIS_URL: inject('redisUrl'),
      HERALD_PREFIX: `proc-${randomUUID().slice(0, 8)}`,
      PORT: String(port),
      HERALD_SHUTDOWN_GRACE_MS: '2000',
      ...extra,
    }),
    args,
  );
  test.onTestFinished(() => herald.kill());
  return { herald, port };
}

/** Sends `signal` and resolves with the exit and how long it took. */
async function stopWith(herald: HeraldProcess, signal: NodeJS.Signals): Promise<{ code: number | null; signal: NodeJS.Signals | null; ms: number }> {
  const sent = Date.now();
  herald.child.kill(signal);
  const exit = await herald.waitForExit(STOP_WITHIN_MS + 5000);
  return { ...exit, ms: Date.now() - sent };
}

function channelsLine(herald: HeraldProcess): LogLine | undefined {
  return herald.logs().find((l) => l.msg === 'channels');
}

async function refusesConnections(url: string): Promise<boolean> {
  try {
    await fetch(url, { signal: AbortSignal.timeout(2000) });
    return false;
  } catch (error) {
    const code = (error as { cause?: { code?: string } }).cause?.code;
    return code === 'ECONNREFUSED';
  }
}

afterAll(killAllChildren);

describe.concurrent('single-node mode (no --role)', () => {
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    it(`starts, serves /healthz and /readyz, and stops cleanly on ${signal}`, async (test) => {
      const { expect } = test;
      const { herald, port } = await start(test, []);
      const url = await herald.listening();
      expect(url).toBe(`http://127.0.0.1:${port}`);
      expect(herald.logs().filter((l) => l.msg.startsWith('Herald listening on'))).toHaveLength(1);

      const health = await fetch(`${url}/healthz`);
      expect(health.status).toBe(200);
      expect(await health.json()).toEqual({ status: 'ok' });
      const ready = await fetch(`${url}/readyz`);
      expect(ready.status).toBe(200);
      expect(await ready.json()).toMatchObject({ status: 'ready' });

      // Without credentials only the webhook channel is on, and the log says why the others are off.
      const channels = channelsLine(herald);
      expect(channels?.roles).toEqual(['api', 'workers']);
      expect(channels?.channels).toEqual({
        webhook: 'enabled',
        slack: expect.stringMatching(/^disabled \(SLACK_BOT_TOKEN unset\)/),
        x: expect.stringMatching(/^disabled \(.*X_APP_KEY/),
        email: expect.stringMatching(/^disabled \(SMTP_URL unset\)/),
      });

      const stopped = await stopWith(herald, signal);
      expect(stopped, herald.stdout() + herald.stderr()).toMatchObject({ code: 0, signal: null });
      expect(stopped.ms).toBeLessThan(STOP_WITHIN_MS);
      const messages = herald.logs().map((l) => l.msg);
      expect(herald.logs().find((l) => l.msg.startsWith('shutting down'))?.signal).toBe(signal);
      expect(messages.at(-1)).toBe('stopped cleanly');
      expect(herald.stderr()).toBe('');
      expect(await refusesConnections(`${url}/healthz`)).toBe(true);
    });
  }

  it('with PORT=0, names the port it got; logs every channel enabled when each has its credentials, and never a secret', async (test) => {
    const { expect } = test;
    const unreachable = `127.0.0.1:${await freePort()}`;
    const secrets = {
      SLACK_BOT_TOKEN: 'xoxb-lifecycle-slack-secret',
      X_APP_KEY: 'lifecycle-x-app-key',
      X_APP_SECRET: 'lifecycle-x-app-secret',
      X_ACCESS_TOKEN: 'lifecycle-x-access-token',
      X_ACCESS_SECRET: 'lifecycle-x-access-secret',
    };
    const smtpPassword = 'lifecycle-smtp-password';
    // No channel is contacted at startup, so the endpoints need not answer.
    const { herald } = await start(test, [], {
      ...secrets,
      SLACK_API_URL: `http://${unreachable}/api/`,
      X_API_URL: `https://${unreachable}/2/`,
      SMTP_URL: `smtp://herald:${smtpPassword}@${unreachable}`,
      EMAIL_FROM: 'Status <status@herald.test>',
      PORT: '0',
    });
    const url = await herald.listening();
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:[1-9]\d*$/);
    expect((await fetch(`${url}/healthz`)).status).toBe(200);
    expect(channelsLine(herald)?.channels).toEqual({ slack: 'enabled', x: 'enabled', email: 'enabled', webhook: 'enabled' });

    const stopped = await stopWith(herald, 'SIGTERM');
    expect(stopped, herald.stdout() + herald.stderr()).toMatchObject({ code: 0, signal: null });
    expect(herald.logs().at(-1)?.msg).toBe('stopped cleanly');
    const output = herald.stdout() + herald.stderr();
    for (const secret of [...Object.values(secrets), smtpPassword, WRITE_TOKEN, READ_TOKEN]) expect(output).not.toContain(secret);
  });
});

describe.concurrent('one role per process', () => {
  it('--role api serves HTTP, and stops cleanly on SIGTERM', async (test) => {
    const { expect } = test;
    const { herald, port } = await start(test, ['--role', 'api']);
    const url = await herald.listening();
    expect(url).toBe(`http://127.0.0.1:${port}`);
    expect(channelsLine(herald)?.roles).toEqual(['api']);
    expect((await fetch(`${url}/readyz`)).status).toBe(200);

    expect(await stopWith(herald, 'SIGTERM'), herald.stdout() + herald.stderr()).toMatchObject({ code: 0, signal: null });
    expect(herald.logs().at(-1)?.msg).toBe('stopped cleanly');
  });

  it('--role workers starts without serving HTTP, and stops cleanly on SIGTERM', async (test) => {
    const { expect } = test;
    const { herald, port } = await start(test, ['--role', 'workers']);
    await herald.waitForLog(/^Herald workers running/);
    expect(channelsLine(herald)?.roles).toEqual(['workers']);
    expect(herald.logs().some((l) => /listening/i.test(l.msg))).toBe(false);
    expect(await refusesConnections(`http://127.0.0.1:${port}/healthz`)).toBe(true);

    const stopped = await stopWith(herald, 'SIGTERM');
    expect(stopped, herald.stdout() + herald.stderr()).toMatchObject({ code: 0, signal: null });
    expect(stopped.ms).toBeLessThan(STOP_WITHIN_MS);
    expect(herald.logs().at(-1)?.msg).toBe('stopped cleanly');
  });
});
