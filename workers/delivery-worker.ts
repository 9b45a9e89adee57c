/**
 * Delivery workers, one per channel, so a slow or failing channel only ever
 * holds up its own queue. This is the one place a pipeline outcome becomes a
 * BullMQ instruction.
 */
import { DelayedError, Worker, type Job } from 'bullmq';
import type { ChannelName } from '../src/channels/channel.js';
import { ChannelPausedError, type Deliverer } from '../src/pipeline/deliver.js';
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

export function startDeliveryWorker(
  channel: ChannelName,
  deliverer: Deliverer,
  options: HeraldWorkerOptions,
): Worker<DeliveryJob> {
  const process = async (job: Job<DeliveryJob>, token?: string) => {
    try {
      return await deliverer.run(job.data, job.id ?? job.name);
    } catch (error) {
      if (error instanceof ChannelPausedError && token !== undefined) {
        // Wait out the provider's rate limit without spending an attempt.
        await job.moveToDelayed(error.untilMs, token);
        throw new DelayedError();
      }
      throw error;
    }
  };
  return new Worker<DeliveryJob>(deliveryQueueName(channel), process, workerOptions(options, DELIVERY_CONCURRENCY[channel]));
}
