/**
 * The HTTP API, built from its parts. Tests build it and call `inject()`;
 * `main` builds it and listens.
 */
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { Config } from '../config.js';
import type { UnsubscribeTokens } from '../domain/unsubscribe-token.js';
import type { Metrics } from '../metrics.js';
import type { HeraldQueues } from '../queue/queues.js';
import type { Renderer } from '../render/renderer.js';
import type { AudienceStore } from '../store/audience-store.js';
import type { DeliveryStore } from '../store/delivery-store.js';
import type { IdempotencyStore } from '../store/idempotency-store.js';
import type { IncidentStore } from '../store/incident-store.js';
import type { MaintenanceStore } from '../store/maintenance-store.js';
import { registerAuth } from './auth.js';
import { registerErrorHandling } from './errors.js';
import { registerIdempotency } from './idempotency.js';
import { audienceRoutes } from './routes/audiences.js';
import { incidentRoutes } from './routes/incidents.js';
import { maintenanceRoutes } from './routes/maintenances.js';
import { opsRoutes } from './routes/ops.js';
import { previewRoutes } from './routes/preview.js';
import { publicRoutes } from './routes/public.js';
import { registerValidation } from './validation.js';

export interface ApiDeps {
  config: Readonly<Config>;
  redis: Redis;
  incidents: IncidentStore;
  maintenances: MaintenanceStore;
  audiences: AudienceStore;
  deliveries: DeliveryStore;
  idempotency: IdempotencyStore;
  queues: HeraldQueues;
  renderer: Renderer;
  unsubscribeTokens: UnsubscribeTokens;
  metrics: Metrics;
  logger: Logger;
}

/** Large enough for an audience of 50,000 addresses; anything bigger is a mistake. */
const BODY_LIMIT_BYTES = 5 * 1024 * 1024;

export async function buildApp(deps: ApiDeps): Promise<FastifyInstance> {
  const app = Fastify({
    // pino's Logger is Fastify's logger; only the generic parameters differ.
    loggerInstance: deps.logger as FastifyBaseLogger,
    bodyLimit: BODY_LIMIT_BYTES,
    // One access line per request is written by the onResponse hook below.
    logController: new LogController({ disableRequestLogging: true }),
    // Requests in flight at shutdown get this long to finish.
    return503OnClosing: true,
    forceCloseConnections: 'idle',
  }).withTypeProvider<TypeBoxTypeProvider>();

  registerValidation(app);
  registerErrorHandling(app);
  registerAuth(app, deps.config.apiTokens);
  registerIdempotency(app, deps.idempotency);

  app.addHook('onResponse', async (request, reply) => {
    const route = request.routeOptions.url ?? 'unmatched';
    deps.metrics.httpDuration.observe(
      { method: request.method, route, status: String(reply.statusCode) },
      reply.elapsedTime / 1000,
    );
    if (reply.statusCode >= 500 || route.startsWith('/v1')) {
      request.log.info({ method: request.method, route, status: reply.statusCode, ms: Math.round(reply.elapsedTime) }, 'request');
    }
  });

  await app.register(opsRoutes, { deps });
  await app.register(publicRoutes, { deps });
  await app.register(
    async (v1) => {
      await v1.register(audienceRoutes, { deps });
      await v1.register(incidentRoutes, { deps });
      await v1.register(maintenanceRoutes, { deps });
      await v1.register(previewRoutes, { deps });
    },
    { prefix: '/v1' },
  );
  return app;
}
