/**
 * Bearer tokens with two scopes. Every /v1 route needs a token; a route
 * marked `write` refuses a `read` token.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { ApiToken, TokenScope } from '../config.js';
import { ApiError } from './errors.js';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The scope a route needs; absent on routes outside /v1. */
    scope?: TokenScope;
  }
  interface FastifyRequest {
    /** The token that authenticated this request. */
    caller?: ApiToken;
  }
}

function digest(value: string): Buffer {
  return createHash('sha256').update(value).digest();
}

/** Finds the configured token a caller presented, comparing against every token in constant time (no early exit to time). */
export function tokenFinder(tokens: readonly ApiToken[]): (presented: string) => ApiToken | undefined {
  const known = tokens.map((t) => ({ token: t, digest: digest(t.token) }));
  return (presented) => {
    const d = digest(presented);
    let match: ApiToken | undefined;
    for (const k of known) if (timingSafeEqual(k.digest, d)) match = k.token;
    return match;
  };
}

/** The token of an `Authorization: Bearer <token>` header, if the request has one. */
export function bearerToken(request: FastifyRequest): string | undefined {
  const header = request.headers.authorization;
  return header === undefined ? undefined : /^Bearer\s+(\S+)\s*$/i.exec(header)?.[1];
}

export function registerAuth(app: FastifyInstance, tokens: readonly ApiToken[]): void {
  const find = tokenFinder(tokens);

  app.addHook('onRequest', async (request: FastifyRequest) => {
    const scope = request.routeOptions.config.scope;
    if (scope === undefined) return;
    const presented = bearerToken(request);
    if (presented === undefined) throw new ApiError(401, 'unauthorized', 'send Authorization: Bearer <token>');
    const caller = find(presented);
    if (caller === undefined) throw new ApiError(401, 'unauthorized', 'the bearer token is not known');
    if (scope === 'write' && caller.scope !== 'write') {
      throw new ApiError(403, 'forbidden', `token "${caller.name}" has read scope; this route needs write`);
    }
    request.caller = caller;
  });
}
