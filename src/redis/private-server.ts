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
import { redisAnswers } from './connection.js';

export class RedisUnavailableError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RedisUnavailableError';
  }
}

export interface ResolvedRedis {
  url: string;
  /** Stops the private server, when Herald started one. */
  stop(): Promise<void>;
}

const REMEDIES =
  'Start one with `docker compose up -d redis`, or install redis-server (e.g. `apt-get install redis-server`), ' +
  'or point REDIS_URL at a running Redis.';

export async function resolveRedis(configuredUrl: string | undefined, dataRoot: string, logger: Logger): Promise<ResolvedRedis> {
  const none = { stop: async () => {} };
  if (configuredUrl !== undefined) return { url: configuredUrl, ...none };
  if (await redisAnswers(DEFAULT_REDIS_URL)) return { url: DEFAULT_REDIS_URL, ...none };

  const dir = join(dataRoot, '.herald');
  mkdirSync(dir, { recursive: true });
  const { port } = new URL(DEFAULT_REDIS_URL);
  let child: ChildProcess;
  try {
    child = await spawnRedis(['--port', port, '--bind', '127.0.0.1', '--dir', dir, '--appendonly', 'yes', '--save', '']);
  } catch {
    throw new RedisUnavailableError(`REDIS_URL is unset and no Redis answers at ${DEFAULT_REDIS_URL}. ${REMEDIES}`);
  }
  for (let i = 0; i < 50 && !(await redisAnswers(DEFAULT_REDIS_URL, 200)); i++) {
    await new Promise((r) => setTimeout(r, 100));
  }
  if (!(await redisAnswers(DEFAULT_REDIS_URL))) {
    child.kill('SIGKILL');
    throw new RedisUnavailableError(`a private redis-server was started but does not answer at ${DEFAULT_REDIS_URL}. ${REMEDIES}`);
  }
  logger.info({ url: DEFAULT_REDIS_URL, dataDir: dir }, 'REDIS_URL is unset: started a private redis-server (AOF on)');
  return {
    url: DEFAULT_REDIS_URL,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
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
