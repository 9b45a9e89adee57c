/**
 * A real Sentinel setup for a test: one master, its replicas, and Sentinels
 * watching them, each a `redis-server` process on a free port, with the
 * events an operator's setup goes through — a forced failover, a crashed
 * master, a crashed node brought back — each waited out until every Sentinel
 * names the same master and every replica follows it.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  baseServerArgs,
  nodeCommand,
  roleOf,
  startRedisServer,
  waitUntil,
  type RedisAddress,
  type RedisServerProcess,
} from './redis-cluster.js';

const HOST = '127.0.0.1';

export interface RedisSentinelOptions {
  /** @defaultValue 2 */
  replicas?: number;
  /** @defaultValue 3; the quorum is a majority of them */
  sentinels?: number;
  /** @defaultValue 'mymaster' */
  masterName?: string;
  /** Fixed ports: the master's, then each replica's, then each Sentinel's; @defaultValue free ports */
  ports?: readonly number[];
}

/** A data node (not a Sentinel) and its role as it answers ROLE. */
export interface SentinelDataNode extends RedisAddress {
  role: 'master' | 'replica';
}

/** Ports of the master before and after a change of master. */
export interface MasterChange {
  from: number;
  to: number;
}

export interface RedisSentinelHandle {
  readonly sentinels: readonly RedisAddress[];
  /** `127.0.0.1:p1,127.0.0.1:p2,…`: every Sentinel, as REDIS_SENTINELS takes it. */
  readonly sentinelsEnv: string;
  readonly masterName: string;
  /** The master as the Sentinels name it (SENTINEL GET-MASTER-ADDR-BY-NAME). */
  master(): Promise<RedisAddress>;
  /** The data nodes running now, by port, with their roles. */
  nodes(): Promise<SentinelDataNode[]>;
  /**
   * `SENTINEL FAILOVER`; resolves once every Sentinel names the promoted
   * replica, it answers ROLE master, and every other running node (the old
   * master too) replicates from it with its link up. Takes about 11 s: the
   * Sentinels name the new master within 2 s, but demote the old one only
   * after it has reported itself master for 8 s more, at their next INFO —
   * until then it still accepts writes from clients connected to it, and
   * drops them when it resyncs as a replica.
   */
  failover(): Promise<MasterChange>;
  /**
   * SIGKILLs the master; resolves once the Sentinels have agreed it is down,
   * promoted a replica, and every running node follows it.
   */
  crashMaster(): Promise<MasterChange>;
  /**
   * Starts the killed node on `port` again, on the same port, as a
   * replica of the current master, and resolves once its link is up and
   * every Sentinel lists it as a healthy replica.
   */
  restart(port: number): Promise<void>;
  /** Kills every process and removes their directories. */
  stop(): Promise<void>;
}

/**
 * How long a master may not answer before a Sentinel thinks it down: low, so
 * a crash is handled in seconds.
 */
const DOWN_AFTER_MS = 1000;
/**
 * A Sentinel that tried a failover waits twice this before trying the same
 * master again, and gives up reconfiguring replicas after it.
 */
const FAILOVER_TIMEOUT_MS = 5000;
const SETTLE_TIMEOUT_MS = 45_000;

/** SENTINEL REPLICAS / SENTINELS answer each instance as a flat list of field, value pairs. */
function fieldsOf(flat: unknown): Map<string, string> {
  const list = flat as string[];
  const fields = new Map<string, string>();
  for (let i = 0; i + 1 < list.length; i += 2) fields.set(String(list[i]), String(list[i + 1]));
  return fields;
}

/**
 * Starts the master, its replicas (and waits for them to sync), then the
 * Sentinels; resolves once every Sentinel sees the master, every replica and
 * every other Sentinel.
 */
export async function startRedisSentinel(options: RedisSentinelOptions = {}): Promise<RedisSentinelHandle> {
  const replicaCount = options.replicas ?? 2;
  const sentinelCount = options.sentinels ?? 3;
  const masterName = options.masterName ?? 'mymaster';
  const quorum = Math.floor(sentinelCount / 2) + 1;
  const root = mkdtempSync(join(tmpdir(), 'herald-test-sentinel-'));
  const dataNodes = new Map<number, RedisServerProcess>();
  const sentinels: RedisServerProcess[] = [];

  const stop = async (): Promise<void> => {
    await Promise.all([...dataNodes.values(), ...sentinels].map((p) => p.kill()));
    rmSync(root, { recursive: true, force: true });
  };

  const liveDataPorts = (): number[] => [...dataNodes.values()].filter((p) => p.running).map((p) => p.port);

  const replicaArgs = (masterPort: number) => (port: number, dir: string) => [...baseServerArgs(port, dir), '--replicaof', HOST, String(masterPort)];

  /**
   * Throws unless every Sentinel names `masterPort`, lists every other running
   * data node as a replica it reaches and thinks up, and knows every other
   * Sentinel. (What a Sentinel says of a replica's own link lags: it asks a
   * replica for INFO only every 10 s.)
   */
  const sentinelsAgree = async (masterPort: number): Promise<void> => {
    const replicaPorts = liveDataPorts().filter((p) => p !== masterPort);
    for (const sentinel of sentinels) {
      const [host, port] = (await nodeCommand(sentinel.port, 'SENTINEL', 'GET-MASTER-ADDR-BY-NAME', masterName)) as [string, string];
      if (Number(port) !== masterPort) throw new Error(`sentinel ${sentinel.port} names ${host}:${port} as master, not ${masterPort}`);
      const replicas = ((await nodeCommand(sentinel.port, 'SENTINEL', 'REPLICAS', masterName)) as unknown[]).map(fieldsOf);
      for (const replicaPort of replicaPorts) {
        const replica = replicas.find((r) => Number(r.get('port')) === replicaPort);
        if (replica === undefined) throw new Error(`sentinel ${sentinel.port} does not know replica ${replicaPort}`);
        if (replica.get('flags') !== 'slave') throw new Error(`sentinel ${sentinel.port} sees replica ${replicaPort} as ${replica.get('flags')}`);
      }
      const others = ((await nodeCommand(sentinel.port, 'SENTINEL', 'SENTINELS', masterName)) as unknown[]).length;
      if (others !== sentinelCount - 1) throw new Error(`sentinel ${sentinel.port} knows ${others} of ${sentinelCount - 1} other sentinels`);
    }
  };

  /** Throws unless `masterPort` answers ROLE master and every other running data node replicates from it with its link up. */
  const nodesFollow = async (masterPort: number): Promise<void> => {
    if ((await roleOf(masterPort)).role !== 'master') throw new Error(`${masterPort} does not answer ROLE master`);
    for (const port of liveDataPorts().filter((p) => p !== masterPort)) {
      const role = await roleOf(port);
      if (role.role !== 'slave' || role.masterPort !== masterPort || role.linkState !== 'connected') {
        throw new Error(`${port} does not replicate from ${masterPort} with its link up: ROLE ${JSON.stringify(role)}`);
      }
    }
  };

  const settledOn = async (masterPort: number): Promise<void> => {
    await nodesFollow(masterPort);
    await sentinelsAgree(masterPort);
  };

  try {
    const master = await startRedisServer(root, baseServerArgs, options.ports?.[0]);
    dataNodes.set(master.port, master);
    for (let i = 0; i < replicaCount; i++) {
      const replica = await startRedisServer(root, replicaArgs(master.port), options.ports?.[1 + i]);
      dataNodes.set(replica.port, replica);
    }
    // Sentinels started after the replicas are in sync find them in the master's first INFO, not 10 s later.
    await waitUntil('the replicas to sync', () => nodesFollow(master.port), SETTLE_TIMEOUT_MS);
    for (let i = 0; i < sentinelCount; i++) {
      const sentinel = await startRedisServer(root, (port, dir) => {
        // Sentinel rewrites its config file as it learns: it lives in the Sentinel's own directory.
        const configFile = join(dir, 'sentinel.conf');
        writeFileSync(
          configFile,
          [
            `port ${port}`,
            `bind ${HOST}`,
            `dir ${dir}`,
            `logfile ${join(dir, 'redis.log')}`,
            `sentinel monitor ${masterName} ${HOST} ${master.port} ${quorum}`,
            `sentinel down-after-milliseconds ${masterName} ${DOWN_AFTER_MS}`,
            `sentinel failover-timeout ${masterName} ${FAILOVER_TIMEOUT_MS}`,
            `sentinel parallel-syncs ${masterName} 1`,
            '',
          ].join('\n'),
        );
        return [configFile, '--sentinel'];
      }, options.ports?.[1 + replicaCount + i]);
      sentinels.push(sentinel);
    }
    await waitUntil('the sentinels to see the master, its replicas and each other', () => sentinelsAgree(master.port), SETTLE_TIMEOUT_MS);
  } catch (error) {
    await stop();
    throw error;
  }

  const master = async (): Promise<RedisAddress> => {
    const sentinel = sentinels[0];
    if (sentinel === undefined) throw new Error('no sentinel');
    const [host, port] = (await nodeCommand(sentinel.port, 'SENTINEL', 'GET-MASTER-ADDR-BY-NAME', masterName)) as [string, string];
    return { host, port: Number(port) };
  };

  /** Waits until every Sentinel names a master other than `from`, and everything has settled on it. */
  const newMasterAfter = async (from: number, what: string): Promise<MasterChange> => {
    const to = await waitUntil(
      what,
      async () => {
        const { port } = await master();
        if (port === from) throw new Error(`the sentinels still name ${from}`);
        await settledOn(port);
        return port;
      },
      SETTLE_TIMEOUT_MS,
    );
    return { from, to };
  };

  return {
    sentinels: sentinels.map(({ host, port }) => ({ host, port })),
    sentinelsEnv: sentinels.map(({ host, port }) => `${host}:${port}`).join(','),
    masterName,
    master,

    async nodes() {
      const nodes: SentinelDataNode[] = [];
      for (const port of liveDataPorts().sort((a, b) => a - b)) {
        nodes.push({ host: HOST, port, role: (await roleOf(port)).role === 'master' ? 'master' : 'replica' });
      }
      return nodes;
    },

    async failover() {
      const from = (await master()).port;
      const sentinel = sentinels[0];
      if (sentinel === undefined) throw new Error('no sentinel');
      // -NOGOODSLAVE while the sentinel has not yet checked a replica since the last change: ask again.
      // -INPROG: an earlier ask whose reply was lost did start it.
      await waitUntil(
        `sentinel ${sentinel.port} to accept SENTINEL FAILOVER`,
        () =>
          nodeCommand(sentinel.port, 'SENTINEL', 'FAILOVER', masterName).catch((error: unknown) => {
            if (!(error instanceof Error && error.message.startsWith('INPROG'))) throw error;
          }),
        SETTLE_TIMEOUT_MS,
      );
      return newMasterAfter(from, `the sentinels to fail ${from} over`);
    },

    async crashMaster() {
      const from = (await master()).port;
      const node = dataNodes.get(from);
      if (node === undefined) throw new Error(`the master on port ${from} was not started here`);
      await node.kill();
      return newMasterAfter(from, `the sentinels to replace crashed master ${from}`);
    },

    async restart(port) {
      const node = dataNodes.get(port);
      if (node === undefined) throw new Error(`no node on port ${port} was started here`);
      if (node.running) throw new Error(`the node on port ${port} is running`);
      const current = (await master()).port;
      dataNodes.set(port, await startRedisServer(root, replicaArgs(current), port));
      await waitUntil(`${port} to rejoin as a replica of ${current}`, () => settledOn(current), SETTLE_TIMEOUT_MS);
    },

    stop,
  };
}
