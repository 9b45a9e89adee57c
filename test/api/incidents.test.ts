/**
 * Contract §3, incidents: the shapes the API answers, listing by state, an
 * incident read back with its updates in order, PATCH moving the promised
 * next update, and the deliveries of an incident with their filters.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newWebhookSecret } from '../fakes/webhook-receiver.js';
import { READ_TOKEN, eventually, startStack, type Stack } from '../support/stack.js';
import { expectError, incidentIds, openIncident } from './helpers.js';

const ISO_UTC = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/;

const INCIDENT_FIELDS = [
  'id',
  'title',
  'severity',
  'status',
  'components',
  'audiences',
  'cadenceSeconds',
  'commander',
  'createdAt',
  'updatedAt',
  'lastBroadcastAt',
  'nextUpdateDueAt',
  'resolvedAt',
  'updates',
];
const UPDATE_FIELDS = ['id', 'incidentId', 'seq', 'kind', 'status', 'message', 'author', 'postedAt'];
const DELIVERY_FIELDS = ['id', 'updateId', 'channel', 'target', 'state', 'attempts', 'providerRef', 'error', 'sentAt'];

interface DeliveryView {
  id: string;
  updateId: string;
  channel: string;
  target: string;
  state: string;
  attempts: number;
  providerRef: string | null;
  error: string | null;
  sentAt: string | null;
}

const plus = (iso: string, seconds: number): string => new Date(Date.parse(iso) + seconds * 1000).toISOString();

describe('incidents', () => {
  let stack: Stack;

  beforeAll(async () => {
    stack = await startStack();
    expect((await stack.api('PUT', '/v1/audiences/quiet', {})).statusCode).toBe(200);
  });

  afterAll(async () => {
    await stack?.stop();
  });

  describe('an incident opened, updated twice and resolved', () => {
    let id: string;
    const messages = ['Opened: investigating.', 'Cause found.', 'Still monitoring.', 'All clear.'];

    it('POST /v1/incidents answers 201 {incident, update, deliveries.planned} in the contract shapes', async () => {
      const res = await stack.api('POST', '/v1/incidents', {
        title: 'API latency',
        severity: 'minor',
        message: messages[0],
        components: ['api'],
        audiences: ['quiet'],
        cadenceSeconds: 900,
        commander: { name: 'Dana', email: 'dana@corp.example', slackUserId: 'U0DANA' },
      });
      expect(res.statusCode).toBe(201);
      const { incident, update, deliveries } = res.json();
      id = incident.id;
      expect(Object.keys(incident)).toEqual(expect.arrayContaining(INCIDENT_FIELDS));
      expect(incident).toMatchObject({
        title: 'API latency',
        severity: 'minor',
        status: 'investigating',
        components: ['api'],
        audiences: ['quiet'],
        cadenceSeconds: 900,
        commander: { name: 'Dana', email: 'dana@corp.example', slackUserId: 'U0DANA' },
        resolvedAt: null,
      });
      for (const field of ['createdAt', 'updatedAt', 'lastBroadcastAt', 'nextUpdateDueAt']) expect(incident[field]).toMatch(ISO_UTC);
      expect(incident.nextUpdateDueAt).toBe(plus(incident.lastBroadcastAt, 900));
      expect(Object.keys(update)).toEqual(expect.arrayContaining(UPDATE_FIELDS));
      expect(update).toMatchObject({ incidentId: id, seq: 1, kind: 'opened', status: 'investigating', message: messages[0], author: 'ops' });
      expect(update.postedAt).toMatch(ISO_UTC);
      expect(incident.updates).toEqual([update]);
      expect(deliveries).toEqual({ planned: 0 });
    });

    it('an update with a status moves the incident; one without keeps it; each answers 201 {update, deliveries}', async () => {
      const identified = await stack.api('POST', `/v1/incidents/${id}/updates`, { message: messages[1], status: 'identified' });
      expect(identified.statusCode).toBe(201);
      // The audience "quiet" has no targets: the answer says nobody will hear it.
      expect(Object.keys(identified.json()).sort()).toEqual(['deliveries', 'update', 'warnings']);
      expect(identified.json().update).toMatchObject({ seq: 2, kind: 'update', status: 'identified', message: messages[1] });
      expect((await stack.api('GET', `/v1/incidents/${id}`)).json().status).toBe('identified');

      const plain = await stack.api('POST', `/v1/incidents/${id}/updates`, { message: messages[2] });
      expect(plain.statusCode).toBe(201);
      expect(plain.json().update).toMatchObject({ seq: 3, kind: 'update', status: 'identified' });
      const read = (await stack.api('GET', `/v1/incidents/${id}`)).json();
      expect(read.status).toBe('identified');
      expect(read.lastBroadcastAt).toBe(plain.json().update.postedAt);
      expect(read.nextUpdateDueAt).toBe(plus(plain.json().update.postedAt, 900));
    });

    it('resolve answers 201 with a resolved update and the incident stops promising updates', async () => {
      const res = await stack.api('POST', `/v1/incidents/${id}/resolve`, { message: messages[3] });
      expect(res.statusCode).toBe(201);
      expect(res.json().update).toMatchObject({ seq: 4, kind: 'resolved', status: 'resolved', message: messages[3] });
      const read = (await stack.api('GET', `/v1/incidents/${id}`)).json();
      expect(read.status).toBe('resolved');
      expect(read.nextUpdateDueAt).toBeNull();
      expect(read.resolvedAt).toMatch(ISO_UTC);
    });

    it('GET /v1/incidents/:id has every update, in order, for a read token', async () => {
      const res = await stack.api('GET', `/v1/incidents/${id}`, undefined, { token: READ_TOKEN });
      expect(res.statusCode).toBe(200);
      const incident = res.json();
      expect(Object.keys(incident)).toEqual(expect.arrayContaining(INCIDENT_FIELDS));
      expect(incident.updates.map((u: { seq: number }) => u.seq)).toEqual([1, 2, 3, 4]);
      expect(incident.updates.map((u: { kind: string }) => u.kind)).toEqual(['opened', 'update', 'update', 'resolved']);
      expect(incident.updates.map((u: { message: string }) => u.message)).toEqual(messages);
      expect(new Set(incident.updates.map((u: { id: string }) => u.id)).size).toBe(4);
      const times = incident.updates.map((u: { postedAt: string }) => Date.parse(u.postedAt));
      expect([...times].sort((a, b) => a - b)).toEqual(times);
    });
  });

  describe('GET /v1/incidents?state=', () => {
    let open: string[];
    let resolved: string[];

    beforeAll(async () => {
      const before = await incidentIds(stack);
      const a = (await openIncident(stack, { title: 'A', audiences: ['quiet'] })).incident.id;
      const b = (await openIncident(stack, { title: 'B', audiences: ['quiet'] })).incident.id;
      const c = (await openIncident(stack, { title: 'C', audiences: ['quiet'] })).incident.id;
      expect((await stack.api('POST', `/v1/incidents/${b}/resolve`, { message: 'B is fine.' })).statusCode).toBe(201);
      const stillOpen = (await incidentIds(stack, '?state=open')).filter((x) => ![a, b, c].includes(x));
      open = [a, c, ...stillOpen];
      resolved = [b, ...before.filter((x) => !stillOpen.includes(x))];
    });

    it('state=open lists only open incidents, each with its updates', async () => {
      const res = await stack.api('GET', '/v1/incidents?state=open', undefined, { token: READ_TOKEN });
      expect(res.statusCode).toBe(200);
      const listed = res.json().incidents as Array<{ id: string; status: string; updates: unknown[] }>;
      expect(listed.map((i) => i.id).sort()).toEqual([...open].sort());
      for (const incident of listed) {
        expect(incident.status).not.toBe('resolved');
        expect(incident.updates.length).toBeGreaterThanOrEqual(1);
      }
    });

    it('state=resolved lists only resolved incidents', async () => {
      const listed = (await stack.api('GET', '/v1/incidents?state=resolved')).json().incidents as Array<{ id: string; status: string }>;
      expect(listed.map((i) => i.id).sort()).toEqual([...resolved].sort());
      expect(listed.every((i) => i.status === 'resolved')).toBe(true);
    });

    it('no state lists them all, newest first', async () => {
      const all = await incidentIds(stack);
      expect([...all].sort()).toEqual([...open, ...resolved].sort());
      const created = await Promise.all(all.map(async (id) => Date.parse((await stack.api('GET', `/v1/incidents/${id}`)).json().createdAt)));
      expect(created).toEqual([...created].sort((x, y) => y - x));
    });

    it('limit caps the page', async () => {
      const listed = (await stack.api('GET', '/v1/incidents?limit=2')).json().incidents;
      expect(listed).toHaveLength(2);
    });
  });

  describe('PATCH /v1/incidents/:id', () => {
    it('title, components and cadence → 200 Incident; nextUpdateDueAt = lastBroadcastAt + the new cadence', async () => {
      const { incident } = await openIncident(stack, { title: 'Before', components: ['api'], cadenceSeconds: 1800, audiences: ['quiet'] });
      const res = await stack.api('PATCH', `/v1/incidents/${incident.id}`, { title: 'After', components: ['api', 'dashboard'], cadenceSeconds: 300 });
      expect(res.statusCode).toBe(200);
      const patched = res.json();
      expect(Object.keys(patched)).toEqual(expect.arrayContaining(INCIDENT_FIELDS));
      expect(patched).toMatchObject({ id: incident.id, title: 'After', components: ['api', 'dashboard'], cadenceSeconds: 300 });
      expect(patched.lastBroadcastAt).toBe(incident.lastBroadcastAt);
      expect(patched.nextUpdateDueAt).toBe(plus(patched.lastBroadcastAt, 300));
      expect(patched.updates).toHaveLength(1);
      expect(Date.parse(patched.updatedAt)).toBeGreaterThanOrEqual(Date.parse(incident.updatedAt as string));
      expect((await stack.api('GET', `/v1/incidents/${incident.id}`)).json()).toEqual(patched);
    });

    it('a longer cadence moves the due time later; a title-only PATCH leaves it alone', async () => {
      const { incident } = await openIncident(stack, { cadenceSeconds: 600, audiences: ['quiet'] });
      const longer = (await stack.api('PATCH', `/v1/incidents/${incident.id}`, { cadenceSeconds: 7200 })).json();
      expect(longer.nextUpdateDueAt).toBe(plus(incident.lastBroadcastAt as string, 7200));
      const renamed = (await stack.api('PATCH', `/v1/incidents/${incident.id}`, { title: 'Renamed' })).json();
      expect(renamed.title).toBe('Renamed');
      expect(renamed.cadenceSeconds).toBe(7200);
      expect(renamed.nextUpdateDueAt).toBe(longer.nextUpdateDueAt);
    });

    it('after an update, the new cadence counts from that update', async () => {
      const { incident } = await openIncident(stack, { cadenceSeconds: 600, audiences: ['quiet'] });
      const posted = (await stack.api('POST', `/v1/incidents/${incident.id}/updates`, { message: 'Progress.' })).json().update;
      const patched = (await stack.api('PATCH', `/v1/incidents/${incident.id}`, { cadenceSeconds: 120 })).json();
      expect(patched.lastBroadcastAt).toBe(posted.postedAt);
      expect(patched.nextUpdateDueAt).toBe(plus(posted.postedAt, 120));
    });
  });

  describe('GET /v1/incidents/:id/deliveries', () => {
    const secrets = { blog: newWebhookSecret(), flaky: newWebhookSecret() };
    let incidentId: string;
    let updateIds: string[];
    let blogUrl: string;

    beforeAll(async () => {
      blogUrl = `${stack.hooks.register('/blog', secrets.blog)}?token=query-secret-abc123`;
      stack.hooks.register('/flaky', secrets.flaky);
      stack.hooks.respond('/flaky', 503);
      const res = await stack.api('PUT', '/v1/audiences/everyone', {
        slack: { channels: ['C0STATUS'] },
        x: { enabled: true },
        email: { recipients: ['ops@partner.example'] },
        webhooks: [
          { url: blogUrl, secret: secrets.blog },
          { url: stack.hooks.url('/flaky'), secret: secrets.flaky },
        ],
      });
      expect(res.statusCode).toBe(200);
      const opened = await openIncident(stack, { audiences: ['everyone'] });
      incidentId = opened.incident.id;
      expect(opened.deliveries.planned).toBe(5);
      await stack.hooks.waitFor({ path: '/blog' }, 10_000);
      const update = (await stack.api('POST', `/v1/incidents/${incidentId}/updates`, { message: 'Second.' })).json().update;
      updateIds = [opened.update.id, update.id];
      await eventually(
        async () => {
          const list = (await stack.api('GET', `/v1/incidents/${incidentId}/deliveries`)).json().deliveries as DeliveryView[];
          const settled = list.filter((d) => d.target !== stack.hooks.url('/flaky'));
          return list.length === 10 && settled.every((d) => d.state === 'sent') && list.some((d) => d.state === 'failed');
        },
        10_000,
        'every delivery but /flaky sent, and /flaky failed',
      );
    });

    it('lists every delivery in the contract shape, for a read token', async () => {
      const res = await stack.api('GET', `/v1/incidents/${incidentId}/deliveries`, undefined, { token: READ_TOKEN });
      expect(res.statusCode).toBe(200);
      const deliveries = res.json().deliveries as DeliveryView[];
      expect(deliveries).toHaveLength(10);
      expect(new Set(deliveries.map((d) => d.id)).size).toBe(10);
      for (const d of deliveries) {
        expect(Object.keys(d)).toEqual(expect.arrayContaining(DELIVERY_FIELDS));
        expect(updateIds).toContain(d.updateId);
        expect(['slack', 'x', 'email', 'webhook']).toContain(d.channel);
        expect(typeof d.target).toBe('string');
      }
      // /flaky keeps failing: its first delivery is retrying, and the second waits behind it, untried.
      const flaky = deliveries.filter((d) => d.target === stack.hooks.url('/flaky'));
      expect(flaky.map((d) => [d.updateId, d.state])).toEqual([
        [updateIds[0], 'failed'],
        [updateIds[1], 'queued'],
      ]);
      expect(flaky[0]!.attempts).toBeGreaterThanOrEqual(1);
      expect(flaky[1]!.attempts).toBe(0);
      const sent = deliveries.filter((d) => d.state === 'sent');
      expect(sent).toHaveLength(8);
      for (const d of sent) {
        expect(d.providerRef).toBeTruthy();
        expect(d.error).toBeNull();
        expect(d.sentAt).toMatch(ISO_UTC);
      }
      const targets = new Set(deliveries.map((d) => `${d.channel} ${d.target}`));
      expect(targets).toEqual(
        // A read token sees a webhook URL as origin and first path segment, no query (contract §3).
        new Set(['slack C0STATUS', 'x x', 'email ops@partner.example', `webhook ${stack.hooks.url('/blog')}`, `webhook ${stack.hooks.url('/flaky')}`]),
      );
    });

    it('a failing target shows failed, with its error and no sentAt', async () => {
      const flaky = (await stack.api('GET', `/v1/incidents/${incidentId}/deliveries?state=failed`)).json().deliveries as DeliveryView[];
      expect(flaky).toHaveLength(1);
      for (const d of flaky) {
        expect(d).toMatchObject({ channel: 'webhook', target: stack.hooks.url('/flaky'), state: 'failed', sentAt: null });
        expect(d.error).toBeTruthy();
      }
    });

    it('never shows a webhook secret or a token carried in a webhook URL', async () => {
      const res = await stack.api('GET', `/v1/incidents/${incidentId}/deliveries`);
      for (const secret of Object.values(secrets)) {
        expect(res.body).not.toContain(secret);
        expect(res.body).not.toContain(secret.slice('whsec_'.length));
      }
      expect(res.body).not.toContain('query-secret-abc123');
    });

    it('filters by channel, state and update', async () => {
      const list = async (query: string) =>
        (await stack.api('GET', `/v1/incidents/${incidentId}/deliveries${query}`)).json().deliveries as DeliveryView[];
      const webhooks = await list('?channel=webhook');
      expect(webhooks.length).toBeGreaterThanOrEqual(3);
      expect(webhooks.every((d) => d.channel === 'webhook')).toBe(true);

      const sentWebhooks = await list('?channel=webhook&state=sent');
      expect(sentWebhooks).toHaveLength(2);
      expect(sentWebhooks.every((d) => d.channel === 'webhook' && d.state === 'sent')).toBe(true);
      expect(sentWebhooks.map((d) => d.target)).toEqual([`${stack.hooks.url('/blog')}?…`, `${stack.hooks.url('/blog')}?…`]);

      expect(await list('?channel=slack&state=failed')).toEqual([]);
      const firstUpdate = await list(`?updateId=${updateIds[0]}`);
      expect(firstUpdate).toHaveLength(5);
      expect(firstUpdate.every((d) => d.updateId === updateIds[0])).toBe(true);
    });

    it('an unknown channel or state in the filter → 400', async () => {
      expectError(await stack.api('GET', `/v1/incidents/${incidentId}/deliveries?channel=fax`), 400);
      expectError(await stack.api('GET', `/v1/incidents/${incidentId}/deliveries?state=lost`), 400);
    });
  });
});
