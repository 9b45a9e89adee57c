/**
 * `Idempotency-Key` on writing routes: the same key with the same request
 * replays the first answer (and broadcasts nothing new); with a different
 * request it is refused with 422.
 *
 * What a key keeps for 24 h is bounded (HERALD_IDEMPOTENCY_MAX_BYTES): a
 * request with a key whose body is larger is refused with 413 before any
 * work, and an answer that grew larger anyway (a long maintenance timeline)
 * is not kept — a retry with the key is then told, with 409, that the
 * request was done, and is not run again.
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

/** How often, and for how long, a claim that could not be freed (Redis away) is tried again. */
const RELEASE_RETRY_MS = 500;
/** Within the claim's own lifetime (60 s): a later delete could remove a newer request's answer. */
const RELEASE_GIVE_UP_MS = 30_000;

/**
 * Frees the claim of a request that failed. When Redis is away at that
 * moment (a failover, a restart), freeing is tried again until it is back,
 * so that the caller's retry with the same key runs instead of being told
 * for a minute that the key is in use.
 */
async function release(store: IdempotencyStore, claim: { tokenName: string; key: string }): Promise<void> {
  const giveUpAt = Date.now() + RELEASE_GIVE_UP_MS;
  for (;;) {
    try {
      await store.release(claim.tokenName, claim.key);
      return;
    } catch {
      if (Date.now() + RELEASE_RETRY_MS > giveUpAt) return;
      await new Promise((resolve) => setTimeout(resolve, RELEASE_RETRY_MS));
    }
  }
}

export function registerIdempotency(app: FastifyInstance, store: IdempotencyStore): void {
  app.addHook('preHandler', async (request: FastifyRequest, reply: FastifyReply) => {
    const raw = request.headers['idempotency-key'];
    if (raw === undefined || request.routeOptions.config.scope !== 'write' || request.caller === undefined) return;
    const key = Array.isArray(raw) ? raw[0]! : raw;
    if (!KEY_PATTERN.test(key)) {
      throw new ApiError(400, 'invalid_idempotency_key', 'Idempotency-Key must be 1-255 visible ASCII characters');
    }
    const body = JSON.stringify(request.body ?? null);
    const bytes = Buffer.byteLength(body);
    if (bytes > store.maxBytes) {
      throw new ApiError(
        413,
        'limit_exceeded',
        `a request with an Idempotency-Key may carry at most ${store.maxBytes} bytes of JSON (HERALD_IDEMPOTENCY_MAX_BYTES), this one carries ${bytes}; send it without the key (a PUT is idempotent by itself) or in smaller parts`,
        { limit: 'HERALD_IDEMPOTENCY_MAX_BYTES', max: store.maxBytes, actual: bytes },
      );
    }
    const fingerprint = createHash('sha256').update(`${request.method} ${request.url}\n${body}`).digest('hex');
    const tokenName = request.caller.name;
    const claim = await store.claim(tokenName, key, fingerprint);
    switch (claim.outcome) {
      case 'claimed':
        request.idempotency = { key, fingerprint, tokenName };
        return;
      case 'replay':
        return reply.code(claim.response.statusCode).header('idempotent-replayed', 'true').send(claim.response.body);
      case 'not-kept':
        throw new ApiError(
          409,
          'idempotency_answer_not_kept',
          `the request with this Idempotency-Key was done (answered ${claim.response.statusCode}), but its answer of ${claim.response.bytes} bytes was larger than HERALD_IDEMPOTENCY_MAX_BYTES (${store.maxBytes}) and was not kept; read the resource for its state`,
          { statusCode: claim.response.statusCode, bytes: claim.response.bytes, limit: 'HERALD_IDEMPOTENCY_MAX_BYTES', max: store.maxBytes },
        );
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
      // The answer does not wait for Redis to come back.
      void release(store, claim);
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
