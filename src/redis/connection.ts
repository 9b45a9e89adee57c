/**
 * Redis connections. The API's fails fast (a request must get a 503 within a
 * second while Redis is away, never hang); the workers' waits and retries
 * (BullMQ requires `maxRetriesPerRequest: null` for blocking commands).
 */
import { Cluster, Redis, type ClusterOptions, type RedisOptions } from 'ioredis';
import type { RedisNode, RedisTopology } from '../config.js';
import { coalesceWritesPerTick } from './coalesced-writes.js';

export type ConnectionPurpose = 'api' | 'worker';

/** A connection to Herald's Redis: one server or a Sentinel-watched master (`Redis`), or a Redis Cluster. */
export type RedisClient = Redis | Cluster;

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
 * Where to connect: one server by URL, a master the Sentinels name (and
 * follow through failovers), or a Redis Cluster through any of its nodes.
 */
export type RedisTarget = { kind: 'single'; url: string } | Exclude<RedisTopology, { kind: 'single' }>;

const nodeList = (nodes: readonly RedisNode[]): string => nodes.map((n) => (n.host.includes(':') ? `[${n.host}]:${n.port}` : `${n.host}:${n.port}`)).join(',');

/** Where `target` is, for messages: never a password. */
export function describeRedisTarget(target: RedisTarget): string {
  switch (target.kind) {
    case 'single':
      return `Redis at ${redactRedisUrl(target.url)}`;
    case 'sentinel':
      return `the master "${target.master}" of the Sentinels at ${nodeList(target.sentinels)}`;
    case 'cluster':
      return `the Redis Cluster at ${nodeList(target.nodes)}`;
  }
}

const SETTING: Record<RedisTarget['kind'], string> = { single: 'REDIS_URL', sentinel: 'REDIS_SENTINELS and REDIS_SENTINEL_MASTER', cluster: 'REDIS_CLUSTER_NODES' };

/**
 * A master demoted by a failover keeps its connections and answers every
 * write READONLY: such an answer drops the connection, so that it is made
 * again to whichever master the Sentinels name now, and the command is sent
 * again there.
 */
function reconnectOnReadOnly(error: Error): 2 | false {
  return /^READONLY\b/.test(error.message) ? 2 : false;
}

function newClient(target: RedisTarget, purpose: ConnectionPurpose, name: string): RedisClient {
  const options = { ...connectionOptions(purpose), connectionName: name };
  switch (target.kind) {
    case 'single':
      return new Redis(target.url, options);
    case 'sentinel':
      return new Redis({
        ...options,
        sentinels: target.sentinels.map((n) => ({ host: n.host, port: n.port })),
        name: target.master,
        ...(target.username !== undefined && { username: target.username }),
        ...(target.password !== undefined && { password: target.password }),
        ...(target.sentinelPassword !== undefined && { sentinelPassword: target.sentinelPassword }),
        // Told of a new master by the Sentinels at once, rather than at the next failed command.
        failoverDetector: true,
        sentinelRetryStrategy: retryStrategy,
        reconnectOnError: reconnectOnReadOnly,
      });
    case 'cluster': {
      const { retryStrategy: _, lazyConnect: __, enableOfflineQueue, ...perNode } = options;
      const clusterOptions: ClusterOptions = {
        lazyConnect: true,
        enableReadyCheck: true,
        ...(enableOfflineQueue !== undefined && { enableOfflineQueue }),
        clusterRetryStrategy: retryStrategy,
        // A failover or a slot move answers MOVED, ASK, TRYAGAIN or CLUSTERDOWN
        // for a moment: ioredis follows and retries them on its own.
        retryDelayOnFailover: 100,
        retryDelayOnClusterDown: 200,
        retryDelayOnTryAgain: 100,
        maxRedirections: 16,
        slotsRefreshTimeout: 2000,
        redisOptions: {
          ...perNode,
          ...(target.username !== undefined && { username: target.username }),
          ...(target.password !== undefined && { password: target.password }),
          reconnectOnError: reconnectOnReadOnly,
        },
      };
      const cluster = new Cluster(target.nodes.map((n) => ({ host: n.host, port: n.port })), clusterOptions);
      // Each node's connection sends each tick's commands at once, as a single Redis's does.
      cluster.on('+node', (node: Redis) => node.on('connect', () => coalesceWritesPerTick(node.stream)));
      return cluster;
    }
  }
}

/**
 * Connects and waits until the connection is ready; throws
 * {@link RedisUnavailableError} (naming where, password masked) when the
 * first attempt fails.
 */
export async function connectRedis(target: RedisTarget, purpose: ConnectionPurpose, name: string): Promise<RedisClient> {
  const redis = newClient(target, purpose, name);
  // Every connection ioredis makes (it reconnects with a new socket) sends each tick's commands at once.
  if (redis instanceof Redis) redis.on('connect', () => coalesceWritesPerTick(redis.stream));
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
    throw new RedisUnavailableError(`cannot connect to ${describeRedisTarget(target)} (${why}); check ${SETTING[target.kind]} and that Redis is running`);
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
