/**
 * The delivery jobs a job leaves behind: the next update for each target
 * whose lane it moved on, retries when they are due, and a second look at
 * deliveries another job held. Job ids make each one once: BullMQ ignores an
 * add whose id it still remembers.
 */
import { isFinal, type DeliveryRecord } from '../domain/delivery.js';
import type { DeliveryJob } from '../queue/jobs.js';
import type { Released } from '../store/delivery-store.js';
import type { ScheduledDelivery } from './deliver.js';
import { digest } from './send.js';

/** How soon a delivery held by another job is looked at again. */
export const RECHECK_AFTER_MS = 2_000;

/** Released deliveries, grouped per update into jobs of their own. */
export function successorJobs(job: DeliveryJob, released: readonly Released[]): ScheduledDelivery[] {
  const byUpdate = new Map<string, string[]>();
  for (const { updateId, targetKey } of released) {
    const targets = byUpdate.get(updateId);
    if (targets === undefined) byUpdate.set(updateId, [targetKey]);
    else targets.push(targetKey);
  }
  return [...byUpdate].map(([updateId, targets]) => ({
    jobId: `next.${job.channel}.${updateId}.${digest([...targets].sort())}`,
    data: { incidentId: job.incidentId, updateId, channel: job.channel, targets },
  }));
}

/** Deliveries to try again (failed, or held back by a rate limit), grouped by the second they are due (jitter makes exact times unique). */
export function retryJobs(job: DeliveryJob, records: readonly DeliveryRecord[], nowMs: number): ScheduledDelivery[] {
  const bySecond = new Map<number, string[]>();
  for (const record of records) {
    if (isFinal(record.state) || record.retryAt === null) continue;
    const second = Math.ceil(Date.parse(record.retryAt) / 1000);
    const group = bySecond.get(second);
    if (group === undefined) bySecond.set(second, [record.target.key]);
    else group.push(record.target.key);
  }
  return [...bySecond].map(([second, targets]) => ({
    // Unique per due second: a delivery held back twice by rate limits keeps its attempt count.
    jobId: `retry.${job.channel}.${job.updateId}.${second}.${digest([...targets].sort())}`,
    data: { ...job, targets },
    delayMs: Math.max(0, second * 1000 - nowMs),
  }));
}

/**
 * Deliveries another job holds, looked at again shortly: normally that job
 * has finished them by then and this is a no-op; if it died, its lease has
 * run out and the delivery is taken over.
 */
export function recheckJob(job: DeliveryJob, targets: readonly string[], nowMs: number): ScheduledDelivery[] {
  if (targets.length === 0) return [];
  const second = Math.ceil((nowMs + RECHECK_AFTER_MS) / 1000);
  return [
    {
      jobId: `recheck.${job.channel}.${job.updateId}.${second}.${digest([...targets].sort())}`,
      data: { ...job, targets: [...targets] },
      delayMs: RECHECK_AFTER_MS,
    },
  ];
}
