/**
 * `Idempotency-Key` on writing routes: the same key with the same request
 * replays the first answer (and broadcasts nothing new); with a different
 * request it is refused with 422.
 */
import { createHash } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { IdempotencyStore } from '../store/idempotency-store.js';
import { ApiError } from './errors.js';

declare module 'fastify' {
  interface FastifyRequest {
    idempotency?: { key: string; fingerprint: string; tokenName: string };
  }
}

const KEY_PATTERN = /^[\x21-\x7e]{1,255}$/;

export function registerIdempotency(app: FastifyInstance, store: IdempotencyStore): void {
  app.addHook('preHandler', async (request: FastifyRequest, reply: FastifyReply) => {
    const raw = request.headers['idempotency-key'];
    if (raw === undefined || request.routeOptions.config.scope !== 'write' || request.caller === undefined) return;
    const key = Array.isArray(raw) ? raw[0]! : raw;
    if (!KEY_PATTERN.test(key)) {
      throw new ApiError(400, 'invalid_idempotency_key', 'Idempotency-Key must be 1-255 visible ASCII characters');
    }
    const fingerprint = createHash('sha256')
      .update(`${request.method} ${request.url}\n${JSON.stringify(request.body ?? null)}`)
      .digest('hex');
    const tokenName = request.caller.name;
    const claim = await store.claim(tokenName, key, fingerprint);
    switch (claim.outcome) {
      case 'claimed':
        request.idempotency = { key, fingerprint, tokenName };
        return;
      case 'replay':
        return reply.code(claim.response.statusCode).header('idempotent-replayed', 'true').send(claim.response.body);
      case 'mismatch':
        throw new ApiError(422, 'idempotency_key_reused', 'this Idempotency-Key was used with a different request');
      case 'in-progress':
        throw new ApiError(409, 'idempotency_key_in_use', 'a request with this Idempotency-Key is still being processed');
    }
  });

  app.addHook('onSend', async (request: FastifyRequest, reply: FastifyReply, payload: unknown) => {
    const claim = request.idempotency;
    if (claim === undefined) return payload;
    request.idempotency = undefined;
    if (reply.statusCode >= 500) {
      await store.release(claim.tokenName, claim.key).catch(() => {});
      return payload;
    }
    let body: unknown = payload;
    if (typeof payload === 'string') {
      try {
        body = JSON.parse(payload);
      } catch {
        body = payload;
      }
    }
    await store.complete(claim.tokenName, claim.key, claim.fingerprint, { statusCode: reply.statusCode, body });
    return payload;
  });
}
