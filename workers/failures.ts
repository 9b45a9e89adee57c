/**
 * What happens to a job that failed every try BullMQ gave it. Failures
 * because Redis was away are no fault of the job: it is queued again, for
 * as long as the outage lasts. Any other failure (a bug, a record that
 * cannot be read, a script that raises) is given up, so that it blocks
 * nothing: its deliveries go `dead` with the reason, its targets' and its
 * incident's later updates go on, the commander is alerted.
 */
import type { Worker } from 'bullmq';
import type { Logger } from 'pino';
import type { Broadcaster } from '../src/pipeline/broadcast.js';
import type { CommanderNotifier } from '../src/pipeline/commander.js';
import type { Deliverer } from '../src/pipeline/deliver.js';
import { BROADCAST_QUEUE, type BroadcastJob, type DeliveryJob } from '../src/queue/jobs.js';
import { isRedisUnavailable } from '../src/redis/errors.js';
import type { HeraldQueues } from '../src/queue/queues.js';

export interface FailedJobDeps {
  broadcaster: Broadcaster;
  deliverer: Deliverer;
  commander: CommanderNotifier;
  queues: HeraldQueues;
  logger: Logger;
}

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** Gives up, or queues again, each job of these workers that ran out of tries. */
export function handleFailedJobs(workers: readonly Worker[], deps: FailedJobDeps): void {
  const { logger, queues } = deps;
  for (const worker of workers) {
    worker.on('failed', (job, error) => {
      if (job === undefined) return;
      const exhausted = job.attemptsMade >= (job.opts.attempts ?? 1);
      // Redis away or refusing (a restart, a failover) is expected to pass: the job is tried again.
      const level = isRedisUnavailable(error) ? 'warn' : 'error';
      logger[level]({ queue: worker.name, jobId: job.id, attempts: job.attemptsMade, err: error.message }, 'job failed');
      if (!exhausted) return;
      const jobId = job.id ?? job.name;
      if (isRedisUnavailable(error)) {
        void queues.requeue(worker.name, job.data, jobId, logger);
        return;
      }
      const reason = `${error.message} (${job.attemptsMade} tries)`;
      void giveUp(worker.name, job.data as BroadcastJob | DeliveryJob, reason, job.attemptsMade, deps).catch((failure: unknown) => {
        // Could not even give up: if Redis is the reason, try the whole job again later.
        logger.error({ queue: worker.name, jobId, err: message(failure) }, 'could not give up a failed job');
        if (isRedisUnavailable(failure)) void queues.requeue(worker.name, job.data, jobId, logger);
      });
    });
  }
}

async function giveUp(queue: string, data: BroadcastJob | DeliveryJob, reason: string, attempts: number, deps: FailedJobDeps): Promise<void> {
  const { broadcaster, deliverer, commander, queues, logger } = deps;
  if (queue === BROADCAST_QUEUE) {
    const { nextUpdateId } = await broadcaster.giveUp(data, reason);
    if (nextUpdateId !== undefined) await queues.wakeBroadcast(data.incidentId, nextUpdateId);
    await commander.broadcastFailed(data.incidentId, data.updateId, reason, attempts);
    return;
  }
  const job = data as DeliveryJob;
  const dead = await deliverer.giveUp(job, reason);
  logger.error(
    { queue, incidentId: job.incidentId, updateId: job.updateId, channel: job.channel, dead, err: reason },
    'gave up a delivery job; its deliveries that were not final are dead',
  );
}
