/**
 * REDIS_URL unset: `resolveRedis` uses a Redis answering at the default
 * address, or starts a private `redis-server` there with its data under
 * `.herald/` (AOF on). The default address is a parameter, so these tests
 * look at free ports of their own and never at 127.0.0.1:6379, where a Redis
 * this test does not own may be running.
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync, realpathSync, rmSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterEach, describe, expect, inject, it } from 'vitest';
import { createLogger } from '../../src/logger.js';
import { redisAnswers } from '../../src/redis/connection.js';
import { RedisUnavailableError, resolveRedis, type ResolvedRedis } from '../../src/redis/private-server.js';
import { freePort } from '../support/global-redis.js';

const logger = createLogger('silent');

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  // Bounded, so that a stop() that hangs (the bug one test looks for) cannot also hang the hook.
  for (const cleanup of cleanups.splice(0).reverse()) {
    await Promise.race([cleanup(), new Promise((r) => setTimeout(r, 5000))]);
  }
});

function dataRoot(): string {
  const dir = mkdtempSync(join(tmpdir(), 'herald-private-redis-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** resolveRedis, with whatever it starts stopped after the test even if an assertion fails. */
async function resolve(configuredUrl: string | undefined, root: string, defaultUrl: string): Promise<ResolvedRedis> {
  const resolved = await resolveRedis(configuredUrl, root, logger, defaultUrl);
  cleanups.push(() => resolved.stop());
  return resolved;
}

async function withClient<T>(url: string, use: (redis: Redis) => Promise<T>): Promise<T> {
  const redis = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  redis.on('error', () => {});
  await redis.connect();
  try {
    return await use(redis);
  } finally {
    redis.disconnect();
  }
}

function gone(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return false;
  } catch {
    return true;
  }
}

async function until(check: () => boolean | Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('resolveRedis', () => {
  it('uses REDIS_URL as given, without looking for or starting anything', async () => {
    const root = dataRoot();
    const configured = `redis://127.0.0.1:${await freePort()}`;
    const resolved = await resolve(configured, root, `redis://127.0.0.1:${await freePort()}`);
    expect(resolved.url).toBe(configured);
    expect(existsSync(join(root, '.herald'))).toBe(false);
  });

  it('uses a Redis already answering at the default address, and starts none', async () => {
    const root = dataRoot();
    const running = inject('redisUrl');
    const resolved = await resolve(undefined, root, running);
    expect(resolved.url).toBe(running);
    expect(existsSync(join(root, '.herald'))).toBe(false);
    await resolved.stop();
    // stop() leaves a Redis it did not start alone.
    expect(await redisAnswers(running)).toBe(true);
  });

  describe('with nothing at the default address and redis-server on PATH', () => {
    it('starts a private redis-server with AOF on under .herald/, and stop() stops it', async () => {
      const root = dataRoot();
      const defaultUrl = `redis://127.0.0.1:${await freePort()}`;
      const resolved = await resolve(undefined, root, defaultUrl);

      expect(resolved.url).toBe(defaultUrl);
      const { pong, appendonly, dir } = await withClient(defaultUrl, async (redis) => ({
        pong: await redis.ping(),
        appendonly: await redis.config('GET', 'appendonly'),
        dir: await redis.config('GET', 'dir'),
        written: await redis.set('herald-private-server-test', 'kept-in-the-aof'),
      }));
      expect(pong).toBe('PONG');
      expect(appendonly).toEqual(['appendonly', 'yes']);
      expect(dir).toEqual(['dir', realpathSync(join(root, '.herald'))]);

      await resolved.stop();
      expect(await redisAnswers(defaultUrl)).toBe(false);
      // SIGTERM let it flush: the write is on disk, in the AOF under .herald/.
      const aofDir = join(root, '.herald', 'appendonlydir');
      const aof = readdirSync(aofDir)
        .map((file) => readFileSync(join(aofDir, file), 'latin1'))
        .join('');
      expect(aof).toContain('herald-private-server-test');
      expect(aof).toContain('kept-in-the-aof');
    });

    it('stop() resolves even when the server was already killed by a signal', async () => {
      const root = dataRoot();
      const defaultUrl = `redis://127.0.0.1:${await freePort()}`;
      const resolved = await resolve(undefined, root, defaultUrl);
      const info = await withClient(defaultUrl, (redis) => redis.info('server'));
      const pid = Number(/process_id:(\d+)/.exec(info)?.[1]);
      expect(pid).toBeGreaterThan(0);

      process.kill(pid, 'SIGKILL');
      // Gone means reaped: this process has seen its exit, so stop() finds it already over.
      await until(() => gone(pid), 5000, 'the killed redis-server to be reaped');
      const outcome = await Promise.race([
        resolved.stop().then(() => 'stopped'),
        new Promise((r) => setTimeout(() => r('stop() hung'), 2000)),
      ]);
      expect(outcome).toBe('stopped');
    });
  });

  it('fails fast when the default port is held by something that is not Redis', async () => {
    // Accepts connections and never says a word, as a hung server or another service would.
    const sockets = new Set<Socket>();
    const silent: Server = createServer((socket) => {
      sockets.add(socket);
      socket.on('error', () => {});
    });
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', () => r()));
    cleanups.push(
      () =>
        new Promise<void>((r) => {
          for (const socket of sockets) socket.destroy();
          silent.close(() => r());
        }),
    );
    const address = silent.address();
    const port = typeof address === 'object' && address !== null ? address.port : 0;

    const started = Date.now();
    const outcome = await Promise.race([
      resolveRedis(undefined, dataRoot(), logger, `redis://127.0.0.1:${port}`).then(
        async (resolved) => {
          await resolved.stop();
          return 'resolved';
        },
        (error: unknown) => error,
      ),
      new Promise((r) => setTimeout(() => r('hung'), 10_000)),
    ]);
    expect(outcome).toBeInstanceOf(RedisUnavailableError);
    expect((outcome as Error).message).toContain(`does not answer at redis://127.0.0.1:${port}`);
    expect(Date.now() - started).toBeLessThan(5000);
  });

  it('without redis-server on PATH, says how to get a Redis', async () => {
    const emptyBin = dataRoot();
    const defaultUrl = `redis://127.0.0.1:${await freePort()}`;
    const path = process.env.PATH;
    process.env.PATH = emptyBin;
    let thrown: unknown;
    try {
      await resolveRedis(undefined, dataRoot(), logger, defaultUrl);
    } catch (error) {
      thrown = error;
    } finally {
      process.env.PATH = path;
    }
    expect(thrown).toBeInstanceOf(RedisUnavailableError);
    const message = (thrown as Error).message;
    expect(message).toContain(`REDIS_URL is unset and no Redis answers at ${defaultUrl}`);
    expect(message).toContain('docker compose up -d redis');
    expect(message).toMatch(/install redis-server/);
    expect(await redisAnswers(defaultUrl)).toBe(false);
  });
});
