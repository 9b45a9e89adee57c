/**
 * A Redis Cluster or a Sentinel setup on this machine, from the installed
 * `redis-server`, to run Herald against (README, "Beyond one Redis"):
 *
 *   npm run redis:cluster    3 masters + 3 replicas on ports 7001–7006
 *   npm run redis:sentinel   a master on 6380, replicas on 6381–6382, Sentinels on 26380–26382
 *
 * It prints the variables to start Herald with and keeps running until
 * Ctrl-C, then stops every node and removes their data. The same code
 * starts the topologies Herald's tests fail over (test/support).
 */
import { startRedisCluster } from '../test/support/redis-cluster.js';
import { startRedisSentinel } from '../test/support/redis-sentinel.js';

const kind = process.argv[2];

async function main(): Promise<void> {
  let stop: () => Promise<void>;
  if (kind === 'cluster') {
    const cluster = await startRedisCluster({ masters: 3, replicasPerMaster: 1, ports: [7001, 7002, 7003, 7004, 7005, 7006] });
    stop = () => cluster.stop();
    const masters = await cluster.masters();
    console.log(`A Redis Cluster runs: masters on ${masters.map((m) => m.port).join(', ')}, each with a replica.`);
    console.log(`Start Herald on it:\n\n  REDIS_CLUSTER_NODES=${cluster.nodesEnv} npm start\n`);
    console.log('Its keys on every master: redis-cli -p 7001 --cluster call 127.0.0.1:7001 DBSIZE');
  } else if (kind === 'sentinel') {
    const sentinel = await startRedisSentinel({ replicas: 2, sentinels: 3, ports: [6380, 6381, 6382, 26380, 26381, 26382] });
    stop = () => sentinel.stop();
    const master = await sentinel.master();
    console.log(`A master on ${master.port} runs, with 2 replicas and 3 Sentinels watching it as "${sentinel.masterName}".`);
    console.log(`Start Herald on it:\n\n  REDIS_SENTINELS=${sentinel.sentinelsEnv} REDIS_SENTINEL_MASTER=${sentinel.masterName} npm start\n`);
    console.log(`Fail it over: redis-cli -p 26380 SENTINEL FAILOVER ${sentinel.masterName}`);
  } else {
    console.error('usage: node --import tsx scripts/local-redis.ts cluster|sentinel');
    process.exit(2);
  }
  console.log('Ctrl-C stops it and removes its data.');
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  await stop();
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
