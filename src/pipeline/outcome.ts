/**
 * What becomes of a delivery after an attempt — the one place that decides
 * what the queue does next with it:
 *
 * - sent: final; its lane releases the target's next update;
 * - rate-limited: failed, retried when the provider said, without counting
 *   against the target; a limit on the whole channel pauses every process's
 *   sending on it until then;
 * - refused for good (4xx, target gone): dead at once;
 * - any other failure: retried with the channel's backoff until its
 *   attempts run out, then dead;
 * - held back by a pause it did not cause: not attempted, tried when the
 *   pause ends, no attempt spent.
 *
 * A job that fails as a whole (not a delivery) is decided in
 * workers/failures.ts: tried again by BullMQ, then given up.
 */
import { DeliveryError, RateLimitedError, TargetGoneError } from '../channels/channel.js';
import type { DeliveryRecord } from '../domain/delivery.js';
import type { ThreadState } from '../store/delivery-store.js';
import { retryDelayMs, type RetryPolicy } from './retry-policy.js';
import { errorText, type Sent } from './send.js';

export interface Outcome {
  record: DeliveryRecord;
  thread?: ThreadState;
  /** Set when the channel (not just this target) must pause: until when (epoch ms). */
  channelPausedUntil?: number;
  /** The target answered that it is gone (HTTP 410): it is disabled. */
  gone?: boolean;
}

/** Not attempted: the channel is paused until `untilMs`; tried again then. */
export function heldBack(record: DeliveryRecord, untilMs: number): Outcome {
  return { record: { ...record, retryAt: new Date(untilMs).toISOString() } };
}

export function sent(record: DeliveryRecord, result: Sent, at: Date): Outcome {
  return {
    record: { ...record, state: 'sent', attempts: record.attempts + 1, providerRef: result.providerRef, error: null, sentAt: at.toISOString(), retryAt: null },
    ...(result.thread !== undefined && { thread: result.thread }),
  };
}

/**
 * After a failed attempt. Waits are counted from the answer (`answeredAtMs`):
 * a 429 that took 1.5 s to arrive still means "wait Retry-After from now".
 */
export function failed(record: DeliveryRecord, error: unknown, policy: RetryPolicy, answeredAtMs: number): Outcome {
  const attempts = record.attempts + 1;
  const message = errorText(error);
  if (error instanceof RateLimitedError) {
    // The provider named the time; waiting for it is not the target's failure.
    const until = answeredAtMs + error.retryAfterMs;
    return {
      record: { ...record, state: 'failed', attempts, error: message, retryAt: new Date(until).toISOString() },
      ...(error.scope === 'channel' && { channelPausedUntil: until }),
    };
  }
  if (error instanceof DeliveryError && !error.retryable) {
    return { record: { ...record, state: 'dead', attempts, error: message, retryAt: null }, gone: error instanceof TargetGoneError };
  }
  if (attempts >= policy.maxAttempts) {
    return { record: { ...record, state: 'dead', attempts, error: `${message} (gave up after ${attempts} attempts)`, retryAt: null } };
  }
  const retryAt = new Date(answeredAtMs + retryDelayMs(policy, attempts)).toISOString();
  return { record: { ...record, state: 'failed', attempts, error: message, retryAt } };
}

/** Given up without an attempt (the job kept failing, or its record cannot be read): dead with the reason. */
export function givenUp(record: DeliveryRecord, error: string): Outcome {
  return { record: { ...record, state: 'dead', error, retryAt: null } };
}
