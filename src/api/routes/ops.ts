/**
 * Operations endpoints, without auth: liveness, readiness, Prometheus metrics.
 */
import type { FastifyPluginAsync } from 'fastify';
import type { ApiDeps } from '../app.js';

/** Readiness must answer quickly even when Redis hangs. */
const READY_TIMEOUT_MS = 1000;

export const opsRoutes: FastifyPluginAsync<{ deps: ApiDeps }> = async (app, { deps }) => {
  app.get('/healthz', async () => ({ status: 'ok' }));

  app.get('/readyz', async (request, reply) => {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error('timed out')), READY_TIMEOUT_MS);
    });
    try {
      await Promise.race([deps.redis.ping(), timeout]);
      return { status: 'ready', redis: 'ok' };
    } catch (error) {
      request.log.warn({ err: error instanceof Error ? error.message : error }, 'readiness: Redis unreachable');
      return reply.code(503).send({ status: 'unavailable', redis: 'unreachable' });
    } finally {
      clearTimeout(timer);
    }
  });

  app.get('/metrics', async (_request, reply) => {
    reply.type(deps.metrics.contentType);
    return deps.metrics.render();
  });
};
