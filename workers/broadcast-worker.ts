/**
 * The broadcast workers, one per shard: turn each stored update into
 * per-channel delivery jobs.
 */
import { DelayedError, Worker, type Job } from 'bullmq';
import { PredecessorPendingError, type Broadcaster } from '../src/pipeline/broadcast.js';
import { BROADCAST_QUEUE, type BroadcastJob } from '../src/queue/jobs.js';
import type { HeraldQueues } from '../src/queue/queues.js';
import { workerOptions, type HeraldWorkerOptions } from './options.js';

/** Fan-out is Redis-bound; a few at once keeps Redis busy without starving deliveries. */
const CONCURRENCY = 4;
/**
 * How long an update waits for the previous one's fan-out before looking
 * again; normally it is woken sooner, when that fan-out finishes.
 */
const PREDECESSOR_WAIT_MS = 500;

export function startBroadcastWorkers(
  broadcaster: Broadcaster,
  queues: HeraldQueues,
  options: HeraldWorkerOptions,
): Array<Worker<BroadcastJob>> {
  const process = async (job: Job<BroadcastJob>, token?: string) => {
    try {
      const result = await broadcaster.run(job.data);
      if (result.nextUpdateId !== undefined) await queues.wakeBroadcast(job.data.incidentId, result.nextUpdateId);
      return result;
    } catch (error) {
      if (error instanceof PredecessorPendingError && token !== undefined) {
        await job.moveToDelayed(Date.now() + PREDECESSOR_WAIT_MS, token);
        throw new DelayedError();
      }
      throw error;
    }
  };
  return options.queuePrefixes.map((prefix) => new Worker<BroadcastJob>(BROADCAST_QUEUE, process, workerOptions(options, prefix, CONCURRENCY)));
}
