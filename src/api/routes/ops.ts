/**
 * Operations endpoints, without auth: liveness, readiness, Prometheus metrics.
 */
import type { FastifyPluginAsync } from 'fastify';
import { redisRefusal } from '../../redis/errors.js';
import type { ApiDeps } from '../app.js';

/** Readiness must answer quickly even when Redis hangs. */
const READY_TIMEOUT_MS = 1000;
/** The probe key outlives a few probes, then goes by itself. */
const READY_PROBE_TTL_MS = 10_000;

export const opsRoutes: FastifyPluginAsync<{ deps: ApiDeps }> = async (app, { deps }) => {
  app.get('/healthz', async () => ({ status: 'ok' }));

  // Ready means Redis takes a write: a replica, a Redis out of memory or one
  // that stopped writes after a failed save answers PING but refuses every update.
  // Every shard is written: on a Cluster, each lives on its own master.
  const probeKeys = deps.keys.shards.map((shard) => shard.readyProbe);
  app.get('/readyz', async (request, reply) => {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error('timed out')), READY_TIMEOUT_MS);
    });
    try {
      const now = new Date().toISOString();
      await Promise.race([Promise.all(probeKeys.map((key) => deps.redis.set(key, now, 'PX', READY_PROBE_TTL_MS))), timeout]);
      return { status: 'ready', redis: 'ok' };
    } catch (error) {
      const reason = redisRefusal(error) ?? 'unreachable';
      request.log.warn({ err: error, reason }, 'readiness: Redis does not take writes');
      return reply.code(503).send({ status: 'unavailable', redis: reason });
    } finally {
      clearTimeout(timer);
    }
  });

  app.get('/metrics', async (_request, reply) => {
    reply.type(deps.metrics.contentType);
    return deps.metrics.render();
  });
};
