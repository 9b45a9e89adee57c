/**
 * Issue 9, contract §3: every string Herald accepts is well-formed Unicode
 * (a lone surrogate is a 400 naming the field), and every time it accepts
 * is a real instant (a leap second or 30 February is a 400 naming the field).
 * Nothing refused is stored or broadcast.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newWebhookSecret } from '../fakes/webhook-receiver.js';
import { startStack, type Stack } from '../support/stack.js';
import { expectError, fieldsNamed, incidentBody, incidentIds } from './helpers.js';

/** What a client sends when it cuts 🔥 (U+1F525, "\ud83d\udd25") in half. */
const HALF_EMOJI = 'fire \ud83d';
const LONE_LOW = '\udd25 fire';
const HOUR = 3_600_000;
const at = (msFromNow: number) => new Date(Date.now() + msFromNow).toISOString();

describe('well-formed input', () => {
  let stack: Stack;
  const secret = newWebhookSecret();

  const refused = async (method: string, url: string, body: unknown, field: string) => {
    const res = await stack.api(method, url, body);
    const error = expectError(res, 400, 'invalid_request');
    expect(error.message).toContain(field);
    expect(error.details).toEqual(expect.arrayContaining([expect.objectContaining({ field })]));
    // The answer itself is well-formed: the bad text is not echoed raw.
    expect(res.body.isWellFormed()).toBe(true);
    return error;
  };

  beforeAll(async () => {
    stack = await startStack();
    const res = await stack.api('PUT', '/v1/audiences/partners', { webhooks: [{ url: stack.hooks.register('/partners', secret), secret }] });
    expect(res.statusCode, res.body).toBe(200);
  });

  afterAll(async () => {
    await stack?.stop();
  });

  describe('a lone surrogate', () => {
    it('in an incident message, title, component, commander or audience name → 400 naming the field, nothing stored', async () => {
      await refused('POST', '/v1/incidents', incidentBody({ message: `Checkout is down ${HALF_EMOJI}` }), 'body.message');
      await refused('POST', '/v1/incidents', incidentBody({ title: LONE_LOW }), 'body.title');
      await refused('POST', '/v1/incidents', incidentBody({ components: ['api', `db${HALF_EMOJI}`] }), 'body.components[1]');
      await refused('POST', '/v1/incidents', incidentBody({ commander: { name: `Dana ${HALF_EMOJI}` } }), 'body.commander.name');
      await refused('POST', '/v1/incidents', incidentBody({ audiences: [`partners${HALF_EMOJI}`] }), 'body.audiences[0]');
      expect(await incidentIds(stack)).toEqual([]);
    });

    it('in a field name → 400 naming it (escaped)', async () => {
      const error = await refused('POST', '/v1/incidents', incidentBody({ [`note${HALF_EMOJI}`]: 'x' }), 'body["notefire \\ud83d"]');
      expect(fieldsNamed(error)).toContain('field name');
      await refused('POST', '/v1/incidents', incidentBody({ commander: { [LONE_LOW]: 'x' } }), 'body.commander["\\udd25 fire"]');
    });

    it('in an update, a resolution or a patch of an open incident → 400, and the incident keeps its one update', async () => {
      const opened = await stack.api('POST', '/v1/incidents', incidentBody({ audiences: ['partners'] }));
      expect(opened.statusCode, opened.body).toBe(201);
      const id = opened.json().incident.id as string;
      await refused('POST', `/v1/incidents/${id}/updates`, { message: HALF_EMOJI }, 'body.message');
      await refused('POST', `/v1/incidents/${id}/resolve`, { message: LONE_LOW }, 'body.message');
      await refused('PATCH', `/v1/incidents/${id}`, { title: HALF_EMOJI }, 'body.title');
      const incident = (await stack.api('GET', `/v1/incidents/${id}`)).json();
      expect(incident.updates).toHaveLength(1);
      expect(incident.status).toBe('investigating');

      // The same text with the whole emoji is fine, and is the only update broadcast after the opening.
      const posted = await stack.api('POST', `/v1/incidents/${id}/updates`, { message: 'Fixed the 🔥 in checkout' });
      expect(posted.statusCode, posted.body).toBe(201);
      const received = await stack.hooks.waitFor({ path: '/partners', count: 2 }, 15_000);
      const messages = received.map((r) => (r.body as { update: { message: string } }).update.message);
      expect(messages).toEqual([incidentBody().message, 'Fixed the 🔥 in checkout']);
    });

    it('in a maintenance → 400 naming the field, nothing scheduled', async () => {
      const body = { title: 'Database upgrade', message: 'Writes pause.', startsAt: at(10 * HOUR), endsAt: at(11 * HOUR) };
      await refused('POST', '/v1/maintenances', { ...body, message: `Writes pause ${HALF_EMOJI}` }, 'body.message');
      await refused('POST', '/v1/maintenances', { ...body, startsAt: `${body.startsAt}${LONE_LOW}` }, 'body.startsAt');
      expect((await stack.api('GET', '/v1/maintenances')).json().maintenances).toEqual([]);
      const created = await stack.api('POST', '/v1/maintenances', { ...body, message: 'Writes pause 🔥' });
      expect(created.statusCode, created.body).toBe(201);
      const id = created.json().maintenance.id as string;
      await refused('PATCH', `/v1/maintenances/${id}`, { title: HALF_EMOJI }, 'body.title');
      expect((await stack.api('GET', `/v1/maintenances/${id}`)).json().title).toBe('Database upgrade');
    });

    it('in an audience\'s webhook URL, email recipient or component → 400 naming it, the audience unchanged', async () => {
      const hook = stack.hooks.url('/other');
      await refused('PUT', '/v1/audiences/other', { webhooks: [{ url: `${hook}?t=${HALF_EMOJI}`, secret }] }, 'body.webhooks[0].url');
      await refused(
        'PUT',
        '/v1/audiences/other',
        { email: { recipients: ['a@partner.example', 'b@partner.example', 'c@partner.example', `d${HALF_EMOJI}@partner.example`] } },
        'body.email.recipients[3]',
      );
      await refused('PUT', '/v1/audiences/partners', { components: [LONE_LOW] }, 'body.components[0]');
      expect((await stack.api('GET', '/v1/audiences/other')).statusCode).toBe(404);
      expect((await stack.api('GET', '/v1/audiences/partners')).json().components).toBeUndefined();
    });

    it('a preview with one is refused too', async () => {
      await refused('POST', '/v1/preview', incidentBody({ message: HALF_EMOJI }), 'body.message');
    });

    it('a path parameter that does not decode to text is a 4xx, never a 500', async () => {
      const res = await stack.api('GET', '/v1/audiences/%ED%A0%80');
      expect(res.statusCode).toBeGreaterThanOrEqual(400);
      expect(res.statusCode).toBeLessThan(500);
    });
  });

  describe('times', () => {
    const body = { title: 'Database upgrade', message: 'Writes pause.' };
    const nextYear = new Date().getUTCFullYear() + 1;

    it.each([
      ['a leap second', `${nextYear}-12-31T23:59:60Z`],
      ['a leap second in another zone', `${nextYear}-12-31T18:59:60-05:00`],
      ['30 February', `${nextYear}-02-30T10:00:00Z`],
      ['hour 24', `${nextYear}-03-01T24:00:00Z`],
      ['no zone', `${nextYear}-03-01T10:00:00`],
    ])('%s as startsAt or endsAt → 400 naming the field', async (_, time) => {
      const valid = { startsAt: `${nextYear}-01-01T10:00:00Z`, endsAt: `${nextYear + 1}-06-01T10:00:00Z` };
      const error = await refused('POST', '/v1/maintenances', { ...body, ...valid, startsAt: time }, 'body.startsAt');
      expect(error.message).toContain('ISO-8601');
      await refused('POST', '/v1/maintenances', { ...body, ...valid, endsAt: time }, 'body.endsAt');
    });

    it('the same in a PATCH → 400 naming the field, the window unchanged', async () => {
      const created = await stack.api('POST', '/v1/maintenances', { ...body, startsAt: at(10 * HOUR), endsAt: at(11 * HOUR) });
      expect(created.statusCode, created.body).toBe(201);
      const { id, endsAt } = created.json().maintenance as { id: string; endsAt: string };
      await refused('PATCH', `/v1/maintenances/${id}`, { endsAt: `${nextYear}-12-31T23:59:60Z` }, 'body.endsAt');
      await refused('PATCH', `/v1/maintenances/${id}`, { startsAt: `${nextYear}-02-29T10:00:00Z` }, 'body.startsAt');
      expect((await stack.api('GET', `/v1/maintenances/${id}`)).json().endsAt).toBe(endsAt);
    });
  });
});
