/**
 * Redis restarts (AOF on) under a running Herald with deliveries queued: the
 * API answers 503 within a second while Redis is away (never hangs) and
 * /readyz reports it; Herald reconnects by itself; every acknowledged update
 * — including the one acknowledged just before Redis died — reaches every
 * target afterwards, in order.
 *
 * The Redis here is one this test starts, kills and starts again on the same
 * port and data directory: the run's shared Redis is never disturbed.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { freePort } from '../support/global-redis.js';
import { killAllChildren, processEnv, spawnHerald } from '../support/process.js';
import { eventually, testEnv } from '../support/stack.js';
import {
  httpApi,
  killOwnChildren,
  sleep,
  startAofRedis,
  startFakes,
  updatesInArrivalOrder,
  webhookTargets,
  type DeliveryView,
  type Fakes,
} from './support.js';

/** "Within a second" (contract §3), plus scheduling slack on a loaded two-core CI machine. */
const ANSWER_WITHIN_MS = 1200;
const WEBHOOK_TARGETS = 12;
/** Of which these answer their first request only after this long: in flight when Redis dies. */
const SLOW_TARGETS = 4;
const SLOW_ANSWER_MS = 1500;
const RECIPIENTS = ['ops@partner.example', 'cto@other.example', 'noc@third.example'];

let fakes: Fakes | undefined;
let dir: string | undefined;
afterEach(async () => {
  await killAllChildren();
  await killOwnChildren();
  await fakes?.close();
  fakes = undefined;
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  dir = undefined;
});

describe('given a Herald with deliveries queued, when its Redis (AOF on) is killed and restarted', () => {
  it('answers 503 fast while Redis is away, reconnects by itself, and delivers every acknowledged update', async () => {
    dir = mkdtempSync(join(tmpdir(), 'herald-faults-aof-'));
    const redisPort = await freePort();
    let redis = await startAofRedis(redisPort, dir);
    fakes = await startFakes();
    const { hooks, smtp } = fakes;
    const env = testEnv(fakes, {
      REDIS_URL: redis.url,
      PORT: String(await freePort()),
      HERALD_RETRY_BASE_DELAY_MS: '1000',
      HERALD_RETRY_MAX_ATTEMPTS: '10',
      LOG_LEVEL: 'info',
    });
    const herald = spawnHerald(processEnv(env));
    const api = httpApi(await herald.listening(30_000));

    // Most targets fail their first attempt, so the first update's deliveries
    // sit in the queue as scheduled retries when Redis goes away; the slow
    // ones are still sending then, and answer while Redis is down.
    const targets = webhookTargets(hooks, 'blog', WEBHOOK_TARGETS);
    const slow = new Set(targets.slice(0, SLOW_TARGETS).map((t) => t.path));
    for (const t of targets) {
      if (!slow.has(t.path)) {
        hooks.respond(t.path, [503, 200]);
        continue;
      }
      let answered = 0;
      hooks.respond(t.path, async () => {
        answered += 1;
        if (answered === 1) await sleep(SLOW_ANSWER_MS);
        return 200;
      });
    }
    smtp.failNext(451, RECIPIENTS.length);
    const audience = await api.call('PUT', '/v1/audiences/partners', {
      email: { recipients: RECIPIENTS },
      webhooks: targets.map(({ url, secret }) => ({ url, secret })),
    });
    expect(audience.status, audience.text).toBe(200);

    const opened = await api.call('POST', '/v1/incidents', {
      title: 'Payments delayed',
      severity: 'major',
      message: 'Card payments are delayed.',
      audiences: ['partners'],
    });
    expect(opened.status, opened.text).toBe(201);
    const { incident, update: first } = opened.json<{ incident: { id: string }; update: { id: string } }>();
    await hooks.waitFor({ count: WEBHOOK_TARGETS - SLOW_TARGETS, where: (r) => r.answer === 503 }, 10_000);
    // The receiver records a request once its answer is decided: the slow ones are not recorded yet.
    expect(hooks.received().filter((r) => slow.has(r.path))).toHaveLength(0);

    // Acknowledged, then Redis dies at once: its broadcast may not even have started.
    const second = await api.call('POST', `/v1/incidents/${incident.id}/updates`, { message: 'A fix is being deployed.', status: 'identified' });
    expect(second.status, second.text).toBe(201);
    const secondId = second.json<{ update: { id: string } }>().update.id;
    await redis.kill();

    const downUntil = Date.now() + 2500;
    let rounds = 0;
    while (Date.now() < downUntil || rounds < 3) {
      const ready = await api.call('GET', '/readyz');
      expect(ready.status, ready.text).toBe(503);
      expect(ready.ms, '/readyz while Redis is away').toBeLessThan(ANSWER_WITHIN_MS);
      const write = await api.call('POST', `/v1/incidents/${incident.id}/updates`, { message: 'never acknowledged' });
      expect(write.status, write.text).toBe(503);
      expect(write.ms, 'a write while Redis is away').toBeLessThan(ANSWER_WITHIN_MS);
      const read = await api.call('GET', `/v1/incidents/${incident.id}`);
      expect(read.status, read.text).toBe(503);
      expect(read.ms, 'a read while Redis is away').toBeLessThan(ANSWER_WITHIN_MS);
      expect((await api.call('GET', '/healthz')).status).toBe(200);
      rounds += 1;
      await sleep(200);
    }

    redis = await startAofRedis(redisPort, dir);
    const restartedAt = Date.now();
    // Herald was not restarted: it reconnects by itself.
    await eventually(async () => (await api.call('GET', '/readyz')).status === 200, 10_000, '/readyz 200 after Redis is back');
    expect(Date.now() - restartedAt).toBeLessThan(10_000);
    expect(herald.child.exitCode).toBeNull();

    const third = await api.call('POST', `/v1/incidents/${incident.id}/updates`, { message: 'Payments are flowing again.', status: 'monitoring' });
    expect(third.status, third.text).toBe(201);
    const thirdId = third.json<{ update: { id: string } }>().update.id;
    const expected = [first.id, secondId, thirdId];

    // Nothing acknowledged was lost, nothing refused was stored.
    const stored = await api.call('GET', `/v1/incidents/${incident.id}`);
    expect(stored.json<{ updates: Array<{ id: string }> }>().updates.map((u) => u.id)).toEqual(expected);

    const expectedCount = 3 * (WEBHOOK_TARGETS + RECIPIENTS.length);
    let deliveries: DeliveryView[] = [];
    const settleBy = Date.now() + 30_000;
    for (;;) {
      const res = await api.call('GET', `/v1/incidents/${incident.id}/deliveries`);
      if (res.status === 200) deliveries = res.json<{ deliveries: DeliveryView[] }>().deliveries;
      if (deliveries.length === expectedCount && deliveries.every((d) => d.state === 'sent')) break;
      if (Date.now() > settleBy) {
        const stuck = deliveries.filter((d) => d.state !== 'sent').map((d) => `  ${d.updateId} ${d.channel} ${d.target}: ${d.state}, ${d.attempts} attempt(s), ${d.error ?? ''}`);
        const problems = herald.logs().filter((l) => l.level >= 40).map((l) => `  ${JSON.stringify(l)}`);
        throw new Error(
          `not every delivery sent 30 s after Redis came back: ${deliveries.length} of ${expectedCount} recorded, not sent:\n` +
            `${stuck.join('\n')}\nHerald's warnings and errors:\n${problems.join('\n')}`,
        );
      }
      await sleep(100);
    }

    // On the wire: every webhook target got the three updates in order, a re-send only under the same id.
    for (const t of targets) {
      const got = hooks.received(t.path);
      expect(updatesInArrivalOrder(got), t.path).toEqual(expected);
      for (const r of got) expect(r.signatureValid, r.verification).toBe(true);
    }
    const updateByMessageId = new Map(deliveries.filter((d) => d.channel === 'email').map((d) => [d.providerRef, d.updateId]));
    for (const address of RECIPIENTS) {
      const order: string[] = [];
      for (const m of smtp.for(address)) {
        const updateId = updateByMessageId.get(m.messageId);
        expect(updateId, `${address} got a Message-ID Herald did not record: ${m.messageId}`).toBeDefined();
        if (!order.includes(updateId!)) order.push(updateId!);
      }
      expect(order, address).toEqual(expected);
    }
  }, 90_000);
});
