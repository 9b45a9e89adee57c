/**
 * A delivery as stored: `<state>|<next>|<details>`, read back to the same
 * record, with the target rebuilt from its key and the little the key does
 * not say; anything else is not a record.
 */
import { describe, expect, it } from 'vitest';
import { deliveryId, type DeliveryRecord } from '../../src/domain/delivery.js';
import { decodeDelivery, encodeDelivery } from '../../src/store/delivery-record.js';

const place = { incidentId: 'inc_1', updateId: 'upd_1', channel: 'email' as const };

function emailRecord(overrides: Partial<DeliveryRecord> = {}): DeliveryRecord {
  return {
    id: deliveryId('upd_1', 'email', 'Ops@partner.example'),
    incidentId: 'inc_1',
    updateId: 'upd_1',
    index: 7,
    channel: 'email',
    target: { channel: 'email', key: 'Ops@partner.example', address: 'Ops@Partner.Example', audiences: ['partners', 'vip'] },
    state: 'queued',
    attempts: 0,
    providerRef: null,
    error: null,
    sentAt: null,
    retryAt: null,
    ...overrides,
  };
}

describe('a stored delivery', () => {
  it('reads back as the record it was, queued or after attempts', () => {
    for (const record of [
      emailRecord(),
      emailRecord({ state: 'sent', attempts: 2, providerRef: '250 OK id=1', sentAt: '2026-12-02T10:00:00.000Z' }),
      emailRecord({ state: 'failed', attempts: 1, error: 'smtp_421: try | later', retryAt: '2026-12-02T10:05:00.000Z' }),
    ]) {
      const stored = encodeDelivery(record);
      expect(stored.startsWith(`${record.state[0]}||`)).toBe(true);
      expect(decodeDelivery(place, record.target.key, stored)).toEqual({ record, next: '' });
    }
  });

  it('keeps no more than the key says for a webhook: about a dozen bytes when queued', () => {
    const stored = encodeDelivery({ ...emailRecord(), target: { channel: 'webhook', key: 'https://a.example/h', url: 'https://a.example/h' } });
    expect(stored).toBe('q||{"i":7}');
  });

  it('names the successor its lane released', () => {
    expect(decodeDelivery(place, 'Ops@partner.example', 's|upd_2|{"i":7,"a":1}')?.next).toBe('upd_2');
  });

  it('is not a record when its state, its shape or its details cannot be read', () => {
    for (const value of ['', 'z||{"i":1}', 'q|{"i":1}', 'q||{"i":', 'q||[]', 'q||{"a":1}', '{"state":"queued"}']) {
      expect(decodeDelivery(place, 'x@y.example', value), value).toBeNull();
    }
  });
});
