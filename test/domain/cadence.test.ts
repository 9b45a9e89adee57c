/**
 * The cadence's arithmetic: the next update is due a cadence after the last
 * broadcast, and the commander is reminded the configured lead before it,
 * never more than half the cadence before.
 */
import { describe, expect, it } from 'vitest';
import { clockAfter, reminderAt, reminderLeadMs } from '../../src/domain/cadence.js';

describe('the cadence clock', () => {
  it('is due one cadence after the broadcast, the reminder the configured lead before', () => {
    expect(clockAfter(1_000_000, 1800, 300_000)).toEqual({ nextUpdateDueAt: 1_000_000 + 1_800_000, remindAt: 1_000_000 + 1_500_000 });
  });

  it('caps the lead at half the cadence (rounded down to the millisecond)', () => {
    expect(reminderLeadMs(60, 300_000)).toBe(30_000);
    expect(reminderLeadMs(1, 300_000)).toBe(500);
    expect(reminderAt(10_000, 1, 300_000)).toBe(9_500);
  });

  it('reminds nobody when the lead is nothing', () => {
    expect(reminderLeadMs(1800, 0)).toBe(0);
    expect(clockAfter(0, 1800, 0).remindAt).toBeNull();
  });
});
