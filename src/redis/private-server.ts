/**
 * For a newcomer with nothing configured: when `REDIS_URL` is unset and no
 * Redis answers at the default address, Herald starts a private
 * `redis-server` with its data under `.herald/` (AOF on) and stops it on exit.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { DEFAULT_REDIS_URL } from '../config.js';
import { RedisUnavailableError, redisAnswers } from './connection.js';

export { RedisUnavailableError };

export interface ResolvedRedis {
  url: string;
  /** Stops the private server, when Herald started one. */
  stop(): Promise<void>;
}

const REMEDIES =
  'Start one with `docker compose up -d redis`, or install redis-server (e.g. `apt-get install redis-server`), ' +
  'or point REDIS_URL at a running Redis.';

/**
 * The Redis to use: `configuredUrl` when set; otherwise `defaultUrl` when a
 * Redis answers there; otherwise a private `redis-server` started on
 * `defaultUrl`'s port with its data under `dataRoot/.herald/`.
 */
export async function resolveRedis(
  configuredUrl: string | undefined,
  dataRoot: string,
  logger: Logger,
  /** Where to look for (or start) a Redis; tests pass a free port. @defaultValue {@link DEFAULT_REDIS_URL} */
  defaultUrl: string = DEFAULT_REDIS_URL,
): Promise<ResolvedRedis> {
  const none = { stop: async () => {} };
  if (configuredUrl !== undefined) return { url: configuredUrl, ...none };
  if (await redisAnswers(defaultUrl)) return { url: defaultUrl, ...none };

  const dir = join(dataRoot, '.herald');
  mkdirSync(dir, { recursive: true });
  const port = new URL(defaultUrl).port || '6379';
  let child: ChildProcess;
  try {
    child = await spawnRedis(['--port', port, '--bind', '127.0.0.1', '--dir', dir, '--appendonly', 'yes', '--save', '']);
  } catch {
    throw new RedisUnavailableError(`REDIS_URL is unset and no Redis answers at ${defaultUrl}. ${REMEDIES}`);
  }
  const exited = (): boolean => child.exitCode !== null || child.signalCode !== null;
  // A redis-server that exits at once (port taken by something else) is not waited for.
  for (let i = 0; i < 50 && !exited() && !(await redisAnswers(defaultUrl, 200)); i++) {
    await new Promise((r) => setTimeout(r, 100));
  }
  if (exited() || !(await redisAnswers(defaultUrl))) {
    child.kill('SIGKILL');
    throw new RedisUnavailableError(`a private redis-server was started but does not answer at ${defaultUrl}. ${REMEDIES}`);
  }
  logger.info({ url: defaultUrl, dataDir: dir }, 'REDIS_URL is unset: started a private redis-server (AOF on)');
  return {
    url: defaultUrl,
    stop: () =>
      new Promise<void>((resolve) => {
        // A server killed by a signal has a signalCode and no exitCode; its 'exit' has already fired.
        if (exited()) return resolve();
        child.once('exit', () => resolve());
        // SIGTERM makes redis-server flush the AOF and exit cleanly.
        child.kill('SIGTERM');
      }),
  };
}

function spawnRedis(args: string[]): Promise<ChildProcess> {
  return new Promise((resolve, reject) => {
    const child = spawn('redis-server', args, { stdio: 'ignore' });
    child.once('error', reject);
    child.once('spawn', () => resolve(child));
  });
}
