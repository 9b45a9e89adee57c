/**
 * How one delivery is kept in Redis: a field of its update's deliveries hash
 * (one per update and channel), named by the target's key, whose value is
 * `<state>|<next>|<details>`:
 *
 * - state: one letter (q queued, f failed, s sent, d dead), all the Lua
 *   scripts need to know of it;
 * - next: the update its target's lane released when this delivery was
 *   popped off it ('' until then), so that a re-run finds it again;
 * - details: a small JSON object only Herald's code reads — what a listing
 *   shows (attempts, provider reference, error, times) and the little of the
 *   target its key does not say (an email recipient's spelling and
 *   audiences). A webhook's secret is never here: it stays in its audience.
 *
 * The delivery's id is not stored: it is derived from the update, the channel
 * and the target key (see {@link deliveryId}). A queued webhook delivery is
 * about a dozen bytes plus its key.
 */
import type { ChannelName } from '../channels/channel.js';
import { targetFromKey, type RecordedTarget } from '../domain/audience.js';
import { deliveryId, type DeliveryRecord, type DeliveryState } from '../domain/delivery.js';

const LETTER: Record<DeliveryState, string> = { queued: 'q', failed: 'f', sent: 's', dead: 'd' };
const STATE: Record<string, DeliveryState> = { q: 'queued', f: 'failed', s: 'sent', d: 'dead' };

/** What the details JSON holds; absent fields are their defaults (0, null, the key). */
interface Details {
  /** Position in the update's fan-out. */
  i: number;
  /** attempts */
  a?: number;
  /** providerRef */
  r?: string;
  /** error */
  e?: string;
  /** sentAt, epoch ms */
  t?: number;
  /** retryAt, epoch ms */
  w?: number;
  /** email: the address as written, when it differs from its key */
  m?: string;
  /** email: the audiences it is in (for its unsubscribe link) */
  u?: string[];
}

/** Where a stored delivery is: enough to rebuild its record from its value. */
export interface DeliveryPlace {
  incidentId: string;
  updateId: string;
  channel: ChannelName;
}

/** What a stored value holds; the rest of a record is where it is stored (see {@link DeliveryPlace}) and its derived id. */
export type StoredFields = Omit<DeliveryRecord, 'id' | keyof DeliveryPlace>;

/** A record as stored, with no successor yet (the scripts set it when they pop it). */
export function encodeDelivery(record: StoredFields): string {
  const details: Details = { i: record.index };
  if (record.attempts > 0) details.a = record.attempts;
  if (record.providerRef !== null) details.r = record.providerRef;
  if (record.error !== null) details.e = record.error;
  if (record.sentAt !== null) details.t = Date.parse(record.sentAt);
  if (record.retryAt !== null) details.w = Date.parse(record.retryAt);
  const { target } = record;
  if (target.channel === 'email') {
    if (target.address !== target.key) details.m = target.address;
    if (target.audiences.length > 0) details.u = target.audiences;
  }
  return `${LETTER[record.state]}||${JSON.stringify(details)}`;
}

/** A stored delivery read back, with the update its lane released (or ''). */
export interface StoredDelivery {
  record: DeliveryRecord;
  next: string;
}

/** Reads a stored value; null when it is not a delivery record. */
export function decodeDelivery(place: DeliveryPlace, targetKey: string, value: string): StoredDelivery | null {
  const match = /^([qfsd])\|([^|]*)\|(.*)$/s.exec(value);
  if (match === null) return null;
  let details: Details;
  try {
    details = JSON.parse(match[3]!) as Details;
  } catch {
    return null;
  }
  if (typeof details !== 'object' || details === null || typeof details.i !== 'number') return null;
  const record: DeliveryRecord = {
    id: deliveryId(place.updateId, place.channel, targetKey),
    incidentId: place.incidentId,
    updateId: place.updateId,
    index: details.i,
    channel: place.channel,
    target: storedTarget(place.channel, targetKey, details),
    state: STATE[match[1]!]!,
    attempts: details.a ?? 0,
    providerRef: details.r ?? null,
    error: details.e ?? null,
    sentAt: details.t === undefined ? null : new Date(details.t).toISOString(),
    retryAt: details.w === undefined ? null : new Date(details.w).toISOString(),
  };
  return { record, next: match[2]! };
}

function storedTarget(channel: ChannelName, key: string, details: Details): RecordedTarget {
  const target = targetFromKey(channel, key);
  if (target.channel === 'email') return { ...target, address: details.m ?? key, audiences: details.u ?? [] };
  return target;
}
