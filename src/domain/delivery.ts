/**
 * A delivery is one update on its way to one target. Its id is derived from
 * the update and the target, so it is stable across retries, re-runs and
 * restarts: it is the `webhook-id`, and it names the email's Message-ID.
 */
import { createHash } from 'node:crypto';
import type { ChannelName } from '../channels/channel.js';
import type { TokenScope } from '../config.js';
import type { RecordedTarget } from './audience.js';
import type { IncidentUpdate, UpdateStatus } from './incident.js';
import { maskedWebhookUrl, scrubbedError } from './redaction.js';

export const DELIVERY_STATES = ['queued', 'sent', 'failed', 'dead'] as const;
/**
 * `queued`: waiting its turn; `failed`: the last attempt failed and another
 * is scheduled; `sent` and `dead` are final.
 */
export type DeliveryState = (typeof DELIVERY_STATES)[number];

export interface DeliveryRecord {
  id: string;
  incidentId: string;
  updateId: string;
  /** Position of the target within the update's fan-out, for ordering listings. */
  index: number;
  channel: ChannelName;
  /** Without secrets: a webhook's is read from its audience when sending. */
  target: RecordedTarget;
  state: DeliveryState;
  attempts: number;
  providerRef: string | null;
  error: string | null;
  sentAt: string | null;
  /** When the next attempt is due, while `failed`. */
  retryAt: string | null;
}

/** A delivery's state before any attempt: planned, waiting its turn. */
export const NOT_ATTEMPTED = {
  state: 'queued',
  attempts: 0,
  providerRef: null,
  error: null,
  sentAt: null,
  retryAt: null,
} as const satisfies Pick<DeliveryRecord, 'state' | 'attempts' | 'providerRef' | 'error' | 'sentAt' | 'retryAt'>;

/** What the API shows of a delivery: no secrets. */
export interface Delivery {
  id: string;
  updateId: string;
  channel: ChannelName;
  target: string;
  state: DeliveryState;
  attempts: number;
  providerRef: string | null;
  error: string | null;
  sentAt: string | null;
  retryAt: string | null;
}

/**
 * Whether an update ends its conversation: an incident resolved, a
 * maintenance completed or cancelled. Nothing is sent after it, and its
 * delivery records are kept `HERALD_RETENTION_SECONDS` from then (§6).
 */
export function endsConversation(status: UpdateStatus): boolean {
  return status === 'resolved' || status === 'completed' || status === 'cancelled';
}

/**
 * When the records of an incident's single deliveries are removed (epoch
 * ms): its retention after the update that ended it; undefined while it goes on.
 */
export function deliveryRecordsExpireAt(updates: readonly Pick<IncidentUpdate, 'status' | 'postedAt'>[], retentionSeconds: number): number | undefined {
  const ending = updates.findLast((u) => endsConversation(u.status));
  return ending === undefined ? undefined : Date.parse(ending.postedAt) + retentionSeconds * 1000;
}

export function isFinal(state: DeliveryState): boolean {
  return state === 'sent' || state === 'dead';
}

export function deliveryId(updateId: string, channel: ChannelName, targetKey: string): string {
  const digest = createHash('sha256').update(`${updateId}\n${channel}\n${targetKey}`).digest('base64url');
  return `dlv_${digest.slice(0, 22)}`;
}

/**
 * How a target is shown to API callers and in the commander's alerts: a
 * `write` token sees a webhook URL without userinfo or query string; a
 * `read` token, and an alert that may be forwarded, see it masked past its
 * first path segment (contract §3).
 */
export function describeTarget(target: RecordedTarget, scope: TokenScope = 'read'): string {
  switch (target.channel) {
    case 'slack':
      return target.slackChannel;
    case 'x':
      return 'x';
    case 'email':
      return target.address;
    case 'webhook':
      return scope === 'write' ? redactUrl(target.url) : maskedWebhookUrl(target.url);
  }
}

/** A webhook URL without userinfo or query string, which may carry tokens. */
export function redactUrl(raw: string): string {
  try {
    const u = new URL(raw);
    const hidden = u.username !== '' || u.password !== '' || u.search !== '';
    return hidden ? `${u.protocol}//${u.host}${u.pathname}${u.search === '' ? '' : '?…'}` : raw;
  } catch {
    return '(invalid url)';
  }
}

/** A delivery as a caller with `scope` sees it; a `read` token's errors are scrubbed of a webhook's capability. */
export function toDelivery(record: DeliveryRecord, scope: TokenScope): Delivery {
  const error = record.error !== null && scope === 'read' && record.channel === 'webhook' ? scrubbedError(record.error, record.target) : record.error;
  return {
    id: record.id,
    updateId: record.updateId,
    channel: record.channel,
    target: describeTarget(record.target, scope),
    state: record.state,
    attempts: record.attempts,
    providerRef: record.providerRef,
    error,
    sentAt: record.sentAt,
    retryAt: record.retryAt,
  };
}
