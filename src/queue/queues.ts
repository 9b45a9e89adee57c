/**
 * BullMQ producers. Job ids are deterministic wherever a job could be added
 * twice (a re-run fan-out, a re-sent successor), so BullMQ keeps one.
 */
import { Queue, type JobsOptions } from 'bullmq';
import type { RedisClient } from '../redis/connection.js';
import type { Keys } from '../store/keys.js';
import type { Logger } from 'pino';
import { CHANNEL_NAMES, type ChannelName } from '../channels/channel.js';
import type { DeliveryScheduler, ScheduledDelivery } from '../pipeline/deliver.js';
import { BROADCAST_QUEUE, deliveryQueueName, type BroadcastJob, type DeliveryJob } from './jobs.js';

/** How often, and how far apart, a job that failed unexpectedly is tried again. */
export interface JobRetry {
  /** @defaultValue 10 */
  maxAttempts: number;
  /** First delay; each next one doubles. @defaultValue 1000 */
  baseDelayMs: number;
}

/** Completed jobs kept per queue, newest first (recent work to look at with a BullMQ dashboard). */
export const COMPLETED_JOBS_KEPT = 100;
/** Failed (given-up) jobs kept per queue, none older than a week once more fail. */
export const FAILED_JOBS_KEPT = 1000;
/** About how many job events (added, active, completed, …) BullMQ keeps per queue. */
export const EVENTS_KEPT = 1000;

/**
 * Options of every job. Its retries are for failures outside any provider's
 * answer (Redis gone mid-job, a bug, a record that cannot be read):
 * deliveries' own retries are per target and scheduled by the pipeline.
 */
export function jobOptions(retry: JobRetry = { maxAttempts: 10, baseDelayMs: 1000 }): JobsOptions {
  return {
    attempts: retry.maxAttempts,
    backoff: { type: 'exponential', delay: retry.baseDelayMs },
    // Bounded, so that finished jobs never accumulate: each names up to 50
    // targets, and only the newest few may outlive HERALD_RETENTION_SECONDS.
    // Nothing needs a finished job to recognise a re-added id: every step is
    // a claim script that finds a re-run's work done (see DeliveryStore).
    removeOnComplete: { count: COMPLETED_JOBS_KEPT },
    // Given-up jobs are kept longer, for an operator to look at.
    removeOnFail: { age: 7 * 24 * 3600, count: FAILED_JOBS_KEPT },
  };
}

/** How long a job that ran out of tries while Redis was away rests before it is queued again. */
const REQUEUE_DELAY_MS = 5 * 60_000;

/** One shard's queues: its broadcasts and a queue per channel. */
export interface ShardQueues {
  broadcast: Queue<BroadcastJob>;
  delivery: Record<ChannelName, Queue<DeliveryJob>>;
}

/**
 * Herald's queues in every shard (one on a single Redis). A job goes to the
 * shard of its incident, so that on a Cluster the queue and the incident's
 * keys share a slot and a master, and the shards' work spreads over all of
 * them.
 */
export class HeraldQueues implements DeliveryScheduler {
  readonly shards: readonly ShardQueues[];

  constructor(
    connection: RedisClient,
    private readonly keys: Keys,
    retry?: JobRetry,
  ) {
    this.shards = keys.shards.map((shard) => {
      // Herald reads no queue events (no QueueEvents): BullMQ's stream of them
      // is kept short instead of its default 10,000 entries per queue.
      const options = { connection, prefix: shard.queuePrefix, defaultJobOptions: jobOptions(retry), streams: { events: { maxLen: EVENTS_KEPT } } };
      return {
        broadcast: new Queue<BroadcastJob>(BROADCAST_QUEUE, options),
        delivery: Object.fromEntries(CHANNEL_NAMES.map((c) => [c, new Queue<DeliveryJob>(deliveryQueueName(c), options)])) as Record<
          ChannelName,
          Queue<DeliveryJob>
        >,
      };
    });
  }

  /** The queues of the shard an incident (or maintenance) lives in. */
  of(incidentId: string): ShardQueues {
    return this.shards[this.keys.shardOf(incidentId).index]!;
  }

  /** Queues the broadcast of a stored update; its id de-duplicates. */
  async enqueueBroadcast(job: BroadcastJob): Promise<void> {
    await this.of(job.incidentId).broadcast.add('broadcast', job, { jobId: job.updateId });
  }

  /** Runs a broadcast now if it is waiting for its predecessor's fan-out. */
  async wakeBroadcast(incidentId: string, updateId: string): Promise<void> {
    const job = await this.of(incidentId).broadcast.getJob(updateId);
    if (job !== undefined && (await job.isDelayed())) {
      await job.promote().catch(() => {
        // Already picked up by another worker in between: nothing to wake.
      });
    }
  }

  async schedule(jobs: readonly ScheduledDelivery[]): Promise<void> {
    const byQueue = new Map<Queue<DeliveryJob>, ScheduledDelivery[]>();
    for (const job of jobs) {
      const queue = this.of(job.data.incidentId).delivery[job.data.channel];
      const list = byQueue.get(queue);
      if (list === undefined) byQueue.set(queue, [job]);
      else list.push(job);
    }
    await Promise.all(
      [...byQueue].map(([queue, list]) =>
        queue.addBulk(
          list.map((j) => ({
            name: j.data.channel,
            data: j.data,
            opts: { jobId: j.jobId, ...(j.delayMs !== undefined && j.delayMs > 0 && { delay: j.delayMs }) },
          })),
        ),
      ),
    );
  }

  /** Queues a job's data again under a fresh id, after a pause, once all its attempts failed while Redis was away. */
  async requeue(queueName: string, data: BroadcastJob | DeliveryJob, jobId: string, logger: Logger): Promise<void> {
    const shard = this.of(data.incidentId);
    const queue: Queue | undefined = [shard.broadcast as Queue, ...Object.values(shard.delivery)].find((q) => q.name === queueName);
    if (queue === undefined) return;
    const again = `${jobId}.again.${Date.now()}`;
    try {
      await queue.add(queueName, data, { jobId: again, delay: REQUEUE_DELAY_MS });
      logger.warn({ queue: queueName, jobId, requeuedAs: again }, 'job out of attempts while Redis was away; queued again');
    } catch (error) {
      logger.error({ queue: queueName, jobId, err: error instanceof Error ? error.message : error }, 'could not queue an exhausted job again');
    }
  }

  /** Every queue of every shard. */
  all(): Queue[] {
    return this.shards.flatMap((shard) => [shard.broadcast, ...Object.values(shard.delivery)]);
  }

  async close(): Promise<void> {
    await Promise.allSettled(this.all().map((q) => q.close()));
  }
}
