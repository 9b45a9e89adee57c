/**
 * The HTTP API, built from its parts. Tests build it and call `inject()`;
 * `main` builds it and listens.
 */
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import Fastify, {
  LogController,
  type FastifyBaseLogger,
  type FastifyError,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
} from 'fastify';
import type { Logger } from 'pino';
import type { Config } from '../config.js';
import type { UnsubscribeTokens } from '../domain/unsubscribe-token.js';
import type { Metrics } from '../metrics.js';
import type { HeraldQueues } from '../queue/queues.js';
import type { RedisClient } from '../redis/connection.js';
import { ReplicaWaiter } from '../redis/replica-wait.js';
import type { Renderer } from '../render/renderer.js';
import type { AudienceStore } from '../store/audience-store.js';
import type { DeliveryStore } from '../store/delivery-store.js';
import type { IdempotencyStore } from '../store/idempotency-store.js';
import type { IncidentStore } from '../store/incident-store.js';
import type { Keys } from '../store/keys.js';
import type { MaintenanceStore } from '../store/maintenance-store.js';
import { registerAuth } from './auth.js';
import { AUDIENCE_BODY_LIMIT_BYTES, boundApiBodies, boundPublicBodies, parseNoBodies } from './body-limits.js';
import { registerErrorHandling } from './errors.js';
import { registerIdempotency } from './idempotency.js';
import { limitPerAddress, limitPerToken } from './rate-limits.js';
import { acknowledgeOnceReplicated } from './replication.js';
import { audienceRoutes } from './routes/audiences.js';
import { incidentRoutes } from './routes/incidents.js';
import { maintenanceRoutes } from './routes/maintenances.js';
import { opsRoutes } from './routes/ops.js';
import { previewRoutes } from './routes/preview.js';
import { publicRoutes } from './routes/public.js';
import { registerValidation } from './validation.js';

export interface ApiDeps {
  config: Readonly<Config>;
  redis: RedisClient;
  keys: Keys;
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

/** Node's default limit on a request's headers, the URL included (`--max-http-header-size`). */
const MAX_URL_BYTES = 16 * 1024;

export async function buildApp(deps: ApiDeps): Promise<FastifyInstance> {
  const app = Fastify({
    // pino's Logger is Fastify's logger; only the generic parameters differ.
    loggerInstance: deps.logger as FastifyBaseLogger,
    // The largest any route reads; each scope below bounds its own routes tighter.
    bodyLimit: AUDIENCE_BODY_LIMIT_BYTES,
    // A path parameter may be as long as a URL (Node refuses headers over 16 KiB):
    // each route validates its own, so a long id is a 404 or a 400, not a bare 414.
    routerOptions: { maxParamLength: MAX_URL_BYTES },
    // What the router refuses before any route (a malformed %-escape) answers in the contract's shape.
    frameworkErrors: (error: FastifyError, _request: FastifyRequest, reply: FastifyReply) => {
      const status = error.code === 'FST_ERR_MAX_PARAM_LENGTH' ? 414 : 400;
      const message = status === 414 ? 'the URL is too long' : 'the URL is not valid: a %-escape does not decode';
      void reply.code(status).type('application/json').send({ error: { code: 'invalid_url', message } });
    },
    // Without trusted proxies, the socket's peer is the client a rate limit counts.
    trustProxy: deps.config.trustedProxies.length > 0 ? [...deps.config.trustedProxies] : false,
    // One access line per request is written by the onResponse hook below.
    logController: new LogController({ disableRequestLogging: true }),
    // Requests in flight at shutdown get this long to finish.
    return503OnClosing: true,
    forceCloseConnections: 'idle',
  }).withTypeProvider<TypeBoxTypeProvider>();

  registerValidation(app);
  registerErrorHandling(app);
  // Unknown routes and the monitoring routes read no body; each scope adds what its routes parse.
  parseNoBodies(app);
  const rateLimitStore = { redis: deps.redis, prefix: deps.config.prefix };
  const limitApi = await limitPerToken(app, {
    ...rateLimitStore,
    perMinute: deps.config.rateLimitApiPerMinute,
    tokens: deps.config.apiTokens,
  });
  // Before authentication, so that a flood of unknown tokens is counted (per address) too.
  app.addHook('onRequest', async (request, reply) => {
    if (request.routeOptions.config.scope !== undefined) await limitApi(request, reply);
  });
  registerAuth(app, deps.config.apiTokens);
  registerIdempotency(app, deps.idempotency);
  acknowledgeOnceReplicated(app, new ReplicaWaiter(deps.redis, deps.config.replicaWait));

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
  await app.register(async (unauthenticated) => {
    boundPublicBodies(unauthenticated);
    await limitPerAddress(unauthenticated, { ...rateLimitStore, perMinute: deps.config.rateLimitPublicPerMinute });
    await unauthenticated.register(publicRoutes, { deps });
  });
  await app.register(
    async (v1) => {
      boundApiBodies(v1);
      await v1.register(audienceRoutes, { deps });
      await v1.register(incidentRoutes, { deps });
      await v1.register(maintenanceRoutes, { deps });
      await v1.register(previewRoutes, { deps });
    },
    { prefix: '/v1' },
  );
  return app;
}
