/**
 * The safety net behind "a 201 means it will be delivered": an update is
 * stored together with a pending-broadcast mark, and this sweep queues the
 * broadcast of any mark still there after a grace period (the API process
 * died between storing and queueing, or Redis failed in between). Queueing
 * is by update id, so a broadcast already queued is not queued twice.
 */
import type { Logger } from 'pino';
import type { HeraldQueues } from '../queue/queues.js';
import type { IncidentStore } from '../store/incident-store.js';
import { startPeriodic } from './periodic.js';

/** Leaves the API time to queue the broadcast itself before the sweep does. */
const GRACE_MS = 10_000;
const INTERVAL_MS = 15_000;

export function startBroadcastSweeper(incidents: IncidentStore, queues: HeraldQueues, logger: Logger): () => void {
  return startPeriodic('broadcast sweep', INTERVAL_MS, async () => {
    const olderThan = new Date(Date.now() - GRACE_MS);
    let swept = 0;
    for (const shard of incidents.shards) {
      const pending = await incidents.pendingBroadcasts(shard, olderThan);
      for (const job of pending) await queues.enqueueBroadcast(job);
      swept += pending.length;
    }
    if (swept > 0) logger.info({ count: swept }, 'swept pending broadcasts into the queue');
  }, logger);
}
