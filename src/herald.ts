/**
 * The composition root: builds Herald's parts from configuration and runs
 * the roles asked for — the API, the workers, or both (single-node mode).
 */
import { randomBytes } from 'node:crypto';
import type { Worker } from 'bullmq';
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { CHANNEL_NAMES } from './channels/channel.js';
import { closeChannels, createChannels, type Channels } from './channels/registry.js';
import type { Config } from './config.js';
import { UnsubscribeTokens } from './domain/unsubscribe-token.js';
import { Broadcaster } from './pipeline/broadcast.js';
import { Deliverer } from './pipeline/deliver.js';
import { CadenceKeeper } from './pipeline/cadence.js';
import { CommanderNotifier } from './pipeline/commander.js';
import { startDeliveryExpiry } from './pipeline/retention.js';
import { startBroadcastSweeper } from './pipeline/sweeper.js';
import { HeraldQueues } from './queue/queues.js';
import { connectRedis, describeRedisTarget, type RedisClient, type RedisTarget } from './redis/connection.js';
import { resolveRedis, type ResolvedRedis } from './redis/private-server.js';
import { ReplicaWaiter } from './redis/replica-wait.js';
import { Renderer } from './render/renderer.js';
import { AudienceStore } from './store/audience-store.js';
import { DeliveryStore } from './store/delivery-store.js';
import { IdempotencyStore } from './store/idempotency-store.js';
import { IncidentStore } from './store/incident-store.js';
import { keysFor, settledShardCount } from './store/keys.js';
import { MaintenanceStore } from './store/maintenance-store.js';
import { ScheduleStore } from './store/schedule-store.js';
import { startBroadcastWorkers } from '../workers/broadcast-worker.js';
import { startDeliveryWorkers } from '../workers/delivery-worker.js';
import { handleFailedJobs } from '../workers/failures.js';

export type Role = 'api' | 'workers';

export interface HeraldOptions {
  config: Readonly<Config>;
  roles: ReadonlySet<Role>;
  logger: Logger;
  /** Where `.herald/` (a private Redis's data) lives. @defaultValue the working directory */
  dataRoot?: string;
}

export interface RunningHerald {
  /** The API's base URL, when this process serves it. */
  url: string | undefined;
  app: FastifyInstance | undefined;
  /** Where its Redis is (a single server's URL, or the Sentinels' or the Cluster's nodes), for messages. */
  redisUrl: string;
  /** Stops taking work, lets in-flight deliveries finish (bounded), closes everything. */
  stop(): Promise<void>;
}

/** The secret signing unsubscribe links: configured, or created once and shared through Redis. */
async function signingSecret(config: Readonly<Config>, redis: RedisClient, key: string): Promise<string> {
  if (config.signingSecret !== undefined) return config.signingSecret;
  await redis.set(key, randomBytes(32).toString('base64url'), 'NX');
  const secret = await redis.get(key);
  if (secret === null) throw new Error('could not read the signing secret from Redis');
  return secret;
}

function emailDomain(from: string | undefined): string {
  const match = from === undefined ? null : /@([^\s>]+)/.exec(from);
  return match?.[1] ?? 'herald.invalid';
}

function describeChannels(config: Readonly<Config>): Record<string, string> {
  const why: Record<string, string> = {
    slack: 'SLACK_BOT_TOKEN unset',
    x: 'X_APP_KEY, X_APP_SECRET, X_ACCESS_TOKEN, X_ACCESS_SECRET unset',
    email: 'SMTP_URL unset',
    webhook: '',
  };
  return Object.fromEntries(
    CHANNEL_NAMES.map((c) => [c, config.enabledChannels.has(c) ? 'enabled' : `disabled (${why[c]})`]),
  );
}

export async function startHerald(options: HeraldOptions): Promise<RunningHerald> {
  const { config, roles, logger } = options;
  const renderer = await Renderer.load({ ...(config.templatesDir !== undefined && { overrideDir: config.templatesDir }) });
  if (renderer.overridden.length > 0) logger.info({ templates: renderer.overridden }, 'using templates from HERALD_TEMPLATES_DIR');
  if (renderer.unusedOverrides.length > 0) {
    logger.warn({ templates: renderer.unusedOverrides }, 'HERALD_TEMPLATES_DIR has templates nothing uses (misnamed?)');
  }
  // Only a single Redis may be one Herald starts itself; Sentinels and Clusters are the operator's.
  let redisServer: ResolvedRedis | undefined;
  let target: RedisTarget;
  if (config.redis.kind === 'single') {
    redisServer = await resolveRedis(config.redisUrl, options.dataRoot ?? process.cwd(), logger);
    target = { kind: 'single', url: redisServer.url };
  } else {
    target = config.redis;
  }

  const cleanups: Array<() => Promise<void> | void> = [];
  const stopAll = async (): Promise<void> => {
    for (const cleanup of cleanups.reverse()) {
      try {
        await cleanup();
      } catch (error) {
        logger.warn({ err: error instanceof Error ? error.message : error }, 'error while stopping');
      }
    }
  };
  const privateServer = redisServer;
  if (privateServer !== undefined) cleanups.push(() => privateServer.stop());

  try {
    const serving = roles.has('api');
    // The API's connection fails fast (a 503 within a second while Redis is away);
    // a workers-only process's connection waits and retries instead.
    const redis = await connectRedis(target, serving ? 'api' : 'worker', `herald-${[...roles].join('+')}`);
    cleanups.push(() => closeRedis(redis));
    // On a Cluster, incidents and queues spread over hash-tag shards, as many as the first process chose.
    const keys = keysFor(config.prefix, config.redis.kind === 'cluster' ? await settledShardCount(redis, config.prefix, config.clusterShards) : 1);

    const storeOptions = { reminderLeadSeconds: config.reminderLeadSeconds };
    const incidents = new IncidentStore(redis, keys, storeOptions);
    const audiences = new AudienceStore(redis, keys);
    const deliveries = new DeliveryStore(redis, keys);
    const queues = new HeraldQueues(redis, keys, config.jobRetry);
    cleanups.push(() => queues.close());
    const unsubscribeTokens = new UnsubscribeTokens(await signingSecret(config, redis, keys.signingSecret));

    logger.info({ channels: describeChannels(config), roles: [...roles] }, 'channels');

    const workers: Worker[] = [];
    let channels: Channels | undefined;
    if (roles.has('workers')) {
      const workerRedis = await connectRedis(target, 'worker', 'herald-workers');
      cleanups.push(() => closeRedis(workerRedis));
      const workerStores = {
        incidents: new IncidentStore(workerRedis, keys, storeOptions),
        audiences: new AudienceStore(workerRedis, keys),
        deliveries: new DeliveryStore(workerRedis, keys),
      };
      const workerQueues = new HeraldQueues(workerRedis, keys, config.jobRetry);
      const workerReplicas = new ReplicaWaiter(workerRedis, config.replicaWait);
      cleanups.push(() => workerQueues.close());
      channels = await createChannels(config);
      const openChannels = channels;
      cleanups.push(() => closeChannels(openChannels));

      const broadcaster = new Broadcaster({
        ...workerStores,
        scheduler: workerQueues,
        enabledChannels: config.enabledChannels,
        retentionSeconds: config.retentionSeconds,
        replicated: () => workerReplicas.confirm(),
        logger,
      });
      const commander = new CommanderNotifier({
        ...workerStores,
        renderer,
        channels,
        publicUrl: config.publicUrl,
        emailDomain: emailDomain(config.email?.from),
        logger,
      });
      const deliverer = new Deliverer({
        ...workerStores,
        renderer,
        channels,
        unsubscribeTokens,
        publicUrl: config.publicUrl,
        emailDomain: emailDomain(config.email?.from),
        scheduler: workerQueues,
        logger,
        retryOverride: config.retryOverride,
        onDead: (record) => commander.deliveryFailed(record),
      });
      const workerOptions = { connection: workerRedis, queuePrefixes: keys.shards.map((s) => s.queuePrefix), lockDuration: config.jobLockMs };
      workers.push(...startBroadcastWorkers(broadcaster, workerQueues, workerOptions));
      for (const channel of config.enabledChannels) workers.push(...startDeliveryWorkers(channel, deliverer, workerOptions));
      handleFailedJobs(workers, { broadcaster, deliverer, commander, queues: workerQueues, logger });
      for (const worker of workers) {
        worker.on('error', (error) => logger.warn({ queue: worker.name, err: error.message }, 'worker error'));
      }
      // Until its connections are up, a worker closed by an early signal errors with nobody listening.
      await Promise.all(workers.map((w) => w.waitUntilReady()));
      const stopSweeper = startBroadcastSweeper(workerStores.incidents, workerQueues, logger);
      const stopExpiry = startDeliveryExpiry(workerStores.incidents, workerStores.deliveries, logger);
      const keeper = new CadenceKeeper({
        incidents: workerStores.incidents,
        maintenances: new MaintenanceStore(workerRedis, keys),
        schedule: new ScheduleStore(workerRedis, keys, config.reminderLeadSeconds * 1000),
        broadcast: (incidentId, updateId) => workerQueues.enqueueBroadcast({ incidentId, updateId }),
        commander,
        logger,
      });
      keeper.start();
      cleanups.push(async () => {
        stopSweeper();
        stopExpiry();
        await keeper.stop();
        await closeWorkers(workers, config.shutdownGraceMs, logger);
        await workerStores.deliveries.flushCounts().catch((error: unknown) => logger.warn({ err: String(error) }, 'delivery counts of the last second were not written'));
      });
    }

    let app: FastifyInstance | undefined;
    let url: string | undefined;
    if (serving) {
      // The HTTP stack (Fastify, Ajv, the request schemas, prom-client) loads
      // only in a process that serves: a workers-only process starts without it.
      const [{ buildApp }, { Metrics }] = await Promise.all([import('./api/app.js'), import('./metrics.js')]);
      const metrics = new Metrics(deliveries, queues, new ScheduleStore(redis, keys, config.reminderLeadSeconds * 1000));
      app = await buildApp({
        config,
        redis,
        keys,
        incidents,
        maintenances: new MaintenanceStore(redis, keys),
        audiences,
        deliveries,
        idempotency: new IdempotencyStore(redis, keys, config.idempotencyMaxBytes),
        queues,
        renderer,
        unsubscribeTokens,
        metrics,
        logger,
      });
      const listening = app;
      cleanups.push(() => listening.close());
      // Fastify logs the one line naming the URL; the text says whose it is.
      url = await app.listen({ port: config.port, host: config.host, listenTextResolver: (address) => `Herald listening on ${address}` });
    }

    return { url, app, redisUrl: redisServer?.url ?? describeRedisTarget(target), stop: stopAll };
  } catch (error) {
    await stopAll();
    throw error;
  }
}

/** How long QUIT may wait for Redis's answer before the socket is simply closed. */
const QUIT_TIMEOUT_MS = 1_000;

/**
 * QUIT politely; if Redis does not answer (it may be gone: with the offline
 * queue on, QUIT would wait for a reconnect forever), close the socket.
 */
async function closeRedis(redis: RedisClient): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const unanswered = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, QUIT_TIMEOUT_MS);
  });
  try {
    await Promise.race([redis.quit().then(() => undefined), unanswered]);
  } catch {
    // Refused: nothing left to say to it.
  } finally {
    clearTimeout(timer);
    redis.disconnect();
  }
}

/** Lets active jobs finish within the grace period, then closes regardless. */
async function closeWorkers(workers: readonly Worker[], graceMs: number, logger: Logger): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const graceful = Promise.all(workers.map((w) => w.close())).then(() => true);
  const expired = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => resolve(false), graceMs);
  });
  const finished = await Promise.race([graceful, expired]);
  clearTimeout(timer);
  if (!finished) {
    logger.warn({ graceMs }, 'in-flight deliveries did not finish in time; closing anyway (they will be retried)');
    await Promise.all(workers.map((w) => w.close(true)));
  }
}
