/**
 * A write is answered 2xx only once the replicas have it (see
 * src/redis/replica-wait.ts). Registered after the Idempotency-Key hook, so
 * that the kept answer is covered too: when the replicas do not confirm in
 * time, the caller gets 503 — the write is on the master and will be
 * broadcast unless that master is lost — and a retry with the same
 * Idempotency-Key answers what was kept, without writing again.
 */
import type { FastifyInstance } from 'fastify';
import { isRedisUnavailable } from '../redis/errors.js';
import type { ReplicaWaiter } from '../redis/replica-wait.js';

const WRITING_METHODS = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);
/** A replica catches up (or a failover completes) in seconds. */
const RETRY_AFTER_SECONDS = 1;

export function acknowledgeOnceReplicated(app: FastifyInstance, waiter: ReplicaWaiter): void {
  app.addHook('onSend', async (request, reply, payload) => {
    if (!WRITING_METHODS.has(request.method) || reply.statusCode >= 300) return payload;
    try {
      await waiter.confirm();
      return payload;
    } catch (error) {
      if (!isRedisUnavailable(error)) throw error;
      request.log.warn({ err: error }, 'a write was not confirmed by the replicas in time');
      void reply.code(503).header('retry-after', String(RETRY_AFTER_SECONDS)).type('application/json');
      const message = 'storage could not confirm the write on a replica in time; retry with the same Idempotency-Key to learn whether it was done';
      return JSON.stringify({ error: { code: 'unavailable', message } });
    }
  });
}
