/**
 * A real Redis Cluster for a test: `redis-server` processes in cluster mode
 * on free ports, joined by `redis-cli --cluster create`, with the operations
 * an operator's cluster goes through — a manual failover, a crashed master,
 * a live slot migration — each waited out until every node agrees again.
 *
 * Also home to what the Sentinel topology (redis-sentinel.ts) shares: one
 * `redis-server` process in a directory of its own, a command sent to one
 * node, and a poll until a condition holds.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import slotOfKey from 'cluster-key-slot';
import { Cluster, Redis } from 'ioredis';
import { freePort } from './global-redis.js';

const HOST = '127.0.0.1';

/** Where a Redis node (or a Sentinel) answers. */
export interface RedisAddress {
  host: string;
  port: number;
}

/** One `redis-server` process a test topology started, in a directory of its own. */
export interface RedisServerProcess extends RedisAddress {
  /** The process's own directory: its config, `nodes.conf`, and `redis.log`. */
  readonly dir: string;
  /** False once the process has exited. */
  readonly running: boolean;
  /** SIGKILLs it (no shutdown courtesy: as if the host vanished) and waits for it to be gone. */
  kill(): Promise<void>;
}

const started = new Set<ChildProcess>();
// A test that fails before its stop() would otherwise leave its Redis processes to outlive the run.
process.once('exit', () => {
  for (const child of started) child.kill('SIGKILL');
});

function logTail(dir: string): string {
  try {
    return readFileSync(join(dir, 'redis.log'), 'utf8').split('\n').slice(-15).join('\n');
  } catch {
    return '(no redis.log)';
  }
}

class PortTakenError extends Error {}

/**
 * Starts `redis-server` with `args` (which must make it listen on `port` and
 * log to `<dir>/redis.log`) and waits until it answers PING.
 * @throws PortTakenError when something else bound the port first
 */
async function launch(dir: string, port: number, args: readonly string[]): Promise<RedisServerProcess> {
  const child = spawn('redis-server', args, { stdio: 'ignore' });
  started.add(child);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  void exited.then(() => started.delete(child));
  await new Promise<void>((resolve, reject) => {
    child.once('spawn', () => resolve());
    child.once('error', (e) => reject(new Error(`cannot start redis-server (is it installed?): ${e.message}`)));
  });
  const kill = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await exited;
  };
  const deadline = Date.now() + 15_000;
  for (;;) {
    if (child.exitCode !== null) {
      const log = logTail(dir);
      if (log.includes('Address already in use')) throw new PortTakenError(log);
      throw new Error(`redis-server on port ${port} exited with code ${child.exitCode}:\n${log}`);
    }
    try {
      if ((await nodeCommand(port, 'PING')) === 'PONG') break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      await kill();
      throw new Error(`redis-server did not answer on port ${port}:\n${logTail(dir)}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    host: HOST,
    port,
    dir,
    get running() {
      return child.exitCode === null && child.signalCode === null;
    },
    kill,
  };
}

/**
 * Starts a `redis-server` in a new directory under `parentDir`, on `port` or,
 * without one, on a free port (picked again if another process takes it
 * between the pick and the bind). `args` receives the port and the directory
 * and returns the whole command line, which must log to `<dir>/redis.log`.
 */
export async function startRedisServer(
  parentDir: string,
  args: (port: number, dir: string) => Promise<string[]> | string[],
  port?: number,
): Promise<RedisServerProcess> {
  const dir = mkdtempSync(join(parentDir, 'node-'));
  for (let attempt = 1; ; attempt++) {
    const listenOn = port ?? (await freePort());
    try {
      return await launch(dir, listenOn, await args(listenOn, dir));
    } catch (error) {
      if (!(error instanceof PortTakenError) || port !== undefined || attempt === 3) throw error;
    }
  }
}

/** The arguments every test node starts with: loopback only, nothing persisted, a log file in its directory. */
export function baseServerArgs(port: number, dir: string): string[] {
  return [
    '--port', String(port),
    '--bind', HOST,
    '--save', '',
    '--appendonly', 'no',
    '--dir', dir,
    '--logfile', join(dir, 'redis.log'),
    // A master waits 5 s by default before streaming a full sync, for more replicas to share it; tests cannot wait.
    '--repl-diskless-sync-delay', '0',
  ];
}

/** Sends one command to the node on `port` over a connection of its own, closed after the reply. */
export async function nodeCommand(port: number, command: string, ...args: Array<string | number>): Promise<unknown> {
  const redis = new Redis({
    host: HOST,
    port,
    lazyConnect: true,
    connectTimeout: 2000,
    commandTimeout: 5000,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  });
  redis.on('error', () => {});
  try {
    await redis.connect();
    return await redis.call(command, ...args);
  } finally {
    redis.disconnect();
  }
}

/**
 * Polls `check` until it returns without throwing, and returns its value. A
 * check throws an Error saying what is not so yet; on timeout that last
 * account is in the error.
 */
export async function waitUntil<T>(what: string, check: () => Promise<T>, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await check();
    } catch (error) {
      if (Date.now() > deadline) {
        throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}: ${error instanceof Error ? error.message : String(error)}`);
      }
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** What `ROLE` says, in the two shapes a data node answers. */
export type NodeRole = { role: 'master' } | { role: 'slave'; masterPort: number; linkState: string };

export async function roleOf(port: number): Promise<NodeRole> {
  const reply = (await nodeCommand(port, 'ROLE')) as unknown[];
  if (reply[0] === 'master') return { role: 'master' };
  if (reply[0] === 'slave') return { role: 'slave', masterPort: Number(reply[2]), linkState: String(reply[3]) };
  throw new Error(`port ${port} answers ROLE ${String(reply[0])}`);
}

/** One master of the cluster and the slot ranges it serves. */
export interface ClusterMaster extends RedisAddress {
  /** The node id, as CLUSTER NODES and CLUSTER SETSLOT name it. */
  id: string;
  /** Inclusive ranges, `[from, to]`. */
  slots: Array<[number, number]>;
}

export interface RedisClusterOptions {
  /** @defaultValue 3 (1, with no replicas, is a one-node cluster holding every slot) */
  masters?: number;
  /** @defaultValue 1 */
  replicasPerMaster?: number;
  /** The nodes' ports, one per node (each node's bus port is its port + 10000); @defaultValue free ports */
  ports?: readonly number[];
}

export interface RedisClusterHandle {
  /** Every node started, masters and replicas, including any since crashed. */
  readonly nodes: readonly RedisAddress[];
  /** `127.0.0.1:p1,127.0.0.1:p2,…`: every node, as REDIS_CLUSTER_NODES takes it. */
  readonly nodesEnv: string;
  /** The masters serving slots now, by port. */
  masters(): Promise<ClusterMaster[]>;
  /** The port of a replica of the master on `masterPort`. */
  replicaOf(masterPort: number): Promise<number>;
  /**
   * `CLUSTER FAILOVER` on a replica of the master on `masterPort`; resolves
   * once the replica is master, the old master replicates from it, and every
   * node agrees on the slot map with `cluster_state:ok`.
   */
  failover(masterPort: number): Promise<{ newMasterPort: number }>;
  /**
   * SIGKILLs the master on `masterPort`; resolves once the surviving nodes
   * have marked it failed and agree on the replica that took over its slots
   * (about 3–5 s with the 2 s node timeout).
   */
  crashMaster(masterPort: number): Promise<{ newMasterPort: number }>;
  /**
   * Migrates `slot` with its keys to the master on `toMasterPort`, as
   * `redis-cli --cluster reshard` does: IMPORTING/MIGRATING, MIGRATE in
   * batches, then SETSLOT NODE on every master; resolves once all agree.
   */
  moveSlot(slot: number, toMasterPort: number): Promise<void>;
  /** The hash slot of `key` (hash tags respected). */
  slotOf(key: string): number;
  /** Keys on each master by port: all of them (DBSIZE), or those matching `pattern` (SCAN). */
  keyCountsPerMaster(pattern?: string): Promise<Map<number, number>>;
  /** An ioredis Cluster client on the live nodes; the caller closes it. */
  client(): Cluster;
  /** Kills every node and removes their directories. */
  stop(): Promise<void>;
}

/**
 * How long a node may be unreachable before it is failed over: low, so a
 * crash is handled in seconds; high enough that a busy two-core machine's
 * stall does not fail a healthy node.
 */
const NODE_TIMEOUT_MS = 2000;
const SETTLE_TIMEOUT_MS = 30_000;
const MIGRATE_BATCH = 100;
const MIGRATE_TIMEOUT_MS = 5000;

interface ClusterNodeLine {
  id: string;
  port: number;
  flags: string[];
  masterId: string | undefined;
  slots: Array<[number, number]>;
  /** A `[slot->-id]` / `[slot-<-id]` entry: a migration under way. */
  migrating: boolean;
}

function parseClusterNodes(text: string): ClusterNodeLine[] {
  return text
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => {
      const [id = '', address = '', flags = '', masterId = '-', , , , , ...slotFields] = line.trim().split(' ');
      const port = Number(/:(\d+)@/.exec(address)?.[1]);
      const slots: Array<[number, number]> = slotFields
        .filter((field) => !field.startsWith('['))
        .map((field) => {
          const [from, to = from] = field.split('-');
          return [Number(from), Number(to)];
        });
      return {
        id,
        port,
        flags: flags.split(','),
        masterId: masterId === '-' ? undefined : masterId,
        slots,
        migrating: slotFields.some((field) => field.startsWith('[')),
      };
    });
}

const failed = (node: ClusterNodeLine): boolean => node.flags.includes('fail') || node.flags.includes('fail?');

/**
 * Starts `masters × (1 + replicasPerMaster)` cluster nodes and creates the
 * cluster; resolves once every node reports `cluster_state:ok`, all agree on
 * who serves which slots, and every replica's link to its master is up.
 */
export async function startRedisCluster(options: RedisClusterOptions = {}): Promise<RedisClusterHandle> {
  const masterCount = options.masters ?? 3;
  const replicasPerMaster = options.replicasPerMaster ?? 1;
  const root = mkdtempSync(join(tmpdir(), 'herald-test-cluster-'));
  const processes = new Map<number, RedisServerProcess>();

  const stop = async (): Promise<void> => {
    await Promise.all([...processes.values()].map((p) => p.kill()));
    rmSync(root, { recursive: true, force: true });
  };

  try {
    // One at a time: a started node holds its ports, so the next free-port pick cannot collide with it.
    for (let i = 0; i < masterCount * (1 + replicasPerMaster); i++) {
      const node = await startRedisServer(root, async (port, dir) => {
        // The bus port defaults to port + 10000, beyond 65535 for much of the ephemeral range: name it.
        let busPort = options.ports === undefined ? await freePort() : port + 10_000;
        while (busPort === port) busPort = await freePort();
        return [
          ...baseServerArgs(port, dir),
          '--cluster-enabled', 'yes',
          '--cluster-config-file', join(dir, 'nodes.conf'),
          '--cluster-node-timeout', String(NODE_TIMEOUT_MS),
          '--cluster-port', String(busPort),
          // A replica may always take over, however long it has been out of touch.
          '--cluster-replica-validity-factor', '0',
        ];
      }, options.ports?.[i]);
      processes.set(node.port, node);
    }
    if (processes.size === 1) {
      // `redis-cli --cluster create` wants 3 masters at least: a one-node cluster takes every slot itself.
      await nodeCommand([...processes.keys()][0]!, 'CLUSTER', 'ADDSLOTSRANGE', '0', '16383');
    } else {
      await promisify(execFile)(
        'redis-cli',
        ['--cluster', 'create', ...[...processes.keys()].map((p) => `${HOST}:${p}`), '--cluster-replicas', String(replicasPerMaster), '--cluster-yes'],
        { timeout: 60_000 },
      );
    }
  } catch (error) {
    await stop();
    throw error;
  }

  const live = (): RedisServerProcess[] => [...processes.values()].filter((p) => p.running);

  const clusterNodes = async (port: number): Promise<ClusterNodeLine[]> => parseClusterNodes(String(await nodeCommand(port, 'CLUSTER', 'NODES')));

  /** Throws unless every live node says `cluster_state:ok` and sees the same masters, replicas and failed nodes; returns that view. */
  const agreedView = async (): Promise<ClusterNodeLine[]> => {
    let agreed: { port: number; text: string; view: ClusterNodeLine[] } | undefined;
    for (const { port } of live()) {
      const info = String(await nodeCommand(port, 'CLUSTER', 'INFO'));
      if (!info.includes('cluster_state:ok')) throw new Error(`node ${port} is not cluster_state:ok`);
      const view = await clusterNodes(port);
      if (view.length !== processes.size) throw new Error(`node ${port} knows ${view.length} of ${processes.size} nodes`);
      if (view.some((n) => n.migrating)) throw new Error(`node ${port} has a slot migration open`);
      if (view.some((n) => n.flags.includes('handshake') || n.flags.includes('noaddr'))) throw new Error(`node ${port} is still meeting nodes`);
      const text = view
        .map((n) => {
          if (failed(n)) return `${n.port} failed`;
          const master = view.find((m) => m.id === n.masterId);
          return n.flags.includes('master') ? `${n.port} master ${n.slots.map((r) => r.join('-')).join(',')}` : `${n.port} replica of ${master?.port}`;
        })
        .sort()
        .join('; ');
      if (agreed === undefined) agreed = { port, text, view };
      else if (agreed.text !== text) throw new Error(`node ${agreed.port} sees [${agreed.text}] but node ${port} sees [${text}]`);
    }
    if (agreed === undefined) throw new Error('no node is running');
    for (const node of agreed.view) {
      const alive = processes.get(node.port)?.running === true;
      if (failed(node) === alive) throw new Error(`node ${node.port} is ${alive ? 'running' : 'dead'} but ${failed(node) ? '' : 'not '}marked failed`);
    }
    return agreed.view;
  };

  /** Throws unless the cluster has settled (see agreedView) and every replica's link to its master is up. */
  const settled = async (): Promise<ClusterNodeLine[]> => {
    const view = await agreedView();
    for (const node of view) {
      if (failed(node) || !node.flags.includes('slave')) continue;
      const master = view.find((m) => m.id === node.masterId);
      const role = await roleOf(node.port);
      if (role.role !== 'slave' || role.masterPort !== master?.port || role.linkState !== 'connected') {
        throw new Error(`replica ${node.port} is not connected to its master ${master?.port}: ROLE ${JSON.stringify(role)}`);
      }
    }
    return view;
  };

  const anyLivePort = (): number => {
    const node = live()[0];
    if (node === undefined) throw new Error('no cluster node is running');
    return node.port;
  };

  const masters = async (): Promise<ClusterMaster[]> =>
    (await clusterNodes(anyLivePort()))
      .filter((n) => n.flags.includes('master') && !failed(n) && n.slots.length > 0)
      .sort((a, b) => a.port - b.port)
      .map((n) => ({ host: HOST, port: n.port, id: n.id, slots: n.slots }));

  const masterLine = (view: ClusterNodeLine[], port: number): ClusterNodeLine => {
    const master = view.find((n) => n.port === port && n.flags.includes('master') && !failed(n));
    if (master === undefined) throw new Error(`no live master on port ${port}`);
    return master;
  };

  const replicaOf = async (masterPort: number): Promise<number> => {
    const view = await clusterNodes(anyLivePort());
    const master = masterLine(view, masterPort);
    const replica = view.find((n) => n.masterId === master.id && n.flags.includes('slave') && !failed(n));
    if (replica === undefined) throw new Error(`the master on port ${masterPort} has no live replica`);
    return replica.port;
  };

  /** The port serving `slot` in an agreed view. */
  const ownerOf = (view: ClusterNodeLine[], slot: number): number | undefined =>
    view.find((n) => !failed(n) && n.slots.some(([from, to]) => slot >= from && slot <= to))?.port;

  await waitUntil('the new cluster to settle', settled, SETTLE_TIMEOUT_MS).catch(async (error: unknown) => {
    await stop();
    throw error;
  });

  return {
    nodes: [...processes.keys()].map((port) => ({ host: HOST, port })),
    nodesEnv: [...processes.keys()].map((port) => `${HOST}:${port}`).join(','),
    masters,
    replicaOf,

    async failover(masterPort) {
      const replicaPort = await replicaOf(masterPort);
      // A manual failover the master does not acknowledge within 5 s (a stalled machine) is abandoned: ask again.
      await waitUntil(
        `replica ${replicaPort} to take over from ${masterPort}`,
        async () => {
          if ((await roleOf(replicaPort)).role === 'master') return;
          await nodeCommand(replicaPort, 'CLUSTER', 'FAILOVER');
          await waitUntil(`replica ${replicaPort} to answer ROLE master`, async () => {
            if ((await roleOf(replicaPort)).role !== 'master') throw new Error('still a replica');
          }, 7000);
        },
        SETTLE_TIMEOUT_MS,
      );
      await waitUntil(
        `the cluster to settle with ${replicaPort} as master and ${masterPort} as its replica`,
        async () => {
          const view = await settled();
          const old = view.find((n) => n.port === masterPort);
          if (old?.masterId !== masterLine(view, replicaPort).id) throw new Error(`${masterPort} is not yet a replica of ${replicaPort}`);
        },
        SETTLE_TIMEOUT_MS,
      );
      return { newMasterPort: replicaPort };
    },

    async crashMaster(masterPort) {
      const before = await agreedView();
      const [firstSlot] = masterLine(before, masterPort).slots[0] ?? [];
      const node = processes.get(masterPort);
      if (node === undefined || firstSlot === undefined) throw new Error(`the master on port ${masterPort} serves no slots`);
      await node.kill();
      const newMasterPort = await waitUntil(
        `a replica to take over the slots of crashed master ${masterPort}`,
        async () => {
          const owner = ownerOf(await settled(), firstSlot);
          if (owner === undefined || owner === masterPort) throw new Error(`slot ${firstSlot} is still with ${masterPort}`);
          return owner;
        },
        SETTLE_TIMEOUT_MS,
      );
      return { newMasterPort };
    },

    async moveSlot(slot, toMasterPort) {
      const view = await agreedView();
      const target = masterLine(view, toMasterPort);
      const sourcePort = ownerOf(view, slot);
      if (sourcePort === undefined) throw new Error(`no master serves slot ${slot}`);
      if (sourcePort === toMasterPort) return;
      const source = masterLine(view, sourcePort);
      // The order redis-cli uses: the target accepts ASK-redirected commands before the source sends any.
      await nodeCommand(target.port, 'CLUSTER', 'SETSLOT', slot, 'IMPORTING', source.id);
      await nodeCommand(source.port, 'CLUSTER', 'SETSLOT', slot, 'MIGRATING', target.id);
      for (;;) {
        const keys = (await nodeCommand(source.port, 'CLUSTER', 'GETKEYSINSLOT', slot, MIGRATE_BATCH)) as string[];
        if (keys.length === 0) break;
        await nodeCommand(source.port, 'MIGRATE', HOST, target.port, '', 0, MIGRATE_TIMEOUT_MS, 'REPLACE', 'KEYS', ...keys);
      }
      // Target first, so that the source's redirects never point at a node that would bounce them back.
      const others = view.filter((n) => n.flags.includes('master') && !failed(n) && n.port !== target.port && n.port !== source.port);
      for (const master of [target, source, ...others]) {
        await nodeCommand(master.port, 'CLUSTER', 'SETSLOT', slot, 'NODE', target.id);
      }
      await waitUntil(
        `every node to see slot ${slot} served by ${toMasterPort}`,
        async () => {
          const owner = ownerOf(await settled(), slot);
          if (owner !== toMasterPort) throw new Error(`slot ${slot} is served by ${owner}`);
        },
        SETTLE_TIMEOUT_MS,
      );
    },

    slotOf: (key) => slotOfKey(key),

    async keyCountsPerMaster(pattern) {
      const counts = new Map<number, number>();
      for (const { port } of await masters()) {
        if (pattern === undefined) {
          counts.set(port, Number(await nodeCommand(port, 'DBSIZE')));
          continue;
        }
        let count = 0;
        let cursor = '0';
        do {
          const [next, keys] = (await nodeCommand(port, 'SCAN', cursor, 'MATCH', pattern, 'COUNT', 1000)) as [string, string[]];
          cursor = next;
          count += keys.length;
        } while (cursor !== '0');
        counts.set(port, count);
      }
      return counts;
    },

    client: () => new Cluster(live().map(({ host, port }) => ({ host, port }))),
    stop,
  };
}

