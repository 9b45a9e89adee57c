/**
 * Retention (contract §6, HERALD_RETENTION_SECONDS): once an incident has
 * been resolved (a maintenance completed or cancelled) for that long, the
 * records of its single deliveries, its lanes and its thread state are
 * removed — once every one of its deliveries is final; the incident, its
 * updates and each update's totals stay. The broadcast of the update that
 * ended it marked when (DeliveryStore.expireAt); every worker process looks
 * for what is due, and removing twice is harmless.
 */
import type { Logger } from 'pino';
import type { DeliveryStore, DeliveryTotals } from '../store/delivery-store.js';
import type { IncidentStore } from '../store/incident-store.js';
import { startPeriodic } from './periodic.js';

const INTERVAL_MS = 10_000;
/** Incidents handled per look: a backlog drains over a few looks, never in one long burst. */
const BATCH = 100;

/**
 * While any delivery of a due incident is not final yet (a slow resolution,
 * a target still being retried), its records stay: removal is looked at
 * again this much later. Retention counts from the end of the conversation;
 * it never cuts a delivery short.
 */
const POSTPONE_MS = 10_000;

/** Removes what is due once; returns the incidents it expired. */
export async function expireDueDeliveries(incidents: IncidentStore, deliveries: DeliveryStore, now = Date.now()): Promise<string[]> {
  const due = await deliveries.dueToExpire(now, BATCH);
  const expired: string[] = [];
  for (const incidentId of due) {
    const conversation = await incidents.getConversation(incidentId);
    const updateIds = conversation?.updates.map((u) => u.id) ?? [];
    if (!allFinal(await deliveries.totals(incidentId, updateIds))) {
      await deliveries.expireAt(incidentId, now + POSTPONE_MS);
      continue;
    }
    await deliveries.expire(incidentId, updateIds);
    expired.push(incidentId);
  }
  return expired;
}

function allFinal(totals: ReadonlyMap<string, DeliveryTotals>): boolean {
  for (const byChannel of totals.values()) {
    for (const counts of Object.values(byChannel)) if (counts.queued > 0 || counts.failed > 0) return false;
  }
  return true;
}

export function startDeliveryExpiry(incidents: IncidentStore, deliveries: DeliveryStore, logger: Logger): () => void {
  return startPeriodic('removing expired delivery records', INTERVAL_MS, async () => {
    const expired = await expireDueDeliveries(incidents, deliveries);
    if (expired.length > 0) logger.info({ incidents: expired.length }, 'removed the delivery records of incidents past their retention');
  }, logger);
}
