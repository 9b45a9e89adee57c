/**
 * Rate limits (contract §3 Operations): routes without auth per client
 * address, /v1 per API token. Counts live in Redis (@fastify/rate-limit's
 * store: one script call per request), so every API process shares them.
 * Monitoring (/healthz, /readyz, /metrics) is never limited: a scraper or a
 * load balancer must not be locked out by the traffic it watches.
 */
import { createHash } from 'node:crypto';
import rateLimit, { normalizeIP } from '@fastify/rate-limit';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Redis } from 'ioredis';
import type { ApiToken } from '../config.js';
import { ApiError } from './errors.js';

/** A limit counts requests over this window: settings are "per minute". */
const WINDOW_MS = 60_000;

/** An `onRequest` hook that answers 429 with `Retry-After` once its caller is over the limit. */
export type RateLimitHook = (request: FastifyRequest, reply: FastifyReply) => Promise<unknown>;

export interface RateLimitOptions {
  redis: Redis;
  /** Herald's key prefix; the counts live under `<prefix>:rate-limit:`. */
  prefix: string;
  /** Requests a minute per client address on routes without auth; 0 = no limit. */
  publicPerMinute: number;
  /** Requests a minute per API token under /v1 (per address without a known token); 0 = no limit. */
  apiPerMinute: number;
  tokens: readonly ApiToken[];
}

export interface RateLimits {
  /** For the scope of routes without auth. */
  public: RateLimitHook;
  /** For /v1 routes; runs before authentication, so refused tokens are counted too. */
  api: RateLimitHook;
}

const unlimited: RateLimitHook = async () => {};

function tooMany(who: (request: FastifyRequest) => string): (request: FastifyRequest, context: { max: number; after: string }) => ApiError {
  return (request, context) =>
    new ApiError(429, 'rate_limited', `more than ${context.max} requests a minute ${who(request)}; retry in ${context.after}`, {
      limitPerMinute: context.max,
    });
}

function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/**
 * Registers @fastify/rate-limit on `app` (applied to no route by itself) and
 * returns the two hooks to add where they belong.
 */
export async function registerRateLimits(app: FastifyInstance, options: RateLimitOptions): Promise<RateLimits> {
  await app.register(rateLimit, {
    global: false,
    redis: options.redis,
    nameSpace: `${options.prefix}:rate-limit:`,
    // A limit protects Herald; Redis being away must not turn it into an outage of its own.
    skipOnError: true,
  });

  // Keyed by the token's name, never the token: the key is visible in Redis.
  const nameOf = new Map(options.tokens.map((t) => [sha256(t.token), t.name]));
  const apiKey = (request: FastifyRequest): string => {
    const bearer = /^Bearer\s+(\S+)\s*$/i.exec(request.headers.authorization ?? '')?.[1];
    const name = bearer === undefined ? undefined : nameOf.get(sha256(bearer));
    return name === undefined ? `api:address:${normalizeIP(request.ip)}` : `api:token:${name}`;
  };

  const publicLimit =
    options.publicPerMinute === 0
      ? unlimited
      : app.rateLimit({
          max: options.publicPerMinute,
          timeWindow: WINDOW_MS,
          keyGenerator: (request) => `public:${normalizeIP(request.ip)}`,
          errorResponseBuilder: tooMany(() => 'from this address'),
        });
  const apiLimit =
    options.apiPerMinute === 0
      ? unlimited
      : app.rateLimit({
          max: options.apiPerMinute,
          timeWindow: WINDOW_MS,
          keyGenerator: apiKey,
          errorResponseBuilder: tooMany((request) => (apiKey(request).startsWith('api:token:') ? 'for this token' : 'from this address')),
        });
  return { public: publicLimit, api: apiLimit };
}
