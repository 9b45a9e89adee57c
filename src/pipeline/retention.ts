/**
 * Retention (contract §6, HERALD_RETENTION_SECONDS): once an incident has
 * been resolved (a maintenance completed or cancelled) for that long, the
 * records of its single deliveries, its lanes and its thread state are
 * removed; the incident, its updates and each update's totals stay. The
 * broadcast of the update that ended it marked when (DeliveryStore.expireAt);
 * every worker process looks for what is due, and removing twice is harmless.
 */
import type { Logger } from 'pino';
import type { DeliveryStore } from '../store/delivery-store.js';
import type { IncidentStore } from '../store/incident-store.js';
import { startPeriodic } from './periodic.js';

const INTERVAL_MS = 10_000;
/** Incidents handled per look: a backlog drains over a few looks, never in one long burst. */
const BATCH = 100;

/** Removes what is due once; returns the incidents it expired. */
export async function expireDueDeliveries(incidents: IncidentStore, deliveries: DeliveryStore, now = Date.now()): Promise<string[]> {
  const due = await deliveries.dueToExpire(now, BATCH);
  for (const incidentId of due) {
    const conversation = await incidents.getConversation(incidentId);
    await deliveries.expire(incidentId, conversation?.updates.map((u) => u.id) ?? []);
  }
  return due;
}

export function startDeliveryExpiry(incidents: IncidentStore, deliveries: DeliveryStore, logger: Logger): () => void {
  return startPeriodic('removing expired delivery records', INTERVAL_MS, async () => {
    const expired = await expireDueDeliveries(incidents, deliveries);
    if (expired.length > 0) logger.info({ incidents: expired.length }, 'removed the delivery records of incidents past their retention');
  }, logger);
}
