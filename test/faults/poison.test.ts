/**
 * No single record, update or job may block the others. Records Herald
 * cannot decode are written straight into Redis, as a bug, a partial write
 * or an old version of Herald could leave them:
 *
 * - a delivery record of one webhook target among several: its batch-mates
 *   are sent, it goes `dead` with the reason, the commander is alerted, and
 *   the incident's next update reaches every target, that one included;
 * - an update record: after a bounded number of tries its broadcast is given
 *   up, the commander is alerted, and the incident's later updates (here its
 *   resolution) still go out, in order.
 */
import type { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startHerald, type RunningHerald } from '../../src/herald.js';
import { createLogger } from '../../src/logger.js';
import { eventually, startStack, type Stack } from '../support/stack.js';
import { deliveryId } from '../../src/domain/delivery.js';
import { decodeDelivery } from '../../src/store/delivery-record.js';
import { keysFor } from '../../src/store/keys.js';
import { created, queued, settledDeliveries, startStackWithWebhookQueue, stopStackWithWebhookQueue, updateIdOf, webhookTargets } from './support.js';

const COMMANDER = { name: 'Dana', email: 'dana@corp.example', slackUserId: 'U0DANA' };
/** Few, quick tries: a job that cannot succeed is given up within a second or so. */
const JOB_RETRY = { HERALD_JOB_MAX_ATTEMPTS: '3', HERALD_JOB_BASE_DELAY_MS: '100' };
const WAIT_MS = 20_000;

describe('given a delivery record Herald cannot decode, among its batch-mates', () => {
  let stack: Stack;
  let redis: Redis;
  let webhookQueue: Queue;

  beforeAll(async () => {
    ({ stack, redis, webhookQueue } = await startStackWithWebhookQueue({ env: JOB_RETRY }));
  });

  afterAll(() => stopStackWithWebhookQueue({ stack, redis, webhookQueue }));

  it('the others are sent, it is dead with the reason, the commander is alerted, and the next update reaches everyone', async () => {
    const { hooks, slack, smtp } = stack;
    const prefix = stack.config.prefix;
    const targets = webhookTargets(hooks, 'poison', 5);
    const audience = await stack.api('PUT', '/v1/audiences/partners', { webhooks: targets.map(({ url, secret }) => ({ url, secret })) });
    expect(audience.statusCode, audience.body).toBe(200);

    // Hold the webhook channel (its queue paused) until the records are tampered with.
    await webhookQueue.pause();
    const opened = created(
      await stack.api('POST', '/v1/incidents', {
        title: 'Checkout errors',
        severity: 'major',
        status: 'investigating',
        message: 'Some checkouts fail.',
        components: ['checkout'],
        audiences: ['partners'],
        commander: COMMANDER,
      }),
    );
    const incidentId = opened.incident.id;
    const deliveriesKey = keysFor(prefix).deliveries(incidentId, opened.update.id, 'webhook');
    await eventually(async () => (await redis.hlen(deliveriesKey)) === 5 && (await queued(webhookQueue)) > 0, WAIT_MS, 'the fan-out, held back');

    const [garbled, unknown, ...healthy] = targets as [(typeof targets)[0], (typeof targets)[0], ...typeof targets];
    // Half a record, as a partial write leaves it (the scripts read its state,
    // Herald's code cannot read the rest); and one in a state no script knows.
    const record = (await redis.hget(deliveriesKey, garbled.url))!;
    await redis.hset(deliveriesKey, garbled.url, record.slice(0, record.length - 3));
    await redis.hset(deliveriesKey, unknown.url, `z${(await redis.hget(deliveriesKey, unknown.url))!.slice(1)}`);
    const garbledId = deliveryId(opened.update.id, 'webhook', garbled.url);
    const unknownId = deliveryId(opened.update.id, 'webhook', unknown.url);

    await webhookQueue.resume();

    for (const { path } of healthy) await hooks.waitFor({ path }, WAIT_MS);
    const list = await settledDeliveries(stack, incidentId, { updateId: opened.update.id, count: 5, timeoutMs: WAIT_MS });
    for (const { url } of healthy) expect(list.find((d) => d.target === url)).toMatchObject({ state: 'sent' });
    for (const id of [garbledId, unknownId]) {
      const dead = list.find((d) => d.id === id);
      expect(dead).toMatchObject({ state: 'dead' });
      expect(dead!.error).toMatch(/^undecodable delivery record: /);
    }
    expect(hooks.received(garbled.path)).toHaveLength(0);
    expect(hooks.received(unknown.path)).toHaveLength(0);

    // The commander hears of it, by Slack DM and by email.
    await slack.waitFor((fake) => fake.posts(COMMANDER.slackUserId).length > 0, WAIT_MS);
    expect(slack.posts(COMMANDER.slackUserId)[0]!.text).toMatch(/undecodable delivery record/);
    await smtp.waitFor({ to: COMMANDER.email }, WAIT_MS);

    // The targets' lanes moved on: the next update reaches all five, signed.
    const next = created(await stack.api('POST', `/v1/incidents/${incidentId}/updates`, { message: 'A fix is rolling out.', status: 'identified' }));
    for (const { path } of targets) {
      await hooks.waitFor({ path, where: (r) => updateIdOf(r) === next.update.id }, WAIT_MS);
    }
    expect(hooks.received().every((r) => r.signatureValid)).toBe(true);
  }, 60_000);

  it('a delivery job that keeps failing (its update became unreadable after the fan-out) is given up: dead, alerted, and the next update goes out', async () => {
    const { hooks, slack } = stack;
    const prefix = stack.config.prefix;
    const commander = { name: 'Sam', email: 'sam@corp.example', slackUserId: 'U0SAM' };
    const targets = webhookTargets(hooks, 'stuck', 2);
    const audience = await stack.api('PUT', '/v1/audiences/stuck', { webhooks: targets.map(({ url, secret }) => ({ url, secret })) });
    expect(audience.statusCode, audience.body).toBe(200);
    const opened = created(
      await stack.api('POST', '/v1/incidents', {
        title: 'Exports stuck',
        severity: 'minor',
        status: 'investigating',
        message: 'Exports are not starting.',
        components: ['exports'],
        audiences: ['stuck'],
        commander,
      }),
    );
    const incidentId = opened.incident.id;
    for (const { path } of targets) await hooks.waitFor({ path }, WAIT_MS);

    await webhookQueue.pause();
    const second = created(await stack.api('POST', `/v1/incidents/${incidentId}/updates`, { message: 'Exports restart slowly.' }));
    await eventually(
      async () => (await redis.hlen(keysFor(prefix).deliveries(incidentId, second.update.id, 'webhook'))) === 2 && (await queued(webhookQueue)) > 0,
      WAIT_MS,
      'the fan-out, held back',
    );
    const updatesKey = `${prefix}:incident:${incidentId}:updates`;
    const stored = (await redis.lindex(updatesKey, 1))!;
    await redis.lset(updatesKey, 1, stored.slice(0, stored.indexOf(second.update.id) + second.update.id.length + 10));
    await webhookQueue.resume();

    // Read from Redis: the API lists deliveries by the incident's readable updates.
    const deliveriesKey = keysFor(prefix).deliveries(incidentId, second.update.id, 'webhook');
    const place = { incidentId, updateId: second.update.id, channel: 'webhook' as const };
    const records = await eventually(async () => {
      const all = Object.entries(await redis.hgetall(deliveriesKey)).map(([key, value]) => decodeDelivery(place, key, value)!.record);
      return all.length === 2 && all.every((d) => d.state === 'dead') ? all : undefined;
    }, WAIT_MS, 'the deliveries of the unreadable update to be given up');
    for (const d of records) expect(d.error).toMatch(/^gave up: .*cannot be read/);
    await slack.waitFor((fake) => fake.posts(commander.slackUserId).length > 0, WAIT_MS);
    expect(slack.posts(commander.slackUserId)[0]!.text).toMatch(/gave up/);

    const third = created(await stack.api('POST', `/v1/incidents/${incidentId}/updates`, { message: 'Exports run again.', status: 'monitoring' }));
    for (const { path } of targets) await hooks.waitFor({ path, where: (r) => updateIdOf(r) === third.update.id }, WAIT_MS);
    for (const { path } of targets) expect(hooks.received(path).map(updateIdOf)).toEqual([opened.update.id, third.update.id]);
  }, 60_000);
});

describe('given an update record Herald cannot decode, between an opening and a resolution', () => {
  let stack: Stack;
  let redis: Redis;
  let workers: RunningHerald | undefined;

  beforeAll(async () => {
    // The API alone first: updates are stored and queued, and nothing reads them yet.
    stack = await startStack({ roles: ['api'], env: JOB_RETRY });
    redis = new Redis(stack.env.REDIS_URL!);
  });

  afterEach(async () => {
    await workers?.stop();
  });

  afterAll(async () => {
    redis?.disconnect();
    await stack?.stop();
  });

  /**
   * Opens an incident, posts an update and the resolution while no worker
   * runs, lets `corrupt` rewrite the middle update's stored record, then
   * starts the workers and checks that the resolution still goes out.
   */
  async function poisonSecondUpdate(name: string, corrupt: (stored: string, updateId: string) => string): Promise<void> {
    const { hooks, slack, smtp } = stack;
    const commander = { name: 'Dana', email: `dana+${name}@corp.example`, slackUserId: `U0${name.toUpperCase()}` };
    const channel = `C0${name.toUpperCase()}`;
    const [target] = webhookTargets(hooks, name, 1) as [{ path: string; url: string; secret: string }];
    const audience = await stack.api('PUT', `/v1/audiences/${name}`, {
      slack: { channels: [channel] },
      webhooks: [{ url: target.url, secret: target.secret }],
    });
    expect(audience.statusCode, audience.body).toBe(200);
    const opened = created(
      await stack.api('POST', '/v1/incidents', {
        title: `Search is slow (${name})`,
        severity: 'minor',
        status: 'investigating',
        message: 'Searches take several seconds.',
        components: ['search'],
        audiences: [name],
        commander,
      }),
    );
    const incidentId = opened.incident.id;
    const poisoned = created(await stack.api('POST', `/v1/incidents/${incidentId}/updates`, { message: 'We found the slow query.' }));
    const resolved = created(await stack.api('POST', `/v1/incidents/${incidentId}/resolve`, { message: 'Search is fast again.' }));

    const updatesKey = `${stack.config.prefix}:incident:${incidentId}:updates`;
    const stored = await redis.lindex(updatesKey, 1);
    expect(stored).toContain(poisoned.update.id);
    await redis.lset(updatesKey, 1, corrupt(stored!, poisoned.update.id));

    workers = await startHerald({ config: stack.config, roles: new Set(['workers']), logger: createLogger(stack.config.logLevel) });

    // The opening and the resolution reach the webhook, in order; the poisoned update never does.
    const arrived = await hooks.waitFor({ path: target.path, count: 2 }, WAIT_MS);
    expect(arrived.map(updateIdOf)).toEqual([opened.update.id, resolved.update.id]);
    await slack.waitFor((fake) => fake.posts(channel).length >= 2, WAIT_MS);

    // The commander is told the update was given up, by Slack DM and by email.
    await slack.waitFor((fake) => fake.posts(commander.slackUserId).length > 0, WAIT_MS);
    const dm = slack.posts(commander.slackUserId)[0]!.text;
    expect(dm).toContain(`Search is slow (${name})`);
    expect(dm).toMatch(/given up/);
    expect(dm).toContain(poisoned.update.id);
    await smtp.waitFor({ to: commander.email }, WAIT_MS);

    // The incident still reads: its readable updates, resolved.
    const incident = await stack.api('GET', `/v1/incidents/${incidentId}`);
    expect(incident.statusCode, incident.body).toBe(200);
    expect(incident.json()).toMatchObject({ status: 'resolved' });
    expect(hooks.received(target.path).every((r) => r.signatureValid)).toBe(true);
  }

  it('cut short (it still names its id): its broadcast is given up after a few tries, the commander is alerted, and the resolution still goes out', async () => {
    await poisonSecondUpdate('cut', (stored, updateId) => stored.slice(0, stored.indexOf(updateId) + updateId.length + 10));
  }, 60_000);

  it('garbage naming no update: the incident goes on without it at once, and the commander is alerted after a few tries', async () => {
    await poisonSecondUpdate('garbage', () => '\u0000 not an update');
  }, 60_000);

  it('a resolution whose broadcast is given up still starts the incident’s retention: its records are not kept for good', async () => {
    const name = 'lastword';
    const [target] = webhookTargets(stack.hooks, name, 1) as [{ path: string; url: string; secret: string }];
    expect((await stack.api('PUT', `/v1/audiences/${name}`, { webhooks: [{ url: target.url, secret: target.secret }] })).statusCode).toBe(200);
    const opened = created(
      await stack.api('POST', '/v1/incidents', {
        title: 'Uploads fail',
        severity: 'minor',
        message: 'Uploads fail for some users.',
        audiences: [name],
        commander: COMMANDER,
      }),
    );
    const incidentId = opened.incident.id;
    const resolved = created(await stack.api('POST', `/v1/incidents/${incidentId}/resolve`, { message: 'Uploads work again.' }));
    const updatesKey = `${stack.config.prefix}:incident:${incidentId}:updates`;
    const stored = await redis.lindex(updatesKey, 1);
    expect(stored).toContain(resolved.update.id);
    // Cut short: it still names its id, so its broadcast is tried, fails and is given up.
    await redis.lset(updatesKey, 1, stored!.slice(0, stored!.indexOf(resolved.update.id) + resolved.update.id.length + 10));

    workers = await startHerald({ config: stack.config, roles: new Set(['workers']), logger: createLogger(stack.config.logLevel) });

    await stack.hooks.waitFor({ path: target.path, count: 1 }, WAIT_MS);
    const retentionKey = keysFor(stack.config.prefix).shards[0]!.deliveryRetention;
    const expiresAt = await eventually(async () => (await redis.zscore(retentionKey, incidentId)) ?? undefined, WAIT_MS, 'the incident scheduled for retention');
    // The resolution itself cannot be read: its records go the retention after the incident last changed.
    const incident = (await stack.api('GET', `/v1/incidents/${incidentId}`)).json() as { status: string; updatedAt: string };
    expect(incident.status).toBe('resolved');
    expect(Number(expiresAt)).toBe(Date.parse(incident.updatedAt) + stack.config.retentionSeconds * 1000);
  }, 60_000);
});
