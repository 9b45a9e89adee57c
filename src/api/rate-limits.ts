/**
 * Rate limits (contract §3 Operations): routes without auth per client
 * address, /v1 per API token. Counts live in Redis (@fastify/rate-limit's
 * store: one script call per request), so every API process shares them.
 * Monitoring (/healthz, /readyz, /metrics) is never limited: a scraper or a
 * load balancer must not be locked out by the traffic it watches.
 */
import rateLimit, { normalizeIP } from '@fastify/rate-limit';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { RedisClient } from '../redis/connection.js';
import type { ApiToken } from '../config.js';
import { bearerToken, tokenFinder } from './auth.js';
import { ApiError } from './errors.js';

/** A limit counts requests over this window: settings are "per minute". */
const WINDOW_MS = 60_000;

/** An `onRequest` hook that answers 429 with `Retry-After` once its caller is over the limit. */
export type RateLimitHook = (request: FastifyRequest, reply: FastifyReply) => Promise<unknown>;

export interface RateLimitOptions {
  redis: RedisClient;
  /** Herald's key prefix; the counts live under `<prefix>:rate-limit:`. */
  prefix: string;
}

function tooMany(who: (request: FastifyRequest) => string): (request: FastifyRequest, context: { max: number; after: string }) => ApiError {
  return (request, context) =>
    new ApiError(429, 'rate_limited', `more than ${context.max} requests a minute ${who(request)}; retry in ${context.after}`, {
      limitPerMinute: context.max,
    });
}

/** What every limit shares: RedisClient as the store, and what to do when it is away. */
function shared(options: RateLimitOptions, name: string): { redis: RedisClient; nameSpace: string; timeWindow: number; skipOnError: boolean } {
  return {
    redis: options.redis,
    nameSpace: `${options.prefix}:rate-limit:${name}:`,
    timeWindow: WINDOW_MS,
    // A limit protects Herald; Redis being away must not turn it into an outage of its own.
    skipOnError: true,
  };
}

/**
 * Limits every route registered in `scope` from here on to `perMinute`
 * requests per client address (0 = no limit): for routes without auth.
 */
export async function limitPerAddress(scope: FastifyInstance, options: RateLimitOptions & { perMinute: number }): Promise<void> {
  if (options.perMinute === 0) return;
  await scope.register(rateLimit, {
    ...shared(options, 'public'),
    global: true,
    max: options.perMinute,
    keyGenerator: (request) => normalizeIP(request.ip),
    errorResponseBuilder: tooMany(() => 'from this address'),
  });
}

/**
 * The /v1 limit: `perMinute` requests per API token (0 = no limit), keyed
 * by the token's name. Add the hook before authentication, so that requests
 * without a known token are refused too, counted per client address.
 */
export async function limitPerToken(
  app: FastifyInstance,
  options: RateLimitOptions & { perMinute: number; tokens: readonly ApiToken[] },
): Promise<RateLimitHook> {
  if (options.perMinute === 0) return async () => undefined;
  const find = tokenFinder(options.tokens);
  // The token's name, never the token itself: the key is visible in Redis.
  const callerKey = (request: FastifyRequest): string => {
    const presented = bearerToken(request);
    const name = presented === undefined ? undefined : find(presented)?.name;
    return name === undefined ? `address:${normalizeIP(request.ip)}` : `token:${name}`;
  };
  await app.register(rateLimit, {
    ...shared(options, 'api'),
    // Applied by the hook returned, not to every route.
    global: false,
    max: options.perMinute,
    keyGenerator: callerKey,
    errorResponseBuilder: tooMany((request) => (callerKey(request).startsWith('token:') ? 'for this token' : 'from this address')),
  });
  return app.rateLimit();
}
