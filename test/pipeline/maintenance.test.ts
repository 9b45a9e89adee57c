/**
 * Scheduled maintenance, on a compressed clock: announced at once, reminded
 * at its lead time, started and completed on time — one thread per target;
 * a reschedule moves the timeline (the old times never fire); a cancel is
 * announced once and silences it.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { IncidentUpdate } from '../../src/domain/incident.js';
import { newWebhookSecret } from '../fakes/webhook-receiver.js';
import { eventually, startStack, type Stack } from '../support/stack.js';

let stack: Stack | undefined;
afterEach(async () => {
  await stack?.stop();
  stack = undefined;
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const at = (msFromNow: number) => new Date(Date.now() + msFromNow).toISOString();
const typeOf = (body: unknown) => (body as { type: string }).type;

async function given(): Promise<Stack> {
  stack = await startStack({ xRejectDuplicates: false });
  const secret = newWebhookSecret();
  await stack.api('PUT', '/v1/audiences/partners', {
    slack: { channels: ['C0MAINT'] },
    x: { enabled: true },
    email: { recipients: ['ops@partner.example'] },
    webhooks: [{ url: stack.hooks.register('/blog', secret), secret }],
    components: ['database'],
  });
  return stack;
}

async function schedule(s: Stack, body: Record<string, unknown>): Promise<string> {
  const res = await s.api('POST', '/v1/maintenances', {
    title: 'Database upgrade',
    message: 'We are upgrading the primary database; writes pause for up to a minute.',
    components: ['database'],
    ...body,
  });
  expect(res.statusCode, res.body).toBe(201);
  return res.json().maintenance.id as string;
}

async function kinds(s: Stack, id: string): Promise<string[]> {
  return ((await s.api('GET', `/v1/maintenances/${id}`)).json().updates as IncidentUpdate[]).map((u) => u.kind);
}

describe('given a maintenance from +3 s to +5 s, reminded 2 s before', () => {
  it('announces, reminds, starts and completes on time, as one conversation per target', async () => {
    const s = await given();
    const created = Date.now();
    const id = await schedule(s, { startsAt: at(3000), endsAt: at(5000), remindBeforeSeconds: [2] });
    expect((await s.api('GET', `/v1/maintenances/${id}`)).json()).toMatchObject({ status: 'scheduled', audiences: ['partners'] });

    const events = await s.hooks.waitFor({ path: '/blog', count: 4 }, 10_000);
    expect(events.map((e) => typeOf(e.body))).toEqual([
      'maintenance.scheduled',
      'maintenance.reminder',
      'maintenance.started',
      'maintenance.completed',
    ]);
    // On time: reminder at +1 s, start at +3 s, completion at +5 s (each within a second).
    const offsets = events.map((e) => e.receivedAt - created);
    expect(offsets[1]).toBeGreaterThanOrEqual(900);
    expect(offsets[2]).toBeGreaterThanOrEqual(2900);
    expect(offsets[3]).toBeGreaterThanOrEqual(4900);
    const body = events[2]!.body as { maintenance: { id: string; startsAt: string; status: string } };
    expect(body.maintenance).toMatchObject({ id, status: 'in_progress' });

    const maintenance = (await s.api('GET', `/v1/maintenances/${id}`)).json();
    expect(maintenance.status).toBe('completed');
    expect(maintenance.updates.map((u: IncidentUpdate) => u.kind)).toEqual([
      'maintenance-scheduled',
      'maintenance-reminder',
      'maintenance-started',
      'maintenance-completed',
    ]);

    await s.slack.waitFor(4);
    const [root, ...replies] = s.slack.posts('C0MAINT');
    expect(replies.every((r) => r.threadTs === root!.ts)).toBe(true);
    await s.x.waitFor(4);
    for (let i = 1; i < 4; i++) expect(s.x.posts[i]!.replyTo).toBe(s.x.posts[i - 1]!.id);
    const mails = await s.smtp.waitFor({ to: 'ops@partner.example', count: 4 });
    expect(new Set(mails.map((m) => m.subject.replace(/^(re:\s*)+/i, ''))).size).toBe(1);
    for (let i = 1; i < 4; i++) expect(mails[i]!.inReplyTo).toBe(mails[i - 1]!.messageId);

    // Maintenances are not incidents: no holding statements, not listed as incidents.
    expect((await s.api('GET', `/v1/incidents/${id}`)).statusCode).toBe(404);
    expect((await s.api('GET', '/v1/incidents')).json().incidents).toHaveLength(0);
  });
});

describe('given a maintenance rescheduled before it starts', () => {
  it('announces the new window (with the old one), and the old times never fire', async () => {
    const s = await given();
    const id = await schedule(s, { startsAt: at(2500), endsAt: at(3500), remindBeforeSeconds: [] });
    const moved = await s.api('PATCH', `/v1/maintenances/${id}`, { startsAt: at(5000), endsAt: at(6000) });
    expect(moved.statusCode, moved.body).toBe(200);
    const rescheduled = moved.json().updates.at(-1) as IncidentUpdate;
    expect(rescheduled.kind).toBe('maintenance-rescheduled');
    expect(rescheduled.maintenance?.previous).toBeTruthy();

    await sleep(4000);
    // Past the old start and end: nothing fired.
    expect(await kinds(s, id)).toEqual(['maintenance-scheduled', 'maintenance-rescheduled']);
    await eventually(async () => ((await kinds(s, id)).length === 4 ? true : undefined), 5000, 'the new timeline');
    expect(await kinds(s, id)).toEqual(['maintenance-scheduled', 'maintenance-rescheduled', 'maintenance-started', 'maintenance-completed']);
    const hooks = await s.hooks.waitFor({ path: '/blog', count: 4 });
    expect(hooks.map((e) => typeOf(e.body))).toEqual([
      'maintenance.scheduled',
      'maintenance.rescheduled',
      'maintenance.started',
      'maintenance.completed',
    ]);
    expect((s.smtp.for('ops@partner.example')[1]?.text ?? '')).toBeTruthy();
  });

  it('a change of wording alone is saved without an announcement', async () => {
    const s = await given();
    const id = await schedule(s, { startsAt: at(60_000), endsAt: at(120_000) });
    const res = await s.api('PATCH', `/v1/maintenances/${id}`, { title: 'Database upgrade (v16)' });
    expect(res.statusCode).toBe(200);
    expect(res.json().title).toBe('Database upgrade (v16)');
    expect(await kinds(s, id)).toEqual(['maintenance-scheduled']);
  });
});

describe('given a maintenance cancelled before it starts', () => {
  it('announces the cancellation once, then nothing more goes out', async () => {
    const s = await given();
    const id = await schedule(s, { startsAt: at(2000), endsAt: at(3000), remindBeforeSeconds: [1] });
    const cancelled = await s.api('DELETE', `/v1/maintenances/${id}`);
    expect(cancelled.statusCode).toBe(200);
    expect(cancelled.json()).toMatchObject({ status: 'cancelled' });
    const again = await s.api('DELETE', `/v1/maintenances/${id}`);
    expect(again.statusCode).toBe(200);
    await sleep(3500);
    expect(await kinds(s, id)).toEqual(['maintenance-scheduled', 'maintenance-cancelled']);
    const hooks = s.hooks.received('/blog');
    expect(hooks.map((e) => typeOf(e.body))).toEqual(['maintenance.scheduled', 'maintenance.cancelled']);
    const patch = await s.api('PATCH', `/v1/maintenances/${id}`, { title: 'too late' });
    expect(patch.statusCode).toBe(409);
    expect(patch.json().error.code).toBe('maintenance_finished');
  });
});

describe('bad times and reads', () => {
  it('refuses an end before the start, a start in the past, and bad dates with 400s naming the field', async () => {
    const s = await given();
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ startsAt: at(60_000), endsAt: at(30_000) }, 'body.endsAt'],
      [{ startsAt: at(-60_000), endsAt: at(60_000) }, 'body.startsAt'],
      [{ startsAt: 'tomorrow', endsAt: at(60_000) }, 'body.startsAt'],
      [{ startsAt: at(60_000), endsAt: at(120_000), remindBeforeSeconds: [0] }, 'body.remindBeforeSeconds'],
    ];
    for (const [body, field] of cases) {
      const res = await s.api('POST', '/v1/maintenances', { title: 'x', message: 'y', ...body });
      expect(res.statusCode, JSON.stringify(body)).toBe(400);
      expect(res.json().error.message).toContain(field);
    }
    expect((await s.api('GET', '/v1/maintenances')).json().maintenances).toHaveLength(0);
  });

  it('lists maintenances, newest first, filtered by status; an unknown id is 404', async () => {
    const s = await given();
    const first = await schedule(s, { startsAt: at(60_000), endsAt: at(120_000) });
    const second = await schedule(s, { startsAt: at(90_000), endsAt: at(150_000) });
    await s.api('DELETE', `/v1/maintenances/${first}`);
    const all = (await s.api('GET', '/v1/maintenances')).json().maintenances as Array<{ id: string }>;
    expect(all.map((m) => m.id)).toEqual([second, first]);
    const scheduled = (await s.api('GET', '/v1/maintenances?status=scheduled')).json().maintenances as Array<{ id: string }>;
    expect(scheduled.map((m) => m.id)).toEqual([second]);
    expect((await s.api('GET', '/v1/maintenances/mnt_nope')).statusCode).toBe(404);
    expect((await s.api('POST', `/v1/incidents/${second}/updates`, { message: 'x' })).statusCode).toBe(404);
  });
});
