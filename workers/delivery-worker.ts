/**
 * Delivery workers, one per channel, so a slow or failing channel only ever
 * holds up its own queue. This is the one place a pipeline outcome becomes a
 * BullMQ instruction.
 */
import { Worker, type Job } from 'bullmq';
import type { ChannelName } from '../src/channels/channel.js';
import type { Deliverer } from '../src/pipeline/deliver.js';
import { deliveryQueueName, type DeliveryJob } from '../src/queue/jobs.js';
import { workerOptions, type HeraldWorkerOptions } from './options.js';

/** Jobs in flight per process and channel (each job is a batch of targets). */
export const DELIVERY_CONCURRENCY: Record<ChannelName, number> = {
  // Slack's chat.postMessage allows about 1 message/s per channel (Tier "special");
  // parallel batches only help across channels.
  slack: 4,
  // One account, posts threaded one after another: nothing to parallelise.
  x: 1,
  // The SMTP pool bounds connections; batches keep it fed.
  email: 8,
  // Independent receivers over keep-alive connections.
  webhook: 16,
};

/**
 * BullMQ's rate limiter is what pauses a channel: enabled with a bound no
 * queue reaches (a million jobs a second), so that `worker.rateLimit(ms)`,
 * called when a provider rate-limits the whole channel, stops every worker of
 * that channel's queue, in every process, until the time the provider gave.
 */
const LIMITER = { max: 1_000_000, duration: 1_000 };

/**
 * A channel's workers, one per shard. A pause for the whole channel (a
 * provider's rate limit) stops every shard's queue of it.
 */
export function startDeliveryWorkers(
  channel: ChannelName,
  deliverer: Deliverer,
  options: HeraldWorkerOptions,
): Array<Worker<DeliveryJob>> {
  const process = async (job: Job<DeliveryJob>) => {
    const summary = await deliverer.run(job.data, job.id ?? job.name);
    // The job itself is done: its held-back deliveries are queued again for when the pause ends.
    const pauseMs = (summary.channelPausedUntil ?? 0) - Date.now();
    if (pauseMs > 0) await Promise.all(workers.map((worker) => worker.rateLimit(pauseMs)));
    return summary;
  };
  const workers: Array<Worker<DeliveryJob>> = options.queuePrefixes.map(
    (prefix) =>
      new Worker<DeliveryJob>(deliveryQueueName(channel), process, {
        ...workerOptions(options, prefix, DELIVERY_CONCURRENCY[channel]),
        limiter: LIMITER,
      }),
  );
  return workers;
}
