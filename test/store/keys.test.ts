/**
 * Herald's key layout: on one Redis, the names it always had; on a Cluster,
 * shards whose tags spread evenly over the slots, each place's keys in its
 * shard's slot, so that every script and transaction stays in one slot.
 */
import slotOf from 'cluster-key-slot';
import { describe, expect, it } from 'vitest';
import { CHANNEL_NAMES } from '../../src/channels/channel.js';
import { keysFor, shardTag } from '../../src/store/keys.js';

describe('keys on one Redis (one shard)', () => {
  const keys = keysFor('herald');

  it('keeps the names Herald always used, so an upgrade finds its data', () => {
    expect(keys.shards).toHaveLength(1);
    expect(keys.shardOf('inc_01J')).toBe(keys.shards[0]);
    expect(keys.shards[0]).toMatchObject({
      index: 0,
      queuePrefix: 'herald',
      incidents: 'herald:incidents',
      openIncidents: 'herald:incidents:open',
      holdingSchedule: 'herald:schedule:holding',
      reminderSchedule: 'herald:schedule:reminder',
      maintenances: 'herald:maintenances',
      maintenanceSchedule: 'herald:schedule:maintenance',
      pendingBroadcasts: 'herald:broadcasts:pending',
      deliveryRetention: 'herald:retention:deliveries',
      cadenceCounts: 'herald:metrics:cadence',
      readyProbe: 'herald:readyz',
    });
    expect(keys.incident('inc_1')).toBe('herald:incident:inc_1');
    expect(keys.updates('inc_1')).toBe('herald:incident:inc_1:updates');
    expect(keys.deliveries('inc_1', 'upd_2', 'email')).toBe('herald:{inc_1}:deliveries:upd_2:email');
    expect(keys.lanes('inc_1', 'slack')).toBe('herald:{inc_1}:lanes:slack');
    expect(keys.threads('inc_1')).toBe('herald:{inc_1}:threads');
    expect(keys.totals('inc_1', 'upd_2')).toBe('herald:{inc_1}:totals:upd_2');
    expect(keys.audiences).toBe('herald:audiences');
    expect(keys.audiencesVersion).toBe('herald:audiences:version');
    expect(keys.deliveryCounts).toBe('herald:metrics:deliveries');
  });
});

describe('keys on a Cluster (shards)', () => {
  const SLOTS = 16_384;

  it.each([3, 12, 24])('gives each of %i shards a tag whose slot lies in its even share of the slots', (count) => {
    const tags = Array.from({ length: count }, (_, i) => shardTag(i, count));
    expect(new Set(tags).size).toBe(count);
    tags.forEach((tag, i) => {
      const slot = slotOf(tag);
      expect(slot).toBeGreaterThanOrEqual(Math.floor((i * SLOTS) / count));
      expect(slot).toBeLessThan(Math.floor(((i + 1) * SLOTS) / count));
    });
  });

  it('holds equal numbers of shards on masters that own equal slot ranges (3 masters, 12 shards: 4 each)', () => {
    const keys = keysFor('herald', 12);
    const perMaster = [0, 0, 0];
    for (const shard of keys.shards) perMaster[Math.min(2, Math.floor((slotOf(shard.incidents) * 3) / SLOTS))]!++;
    expect(perMaster).toEqual([4, 4, 4]);
  });

  it('puts every key of a place, its shard\'s schedules and its shard\'s queues in one slot', () => {
    const keys = keysFor('herald', 12);
    for (let i = 0; i < 50; i++) {
      const id = `inc_${i.toString(36).padStart(26, '0')}`;
      const shard = keys.shardOf(id);
      const slot = slotOf(keys.incident(id));
      const together = [
        keys.updates(id),
        keys.threads(id),
        keys.totals(id, 'upd_1'),
        ...CHANNEL_NAMES.flatMap((channel) => [keys.deliveries(id, 'upd_1', channel), keys.lanes(id, channel)]),
        shard.incidents,
        shard.openIncidents,
        shard.holdingSchedule,
        shard.reminderSchedule,
        shard.maintenances,
        shard.maintenanceSchedule,
        shard.pendingBroadcasts,
        shard.deliveryRetention,
        shard.cadenceCounts,
        shard.readyProbe,
        // BullMQ names a queue's keys `<prefix>:<queue>:…`.
        `${shard.queuePrefix}:broadcast:wait`,
      ];
      for (const key of together) expect(slotOf(key), key).toBe(slot);
      expect(keys.incident(id).startsWith('herald:{')).toBe(true);
    }
  });

  it('spreads places over every shard', () => {
    const keys = keysFor('herald', 12);
    const perShard = new Array<number>(12).fill(0);
    for (let i = 0; i < 2400; i++) perShard[keys.shardOf(`inc_${i}`).index]!++;
    for (const n of perShard) expect(n).toBeGreaterThan(120);
  });

  it('keeps the audiences and their version in one slot; keys used alone carry no tag', () => {
    const keys = keysFor('herald', 12);
    expect(slotOf(keys.audiencesVersion)).toBe(slotOf(keys.audiences));
    expect(slotOf(`${keys.audiences}:summaries`)).toBe(slotOf(keys.audiences));
    expect(keys.idempotency('ops', 'k1')).toBe('herald:idempotency:ops:k1');
    expect(keys.deadAlert('upd_1')).toBe('herald:alerted:upd_1');
  });

  it('refuses a shard count that is not a whole number ≥ 1', () => {
    expect(() => keysFor('herald', 0)).toThrow(RangeError);
    expect(() => keysFor('herald', 1.5)).toThrow(RangeError);
  });
});
