/**
 * Redis connections. The API's fails fast (a request must get a 503 within a
 * second while Redis is away, never hang); the workers' waits and retries
 * (BullMQ requires `maxRetriesPerRequest: null` for blocking commands).
 */
import { Redis, type RedisOptions } from 'ioredis';
import { coalesceWritesPerTick } from './coalesced-writes.js';

export type ConnectionPurpose = 'api' | 'worker';

/** No Redis to work with: the message says where Herald looked and what to do. */
export class RedisUnavailableError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RedisUnavailableError';
  }
}

/** `url` with its password masked: REDIS_URL may carry one, and this ends up in messages. */
export function redactRedisUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password !== '') parsed.password = '***';
    return parsed.toString();
  } catch {
    return '(an invalid URL)';
  }
}

/** Reconnect quickly at first, then every 2 s at most, forever. */
function retryStrategy(times: number): number {
  return Math.min(100 * times, 2000);
}

export function connectionOptions(purpose: ConnectionPurpose): RedisOptions {
  const common: RedisOptions = { retryStrategy, connectTimeout: 2000, lazyConnect: true };
  return purpose === 'api'
    ? { ...common, enableOfflineQueue: false, maxRetriesPerRequest: 1, commandTimeout: 2000 }
    : { ...common, maxRetriesPerRequest: null, enableReadyCheck: true };
}

/**
 * Connects and waits until the connection is ready; throws
 * {@link RedisUnavailableError} (naming the URL, password masked) when the
 * first attempt fails.
 */
export async function connectRedis(url: string, purpose: ConnectionPurpose, name: string): Promise<Redis> {
  const redis = new Redis(url, { ...connectionOptions(purpose), connectionName: name });
  // Every connection ioredis makes (it reconnects with a new socket) sends each tick's commands at once.
  redis.on('connect', () => coalesceWritesPerTick(redis.stream));
  // Without a listener ioredis logs every reconnection failure to stderr itself.
  // The last one is kept: connect() itself only rejects with "Connection is closed."
  let lastError: Error | undefined;
  redis.on('error', (error: Error) => {
    lastError = error;
  });
  try {
    await redis.connect();
  } catch (error) {
    // Otherwise ioredis keeps reconnecting in the background.
    redis.disconnect();
    const cause = lastError ?? error;
    const why = cause instanceof Error ? cause.message : String(cause);
    throw new RedisUnavailableError(`cannot connect to Redis at ${redactRedisUrl(url)} (${why}); check REDIS_URL and that Redis is running`);
  }
  return redis;
}

/** Whether a Redis answers PING at `url` within `timeoutMs`. */
export async function redisAnswers(url: string, timeoutMs = 500): Promise<boolean> {
  const redis = new Redis(url, {
    lazyConnect: true,
    connectTimeout: timeoutMs,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
    enableOfflineQueue: false,
  });
  redis.on('error', () => {});
  // connectTimeout covers only the TCP connect: a listener that accepts and
  // never replies (not Redis, or a hung one) would stall the ready check and
  // the PING for ever, so the whole exchange gets the deadline.
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), timeoutMs);
  });
  const answers = (async () => {
    await redis.connect();
    return (await redis.ping()) === 'PONG';
  })().catch(() => false);
  try {
    return await Promise.race([answers, deadline]);
  } finally {
    clearTimeout(timer);
    redis.disconnect();
  }
}
