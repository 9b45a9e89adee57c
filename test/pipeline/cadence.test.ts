/**
 * The fixed cadence, as partners and commanders experience it: a holding
 * statement whenever the promised update does not come, a reminder to the
 * commander before it is due, nothing at all once resolved.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { IncidentUpdate } from '../../src/domain/incident.js';
import { newWebhookSecret } from '../fakes/webhook-receiver.js';
import { eventually, startStack, type Stack } from '../support/stack.js';

const COMMANDER = { name: 'Dana', email: 'dana@corp.example', slackUserId: 'U0DANA' };

let stack: Stack | undefined;
afterEach(async () => {
  await stack?.stop();
  stack = undefined;
});

async function given(env: Record<string, string> = {}): Promise<Stack> {
  stack = await startStack({ env: { HERALD_REMINDER_LEAD_SECONDS: '0', ...env }, xRejectDuplicates: false });
  const secret = newWebhookSecret();
  await stack.api('PUT', '/v1/audiences/partners', {
    slack: { channels: ['C0PARTNERS'] },
    x: { enabled: true },
    email: { recipients: ['ops@partner.example'] },
    webhooks: [{ url: stack.hooks.register('/blog', secret), secret }],
  });
  return stack;
}

async function open(s: Stack, cadenceSeconds: number, extra: Record<string, unknown> = {}): Promise<string> {
  const res = await s.api('POST', '/v1/incidents', {
    title: 'Payments failing',
    severity: 'critical',
    message: 'Card payments fail for some customers.',
    cadenceSeconds,
    ...extra,
  });
  expect(res.statusCode).toBe(201);
  return res.json().incident.id as string;
}

async function updates(s: Stack, id: string): Promise<IncidentUpdate[]> {
  return (await s.api('GET', `/v1/incidents/${id}`)).json().updates as IncidentUpdate[];
}

const holdings = (list: IncidentUpdate[]) => list.filter((u) => u.kind === 'holding');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('given an open incident with a 1 s cadence and no news', () => {
  it('Herald broadcasts a holding statement when the cadence lapses, on every channel, and the clock restarts', async () => {
    const s = await given();
    const id = await open(s, 1);
    const statement = await eventually(async () => holdings(await updates(s, id))[0], 5000, 'a holding statement');
    expect(statement).toMatchObject({ seq: 2, kind: 'holding', author: 'herald', status: 'investigating' });
    // It repeats the last thing the commander said.
    expect(statement.message).toBe('Card payments fail for some customers.');
    const first = (await updates(s, id))[0]!;
    const late = Date.parse(statement.postedAt) - (Date.parse(first.postedAt) + 1000);
    expect(late).toBeGreaterThanOrEqual(0);

    const incident = (await s.api('GET', `/v1/incidents/${id}`)).json();
    expect(incident.lastBroadcastAt).toBe(incident.updates.at(-1).postedAt);
    expect(Date.parse(incident.nextUpdateDueAt)).toBe(Date.parse(incident.lastBroadcastAt) + 1000);

    const [hook] = await s.hooks.waitFor({ path: '/blog', where: (r) => (r.body as { type: string }).type === 'incident.holding' });
    expect((hook!.body as { update: { id: string } }).update.id).toBe(statement.id);
    await s.slack.waitFor(2);
    expect(s.slack.posts('C0PARTNERS')[1]!.threadTs).toBe(s.slack.posts('C0PARTNERS')[0]!.ts);
    await s.x.waitFor(2);
    await s.smtp.waitFor({ to: 'ops@partner.example', count: 2 });
  });

  it('keeps going: roughly one statement per second, never two for one due time', async () => {
    const s = await given();
    const id = await open(s, 1);
    await sleep(3600);
    const list = holdings(await updates(s, id));
    expect(list.length).toBeGreaterThanOrEqual(2);
    expect(list.length).toBeLessThanOrEqual(4);
    const times = [(await updates(s, id))[0]!, ...list].map((u) => Date.parse(u.postedAt));
    for (let i = 1; i < times.length; i++) expect(times[i]! - times[i - 1]!).toBeGreaterThanOrEqual(1000);
  });
});

describe('given a commander who posts before the cadence lapses', () => {
  it('the manual update restarts the clock: no holding statement until a full cadence after it', async () => {
    const s = await given();
    const id = await open(s, 2);
    await sleep(1200);
    const posted = await s.api('POST', `/v1/incidents/${id}/updates`, { message: 'Mitigation in progress.', status: 'identified' });
    expect(posted.statusCode).toBe(201);
    const manualAt = Date.parse(posted.json().update.postedAt);
    const statement = await eventually(async () => holdings(await updates(s, id))[0], 6000, 'a holding statement');
    expect(Date.parse(statement.postedAt) - manualAt).toBeGreaterThanOrEqual(2000);
    expect(statement.message).toBe('Mitigation in progress.');
    expect(statement.status).toBe('identified');
  });
});

describe('given a commander with Slack and email, and a reminder lead of 1 s', () => {
  it('reminds the commander — only the commander — before the update is due, then the holding statement follows', async () => {
    const s = await given({ HERALD_REMINDER_LEAD_SECONDS: '1' });
    const id = await open(s, 3, { commander: COMMANDER });
    const openedAt = Date.now();
    await s.slack.waitFor((f) => f.posts('U0DANA').length >= 1, 5000);
    const [mail] = await s.smtp.waitFor({ to: 'dana@corp.example' }, 5000);
    const dm = s.slack.posts('U0DANA')[0]!;
    // Due at +3 s, reminded 1 s before.
    expect(dm.receivedAt - openedAt).toBeGreaterThanOrEqual(1800);
    expect(dm.text).toContain(`/v1/incidents/${id}/updates`);
    expect(mail!.text).toContain('curl');
    expect(mail!.subject).toMatch(/Payments failing/);
    // Partners never see the reminder.
    expect(s.smtp.for('ops@partner.example').every((m) => !/curl/.test(m.text))).toBe(true);
    expect(s.slack.posts('C0PARTNERS').every((p) => !p.text.includes('/updates'))).toBe(true);
    await eventually(async () => holdings(await updates(s, id))[0], 5000, 'the holding statement after the reminder');
    // One reminder per due time.
    expect(s.slack.posts('U0DANA')).toHaveLength(1);
  });

  it('an update posted before the reminder cancels it', async () => {
    const s = await given({ HERALD_REMINDER_LEAD_SECONDS: '1' });
    const id = await open(s, 3, { commander: COMMANDER });
    await sleep(1000);
    // Due moves to +4 s from now; its reminder would come at +3 s: stop before then.
    await s.api('POST', `/v1/incidents/${id}/updates`, { message: 'Rolling back.' });
    await sleep(1800);
    expect(s.slack.posts('U0DANA')).toHaveLength(0);
    expect(s.smtp.for('dana@corp.example')).toHaveLength(0);
  });
});

describe('given a resolved incident', () => {
  it('nothing more goes out: no holding statement, no reminder', async () => {
    const s = await given({ HERALD_REMINDER_LEAD_SECONDS: '1' });
    const id = await open(s, 2, { commander: COMMANDER });
    const resolved = await s.api('POST', `/v1/incidents/${id}/resolve`, { message: 'All good.' });
    expect(resolved.statusCode).toBe(201);
    await s.hooks.waitFor({ path: '/blog', count: 2 });
    await sleep(3000);
    expect((await updates(s, id)).map((u) => u.kind)).toEqual(['opened', 'resolved']);
    expect(s.hooks.received('/blog')).toHaveLength(2);
    expect(s.slack.posts('U0DANA')).toHaveLength(0);
    const incident = (await s.api('GET', `/v1/incidents/${id}`)).json();
    expect(incident.nextUpdateDueAt).toBeNull();
  });
});

describe('given a PATCH of the cadence', () => {
  it('reschedules at once: from 1 hour to 1 s, a statement follows within about a second', async () => {
    const s = await given();
    const id = await open(s, 3600);
    const patched = await s.api('PATCH', `/v1/incidents/${id}`, { cadenceSeconds: 1 });
    expect(patched.statusCode).toBe(200);
    expect(patched.json().cadenceSeconds).toBe(1);
    // Due at last broadcast + 1 s, which is already (nearly) past.
    const statement = await eventually(async () => holdings(await updates(s, id))[0], 3000, 'a holding statement');
    expect(statement.author).toBe('herald');
  });
});
