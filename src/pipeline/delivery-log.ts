/**
 * Log lines for deliveries in trouble. An operator sees at the default level
 * every attempt that failed and every delivery that went dead — which
 * target, how many attempts, what the provider said — and nothing that
 * belongs to a partner: a webhook URL's capability path or query, or the
 * whole of a recipient's address.
 */
import type { Logger } from 'pino';
import type { DeliveryRecord } from '../domain/delivery.js';
import { maskedTarget, scrubbedError } from '../domain/redaction.js';

function fields(record: DeliveryRecord): Record<string, unknown> {
  return {
    deliveryId: record.id,
    incidentId: record.incidentId,
    updateId: record.updateId,
    channel: record.channel,
    target: maskedTarget(record.target),
    attempts: record.attempts,
    error: record.error === null ? null : scrubbedError(record.error, record.target),
  };
}

/** An attempt failed and another is scheduled (`record.state` is `failed`). */
export function logFailedAttempt(logger: Logger, record: DeliveryRecord): void {
  logger.warn({ ...fields(record), retryAt: record.retryAt }, 'delivery attempt failed; will retry');
}

/** A delivery went `dead`: Herald gave up on it. */
export function logDeadDelivery(logger: Logger, record: DeliveryRecord): void {
  logger.warn(fields(record), 'delivery dead: gave up');
}
