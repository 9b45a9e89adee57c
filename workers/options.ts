/**
 * What every Herald worker shares: where Redis is, where each shard's queues
 * are, and how a crashed worker's jobs are taken over.
 */
import type { ConnectionOptions, WorkerOptions } from 'bullmq';

export interface HeraldWorkerOptions {
  connection: ConnectionOptions;
  /** The BullMQ prefix of each shard's queues: each queue has a worker per shard. */
  queuePrefixes: readonly string[];
  /**
   * How long a job stays locked to its worker without renewal; a killed
   * worker's jobs go back to the queue about this long after it died.
   * @defaultValue 30000
   */
  lockDuration?: number;
}

/**
 * A job whose worker dies more than this many times is failed instead of
 * retried. Deliveries are idempotent (recorded provider references, leases),
 * so a generous number only costs a little repeated work.
 */
const MAX_STALLED_COUNT = 10;

/** The options of the worker of one shard's queue. */
export function workerOptions(options: HeraldWorkerOptions, prefix: string, concurrency: number): WorkerOptions {
  const lockDuration = options.lockDuration ?? 30_000;
  return {
    connection: options.connection,
    prefix,
    concurrency,
    lockDuration,
    // Look for stalled jobs twice per lock period, so a takeover comes within about one.
    stalledInterval: Math.max(500, Math.floor(lockDuration / 2)),
    maxStalledCount: MAX_STALLED_COUNT,
  };
}
