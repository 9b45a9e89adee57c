/**
 * Redis connections. The API's fails fast (a request must get a 503 within a
 * second while Redis is away, never hang); the workers' waits and retries
 * (BullMQ requires `maxRetriesPerRequest: null` for blocking commands).
 */
import { Redis, type RedisOptions } from 'ioredis';

export type ConnectionPurpose = 'api' | 'worker';

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

/** Connects and waits until the connection is ready. */
export async function connectRedis(url: string, purpose: ConnectionPurpose, name: string): Promise<Redis> {
  const redis = new Redis(url, { ...connectionOptions(purpose), connectionName: name });
  // Without a listener ioredis logs every reconnection failure to stderr itself.
  redis.on('error', () => {});
  await redis.connect();
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
  try {
    await redis.connect();
    return (await redis.ping()) === 'PONG';
  } catch {
    return false;
  } finally {
    redis.disconnect();
  }
}
