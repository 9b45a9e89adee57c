/**
 * The Redis topologies Herald's failover tests run on are real ones: a
 * Cluster whose slots, migrations and failovers a Cluster client follows,
 * and a Sentinel setup whose failovers a Sentinel client follows. These
 * tests hold the helpers to that before any Herald test relies on them.
 */
import { Redis, type Cluster } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nodeCommand, startRedisCluster, waitUntil, type RedisClusterHandle } from './redis-cluster.js';
import { startRedisSentinel, type RedisSentinelHandle } from './redis-sentinel.js';

/** Each step waits out a real failover: seconds when idle, more on a loaded two-core machine. */
const STEP_TIMEOUT_MS = 60_000;
const KEYS = 300;

const keyName = (k: number): string => `t:{${k}}`;

async function writeAndReadBack(client: Cluster, value: string): Promise<void> {
  for (let k = 0; k < KEYS; k++) await client.set(keyName(k), value);
  const values = await Promise.all(Array.from({ length: KEYS }, (_, k) => client.get(keyName(k))));
  expect(values.every((v) => v === value)).toBe(true);
}

describe('a Redis Cluster of three masters with a replica each', () => {
  let cluster: RedisClusterHandle;
  let client: Cluster;

  beforeAll(async () => {
    cluster = await startRedisCluster();
    client = cluster.client();
  }, STEP_TIMEOUT_MS);
  afterAll(async () => {
    client?.disconnect();
    await cluster?.stop();
  });

  it('forms with every master serving slots, all 16384 covered, and a replica for each', async () => {
    const masters = await cluster.masters();
    expect(masters).toHaveLength(3);
    const served = masters.flatMap((m) => m.slots).reduce((sum, [from, to]) => sum + (to - from + 1), 0);
    expect(served).toBe(16384);
    for (const master of masters) {
      expect(master.slots.length).toBeGreaterThan(0);
      expect(await nodeCommand(await cluster.replicaOf(master.port), 'ROLE')).toContain('slave');
    }
    expect(cluster.nodes).toHaveLength(6);
    expect(cluster.nodesEnv.split(',')).toEqual(cluster.nodes.map((n) => `127.0.0.1:${n.port}`));
  });

  it('spreads keys written through a Cluster client over all three masters', async () => {
    await writeAndReadBack(client, 'first');
    const counts = await cluster.keyCountsPerMaster('t:*');
    expect(counts.size).toBe(3);
    expect([...counts.values()].reduce((a, b) => a + b, 0)).toBe(KEYS);
    for (const count of counts.values()) expect(count).toBeGreaterThan(0);
  });

  it('moves a slot with its keys to another master while the client keeps writing to it', async () => {
    const slot = cluster.slotOf('moving');
    const masters = await cluster.masters();
    const source = masters.find((m) => m.slots.some(([from, to]) => slot >= from && slot <= to));
    const target = masters.find((m) => m !== source);
    if (source === undefined || target === undefined) throw new Error(`no two masters around slot ${slot}`);
    for (let i = 0; i < 250; i++) await client.set(`moved:{moving}:${i}`, String(i));

    let migrated = false;
    let written = 0;
    const writer = (async () => {
      while (!migrated) await client.set(`moved:{moving}:during-${written++}`, 'x');
    })();
    await cluster.moveSlot(slot, target.port);
    migrated = true;
    await writer;

    const counts = await cluster.keyCountsPerMaster('moved:*');
    expect(counts.get(source.port)).toBe(0);
    expect(counts.get(target.port)).toBe(250 + written);
    expect(await client.get('moved:{moving}:249')).toBe('249');
    expect(await client.get(`moved:{moving}:during-${written - 1}`)).toBe('x');
    const after = await cluster.masters();
    expect(after.find((m) => m.port === target.port)?.slots).toContainEqual([slot, slot]);
  });

  it('fails a master over to its replica on CLUSTER FAILOVER; the client writes and reads on', async () => {
    const [master] = await cluster.masters();
    if (master === undefined) throw new Error('no master');
    const replica = await cluster.replicaOf(master.port);

    const { newMasterPort } = await cluster.failover(master.port);

    expect(newMasterPort).toBe(replica);
    expect((await cluster.masters()).map((m) => m.port)).toContain(replica);
    expect(await cluster.replicaOf(replica)).toBe(master.port);
    await writeAndReadBack(client, 'after failover');
  }, STEP_TIMEOUT_MS);

  it('promotes the replica of a crashed master; the client writes and reads on', async () => {
    const [master] = await cluster.masters();
    if (master === undefined) throw new Error('no master');
    const replica = await cluster.replicaOf(master.port);

    const { newMasterPort } = await cluster.crashMaster(master.port);

    expect(newMasterPort).toBe(replica);
    expect((await cluster.masters()).map((m) => m.port)).not.toContain(master.port);
    // The client learns of the crash from the refused connection, and of the new master from a slots refresh.
    await waitUntil('a write through the Cluster client', () => writeAndReadBack(client, 'after crash'), STEP_TIMEOUT_MS);
  }, STEP_TIMEOUT_MS);
});

describe('a Sentinel setup of a master, two replicas and three Sentinels', () => {
  let sentinel: RedisSentinelHandle;
  let client: Redis;

  /** Writes through the Sentinel client until a write succeeds (it reconnects after a change of master), then reads it on `masterPort` itself. */
  async function writeReachesMaster(key: string, masterPort: number): Promise<void> {
    await waitUntil(`a write through the Sentinel client to land on ${masterPort}`, async () => {
      await client.set(key, String(masterPort));
      expect(await nodeCommand(masterPort, 'GET', key)).toBe(String(masterPort));
    }, STEP_TIMEOUT_MS);
  }

  beforeAll(async () => {
    sentinel = await startRedisSentinel();
    client = new Redis({ sentinels: [...sentinel.sentinels], name: sentinel.masterName, maxRetriesPerRequest: 1 });
    client.on('error', () => {});
  }, STEP_TIMEOUT_MS);
  afterAll(async () => {
    client?.disconnect();
    await sentinel?.stop();
  });

  it('serves the master the Sentinels name to a Sentinel client', async () => {
    const master = await sentinel.master();
    const nodes = await sentinel.nodes();
    expect(nodes.filter((n) => n.role === 'master').map((n) => n.port)).toEqual([master.port]);
    expect(nodes.filter((n) => n.role === 'replica')).toHaveLength(2);
    expect(sentinel.sentinelsEnv.split(',')).toHaveLength(3);
    await writeReachesMaster('before', master.port);
  });

  it('switches master on SENTINEL FAILOVER; the Sentinel client writes to the new one', async () => {
    const { from, to } = await sentinel.failover();

    expect(to).not.toBe(from);
    expect((await sentinel.master()).port).toBe(to);
    expect(await sentinel.nodes()).toContainEqual({ host: '127.0.0.1', port: from, role: 'replica' });
    await writeReachesMaster('after failover', to);
  }, STEP_TIMEOUT_MS);

  it('promotes a replica when the master crashes, and takes the old master back as a replica', async () => {
    const { from, to } = await sentinel.crashMaster();

    expect(to).not.toBe(from);
    expect((await sentinel.nodes()).map((n) => n.port)).not.toContain(from);
    await writeReachesMaster('after crash', to);

    await sentinel.restart(from);
    expect(await sentinel.nodes()).toContainEqual({ host: '127.0.0.1', port: from, role: 'replica' });
    expect((await sentinel.master()).port).toBe(to);
  }, STEP_TIMEOUT_MS);
});
