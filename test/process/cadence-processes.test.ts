/**
 * The cadence with real worker processes: two of them never send one holding
 * statement twice, and after every process was down for several cadences an
 * overdue incident gets ONE statement, then its cadence resumes.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { IncidentUpdate } from '../../src/domain/incident.js';
import { newWebhookSecret } from '../fakes/webhook-receiver.js';
import { killAllChildren, processEnv, spawnHerald, type HeraldProcess } from '../support/process.js';
import { eventually, startStack, type Stack } from '../support/stack.js';

let stack: Stack | undefined;
afterEach(async () => {
  await killAllChildren();
  await stack?.stop();
  stack = undefined;
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The API in this process; the workers only in the processes each test starts. */
async function apiOnly(): Promise<Stack> {
  stack = await startStack({ roles: ['api'], xRejectDuplicates: false, env: { HERALD_REMINDER_LEAD_SECONDS: '0' } });
  const secret = newWebhookSecret();
  await stack.api('PUT', '/v1/audiences/partners', { webhooks: [{ url: stack.hooks.register('/blog', secret), secret }] });
  return stack;
}

async function workers(s: Stack): Promise<HeraldProcess> {
  const child = spawnHerald(processEnv({ ...s.env, LOG_LEVEL: 'info' }), ['--role', 'workers']);
  await child.waitForLog(/^Herald workers running/, 60_000);
  return child;
}

async function open(s: Stack, title: string, cadenceSeconds: number): Promise<string> {
  const res = await s.api('POST', '/v1/incidents', { title, severity: 'major', message: `${title} is down`, cadenceSeconds });
  expect(res.statusCode).toBe(201);
  return res.json().incident.id as string;
}

async function updatesOf(s: Stack, id: string): Promise<IncidentUpdate[]> {
  return (await s.api('GET', `/v1/incidents/${id}`)).json().updates as IncidentUpdate[];
}

describe('given two worker processes keeping the cadence of the same incidents', () => {
  it('each holding statement is posted once and reaches the receiver once', async () => {
    const s = await apiOnly();
    await Promise.all([workers(s), workers(s)]);
    const ids = await Promise.all(['Search', 'Billing', 'Login'].map((t) => open(s, t, 1)));
    await sleep(4500);
    let statements = 0;
    for (const id of ids) {
      const list = await updatesOf(s, id);
      const times = list.map((u) => Date.parse(u.postedAt));
      // Never two broadcasts closer than the cadence: a duplicate would be.
      for (let i = 1; i < times.length; i++) expect(times[i]! - times[i - 1]!).toBeGreaterThanOrEqual(1000);
      const holding = list.filter((u) => u.kind === 'holding');
      expect(holding.length).toBeGreaterThanOrEqual(3);
      statements += holding.length;
    }
    // Every update reached the receiver exactly once (one webhook-id, one update id each).
    await eventually(() => s.hooks.received('/blog').length >= statements + ids.length || undefined, 5000, 'every update delivered');
    const received = s.hooks.received('/blog');
    const updateIds = received.map((r) => (r.body as { update: { id: string } }).update.id);
    expect(new Set(updateIds).size).toBe(updateIds.length);
    expect(new Set(received.map((r) => r.webhookId)).size).toBe(received.length);
  });
});

describe('given every worker process down for several cadences', () => {
  it('on restart the overdue incident gets ONE holding statement at once, then its cadence resumes', async () => {
    const s = await apiOnly();
    const first = await workers(s);
    const id = await open(s, 'Storage', 1);
    await eventually(async () => (await updatesOf(s, id)).some((u) => u.kind === 'holding') || undefined, 5000, 'a first statement');
    await first.kill();
    const before = (await updatesOf(s, id)).length;
    await sleep(3500);
    expect((await updatesOf(s, id)).length).toBe(before);

    const restartedAt = Date.now();
    await workers(s);
    const caughtUp = await eventually(async () => {
      const list = await updatesOf(s, id);
      return list.length > before ? list : undefined;
    }, 5000, 'the catch-up statement');
    const catchUp = caughtUp[before]!;
    expect(catchUp.kind).toBe('holding');
    expect(Date.parse(catchUp.postedAt)).toBeGreaterThanOrEqual(restartedAt);
    // Not one per missed period: a second statement only a full cadence later.
    await sleep(2500);
    const after = (await updatesOf(s, id)).slice(before);
    const times = after.map((u) => Date.parse(u.postedAt));
    for (let i = 1; i < times.length; i++) expect(times[i]! - times[i - 1]!).toBeGreaterThanOrEqual(1000);
    expect(after.length).toBeLessThanOrEqual(4);
  });
});
