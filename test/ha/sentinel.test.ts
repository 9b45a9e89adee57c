/**
 * Herald on a master that Sentinels watch (REDIS_SENTINELS), as two
 * processes — one serving the API and working, one only working — while the
 * master is failed over by force and then crashes. What must hold: Herald
 * follows the master by itself, with no restart; a write answers 503 (never
 * 500) while no master takes it; every update acknowledged with 201 is
 * stored and reaches every target, in order, a re-send only under its first
 * id; and /readyz says 200 again once a master takes writes.
 *
 * The Sentinel setup (a master, two replicas, three Sentinels) is this
 * test's own; the run's shared Redis is not touched.
 */
import { afterAll, beforeAll, describe, expect, it, onTestFailed } from 'vitest';
import { freePort } from '../support/global-redis.js';
import { killAllChildren, type HeraldProcess } from '../support/process.js';
import { startRedisSentinel, type RedisSentinelHandle } from '../support/redis-sentinel.js';
import { testEnv } from '../support/stack.js';
import { killOwnChildren, startFakes, webhookTargets, type Fakes, type HttpApi } from '../faults/support.js';
import { expectCarriedOn, expectEveryUpdateEverywhere, expectNoErrorLogged, printWarnings, startHeraldPair, UpdateWriter, watchReadiness } from './support.js';

const TARGETS = 6;

let sentinel: RedisSentinelHandle | undefined;
let fakes: Fakes | undefined;
let herald: HeraldProcess | undefined;
let workers: HeraldProcess | undefined;
let api: HttpApi;

beforeAll(async () => {
  [sentinel, fakes] = await Promise.all([startRedisSentinel({ replicas: 2, sentinels: 3 }), startFakes()]);
  const env = testEnv(fakes, {
    REDIS_SENTINELS: sentinel.sentinelsEnv,
    REDIS_SENTINEL_MASTER: sentinel.masterName,
    PORT: String(await freePort()),
    HERALD_RETRY_BASE_DELAY_MS: '500',
    // A job that found no master (or no replica to confirm) is tried again soon.
    HERALD_JOB_BASE_DELAY_MS: '200',
    LOG_LEVEL: 'info',
  });
  ({ herald, workers, api } = await startHeraldPair(env));
}, 120_000);

afterAll(async () => {
  await killAllChildren();
  await killOwnChildren();
  await fakes?.close();
  await sentinel?.stop();
});

describe('Herald on a Sentinel-watched master', () => {
  it('follows the master through a forced failover and a crash, losing nothing it acknowledged', async () => {
    onTestFailed(() => printWarnings(herald, workers));
    const { hooks } = fakes!;
    const targets = webhookTargets(hooks, 'sentinel', TARGETS);
    const audience = await api.call('PUT', '/v1/audiences/partners', { webhooks: targets.map(({ url, secret }) => ({ url, secret })) });
    expect(audience.status, audience.text).toBe(200);
    const opened = await api.call('POST', '/v1/incidents', {
      title: 'Checkout errors',
      severity: 'major',
      message: 'Checkout fails for some customers.',
      audiences: ['partners'],
    });
    expect(opened.status, opened.text).toBe(201);
    const { incident, update: first } = opened.json<{ incident: { id: string }; update: { id: string } }>();

    const readiness = watchReadiness(api);
    const writer = new UpdateWriter(api, incident.id, 'sentinel');
    for (let i = 0; i < 3; i++) await writer.post();

    const { from, to } = await (async () => {
      let change: { from: number; to: number } | undefined;
      await writer.throughout(sentinel!.failover().then((c) => (change = c)));
      return change!;
    })();
    expect(to).not.toBe(from);
    // The Sentinels' new master has what Herald acknowledged before and during the switch.
    await writer.throughout(sentinel!.crashMaster());
    await readiness.stop();

    await expectCarriedOn(writer.statuses, readiness.statuses, api, [herald!, workers!]);

    await expectEveryUpdateEverywhere(api, hooks, incident.id, targets.map((t) => t.path), [first.id, ...writer.acknowledged], writer.unacknowledgedTries);
    expectNoErrorLogged([herald!, workers!]);
  }, 240_000);
});
