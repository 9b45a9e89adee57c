/**
 * The broadcast worker: turns each stored update into per-channel delivery jobs.
 */
import { Worker, type ConnectionOptions } from 'bullmq';
import type { Broadcaster } from '../src/pipeline/broadcast.js';
import { BROADCAST_QUEUE, type BroadcastJob } from '../src/queue/jobs.js';

/** Fan-out is Redis-bound; a few at once keeps Redis busy without starving deliveries. */
const CONCURRENCY = 4;

export function startBroadcastWorker(broadcaster: Broadcaster, connection: ConnectionOptions, prefix: string): Worker<BroadcastJob> {
  return new Worker<BroadcastJob>(BROADCAST_QUEUE, (job) => broadcaster.run(job.data), {
    connection,
    prefix,
    concurrency: CONCURRENCY,
  });
}
