/**
 * Contract §3: anything the caller got wrong is a 4xx in the error shape
 * naming what was wrong; a refused request writes nothing and the process
 * keeps serving.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { newWebhookSecret } from '../fakes/webhook-receiver.js';
import { startStack, type Stack } from '../support/stack.js';
import { expectError, fieldsNamed, incidentBody, incidentIds, openIncident } from './helpers.js';

describe('API validation', () => {
  let stack: Stack;
  /** Incidents that were legitimately opened; nothing else may appear. */
  const opened: string[] = [];

  beforeAll(async () => {
    stack = await startStack({ env: { HERALD_MIN_CADENCE_SECONDS: '60' } });
    expect((await stack.api('PUT', '/v1/audiences/partners', { x: { enabled: false } })).statusCode).toBe(200);
  });

  afterAll(async () => {
    await stack?.stop();
  });

  afterEach(async () => {
    // Whatever was refused, the process still serves and nothing half-written shows.
    expect((await stack.api('GET', '/healthz', undefined, { token: null })).statusCode).toBe(200);
    expect((await incidentIds(stack)).sort()).toEqual([...opened].sort());
  });

  describe('the body as a whole', () => {
    it('a body that is not JSON → 400 invalid_json', async () => {
      for (const raw of ['{"title": "x",', '{title: "x"}', 'nope', '{"a":1}}']) {
        expectError(await stack.api('POST', '/v1/incidents', raw), 400, 'invalid_json');
      }
    });

    it('an empty JSON body → 400', async () => {
      const res = await stack.api('POST', '/v1/incidents', undefined, { headers: { 'content-type': 'application/json' } });
      expectError(res, 400);
    });

    it('JSON that is not an object → 400', async () => {
      for (const raw of ['null', '[]', '"title"', '42']) {
        expectError(await stack.api('POST', '/v1/incidents', raw), 400);
      }
    });

    it('a body that is not declared as JSON → 415', async () => {
      const body = JSON.stringify(incidentBody());
      for (const type of ['text/xml', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x']) {
        expectError(await stack.api('POST', '/v1/incidents', body, { headers: { 'content-type': type } }), 415, 'unsupported_media_type');
      }
    });

    it('a body over the 5 MiB limit → 413 body_too_large', async () => {
      const huge = JSON.stringify(incidentBody({ message: 'x'.repeat(5 * 1024 * 1024 + 10) }));
      expectError(await stack.api('POST', '/v1/incidents', huge), 413, 'body_too_large');
      const recipients = Array.from({ length: 200_000 }, (_, i) => `recipient-${i}@partner.example`);
      expectError(await stack.api('PUT', '/v1/audiences/too-big', { email: { recipients } }), 413, 'body_too_large');
      expectError(await stack.api('GET', '/v1/audiences/too-big'), 404, 'not_found');
    });
  });

  describe('POST /v1/incidents', () => {
    it('an unknown field (a typo) → 400 naming the field', async () => {
      const { severity, ...rest } = incidentBody();
      const error = expectError(await stack.api('POST', '/v1/incidents', { ...rest, sevrity: severity }), 400);
      // The typo is the cause, so the message leads with it; the field it left missing is named too.
      expect(error.message).toMatch(/^body\.sevrity is not a known field/);
      expect(error.message).toContain('body.severity is required');
      expect(fieldsNamed(error)).toContain('body.sevrity');
    });

    it('an unknown field alongside a valid body → 400 naming it', async () => {
      const error = expectError(await stack.api('POST', '/v1/incidents', incidentBody({ priority: 'p1' })), 400, 'invalid_request');
      expect(error.message).toContain('body.priority');
    });

    it('an unknown nested field → 400 naming the full path', async () => {
      const body = incidentBody({ commander: { name: 'Dana', phone: '+1 555' } });
      const error = expectError(await stack.api('POST', '/v1/incidents', body), 400);
      expect(error.message).toContain('body.commander.phone');
    });

    it('a severity outside the enum → 400 naming body.severity and the allowed values', async () => {
      const error = expectError(await stack.api('POST', '/v1/incidents', incidentBody({ severity: 'huge' })), 400, 'invalid_request');
      expect(error.message).toContain('body.severity');
      for (const allowed of ['critical', 'major', 'minor', 'maintenance']) expect(error.message).toContain(allowed);
    });

    it('a status outside the enum → 400 naming body.status and the allowed values', async () => {
      const error = expectError(await stack.api('POST', '/v1/incidents', incidentBody({ status: 'on fire' })), 400);
      expect(error.message).toContain('body.status');
      for (const allowed of ['investigating', 'identified', 'monitoring', 'resolved']) expect(error.message).toContain(allowed);
    });

    it('cadenceSeconds as a string → 400 naming body.cadenceSeconds (no coercion)', async () => {
      const error = expectError(await stack.api('POST', '/v1/incidents', incidentBody({ cadenceSeconds: '600' })), 400);
      expect(error.message).toContain('body.cadenceSeconds');
    });

    it('cadenceSeconds that is not a whole number → 400', async () => {
      const error = expectError(await stack.api('POST', '/v1/incidents', incidentBody({ cadenceSeconds: 90.5 })), 400);
      expect(error.message).toContain('body.cadenceSeconds');
    });

    it('cadenceSeconds below HERALD_MIN_CADENCE_SECONDS → 400; at the minimum it is accepted', async () => {
      const error = expectError(await stack.api('POST', '/v1/incidents', incidentBody({ cadenceSeconds: 59 })), 400);
      expect(error.message).toContain('body.cadenceSeconds');
      expect(error.message).toContain('60');
      const { incident } = await openIncident(stack, { cadenceSeconds: 60, audiences: [] });
      opened.push(incident.id);
      expect(incident.cadenceSeconds).toBe(60);
    });

    it('a missing message → 400 naming body.message', async () => {
      const { message: _message, ...rest } = incidentBody();
      const error = expectError(await stack.api('POST', '/v1/incidents', rest), 400, 'invalid_request');
      expect(error.message).toContain('body.message');
      expect(error.message).toMatch(/required/);
    });

    it('an empty message or title → 400', async () => {
      expect(expectError(await stack.api('POST', '/v1/incidents', incidentBody({ message: '' })), 400).message).toContain('body.message');
      expect(expectError(await stack.api('POST', '/v1/incidents', incidentBody({ title: '' })), 400).message).toContain('body.title');
    });

    it("a commander's email that is not an address → 400 naming body.commander.email", async () => {
      const body = incidentBody({ commander: { name: 'Dana', email: 'dana at corp' } });
      const error = expectError(await stack.api('POST', '/v1/incidents', body), 400);
      expect(error.message).toContain('body.commander.email');
    });

    it('an audience that does not exist → 400 unknown_audience naming it, and nothing is opened', async () => {
      const body = incidentBody({ audiences: ['partners', 'ghosts'] });
      const error = expectError(await stack.api('POST', '/v1/incidents', body), 400, 'unknown_audience');
      expect(error.message).toContain('ghosts');
      expect(fieldsNamed(error)).toContain('body.audiences[1]');
      expect(error.message).not.toContain('partners,');
    });

    it('every problem is listed in details, each naming its field', async () => {
      const body = { title: '', severity: 'huge', message: 'x', cadenceSeconds: '60', sevrity: 'major' };
      const error = expectError(await stack.api('POST', '/v1/incidents', body), 400);
      const fields = (error.details as Array<{ field: string; message: string }>).map((d) => d.field);
      expect(fields).toEqual(expect.arrayContaining(['body.title', 'body.severity', 'body.cadenceSeconds', 'body.sevrity']));
    });
  });

  describe('PUT /v1/audiences/:name', () => {
    const refusedAudience = async (body: unknown, field: string, name = 'refused'): Promise<string> => {
      const res = await stack.api('PUT', `/v1/audiences/${name}`, body);
      const error = expectError(res, 400);
      expect(error.message).toContain(field);
      expect(fieldsNamed(error)).toContain(field);
      // Refused whole: the audience was not stored.
      expectError(await stack.api('GET', `/v1/audiences/${name}`), 404, 'not_found');
      return res.body;
    };

    it('a recipient that is not an email address → 400 naming body.email.recipients[i]', async () => {
      await refusedAudience({ email: { recipients: ['ops@partner.example', 'not-an-address'] } }, 'body.email.recipients[1]');
    });

    it('an ftp:// webhook URL → 400 naming body.webhooks[0].url', async () => {
      await refusedAudience({ webhooks: [{ url: 'ftp://blog.example/hooks', secret: newWebhookSecret() }] }, 'body.webhooks[0].url');
    });

    it('a webhook URL with credentials → 400 naming body.webhooks[0].url, without echoing the password', async () => {
      const body = await refusedAudience(
        { webhooks: [{ url: 'https://admin:hunter2secret@blog.example/hooks', secret: newWebhookSecret() }] },
        'body.webhooks[0].url',
      );
      expect(body).not.toContain('hunter2secret');
    });

    it('a webhook URL that is not a URL → 400 naming it', async () => {
      await refusedAudience({ webhooks: [{ url: 'blog.example/hooks', secret: newWebhookSecret() }] }, 'body.webhooks[0].url');
    });

    it('a webhook secret that is not whsec_… → 400 naming body.webhooks[0].secret, without echoing it', async () => {
      const body = await refusedAudience(
        { webhooks: [{ url: 'https://blog.example/hooks', secret: 'plain-shared-secret-value-1234567890' }] },
        'body.webhooks[0].secret',
      );
      expect(body).not.toContain('plain-shared-secret-value-1234567890');
    });

    it('the second webhook is named when it is the bad one', async () => {
      await refusedAudience(
        {
          webhooks: [
            { url: 'https://blog.example/hooks', secret: newWebhookSecret() },
            { url: 'https://blog.example/other', secret: 'whsec_tooshort' },
          ],
        },
        'body.webhooks[1].secret',
      );
    });

    it('an unknown field → 400 naming it', async () => {
      await refusedAudience({ slack: { channels: ['C0123'] }, sms: { numbers: ['+1555'] } }, 'body.sms');
    });

    it('a name outside the allowed pattern → 400', async () => {
      expectError(await stack.api('PUT', '/v1/audiences/-bad', { x: { enabled: true } }), 400);
      expectError(await stack.api('PUT', `/v1/audiences/${'a'.repeat(65)}`, { x: { enabled: true } }), 400);
    });
  });

  describe('updates, resolve and PATCH', () => {
    it('an unknown incident id → 404 not_found on every incident route', async () => {
      const id = 'inc_01ZZZZZZZZZZZZZZZZZZZZZZZZ';
      expectError(await stack.api('GET', `/v1/incidents/${id}`), 404, 'not_found');
      expectError(await stack.api('GET', `/v1/incidents/${id}/deliveries`), 404, 'not_found');
      expectError(await stack.api('POST', `/v1/incidents/${id}/updates`, { message: 'hello?' }), 404, 'not_found');
      expectError(await stack.api('POST', `/v1/incidents/${id}/resolve`, { message: 'done' }), 404, 'not_found');
      expectError(await stack.api('PATCH', `/v1/incidents/${id}`, { title: 'x' }), 404, 'not_found');
    });

    it('an unknown audience → 404 not_found on GET and DELETE', async () => {
      expectError(await stack.api('GET', '/v1/audiences/nobody'), 404, 'not_found');
      expectError(await stack.api('DELETE', '/v1/audiences/nobody'), 404, 'not_found');
    });

    it('an update to a resolved incident → 409, and no update is added', async () => {
      const { incident } = await openIncident(stack, { audiences: [] });
      opened.push(incident.id);
      const resolved = await stack.api('POST', `/v1/incidents/${incident.id}/resolve`, { message: 'All good.' });
      expect(resolved.statusCode).toBe(201);
      expectError(await stack.api('POST', `/v1/incidents/${incident.id}/updates`, { message: 'one more' }), 409);
      expectError(await stack.api('POST', `/v1/incidents/${incident.id}/resolve`, { message: 'again' }), 409);
      expectError(await stack.api('PATCH', `/v1/incidents/${incident.id}`, { title: 'late rename' }), 409);
      const after = (await stack.api('GET', `/v1/incidents/${incident.id}`)).json();
      expect(after.updates).toHaveLength(2);
      expect(after.title).toBe(incident.title);
    });

    it('an update with an unknown field or without a message → 400', async () => {
      const { incident } = await openIncident(stack, { audiences: [] });
      opened.push(incident.id);
      const url = `/v1/incidents/${incident.id}/updates`;
      expect(expectError(await stack.api('POST', url, { status: 'identified' }), 400).message).toContain('body.message');
      expect(expectError(await stack.api('POST', url, { message: 'x', severity: 'minor' }), 400).message).toContain('body.severity');
      expect(expectError(await stack.api('POST', url, { message: 'x', status: 'fixed' }), 400).message).toContain('body.status');
      expect(expectError(await stack.api('POST', `/v1/incidents/${incident.id}/resolve`, { message: 'x', status: 'resolved' }), 400).message).toContain(
        'body.status',
      );
      expect((await stack.api('GET', `/v1/incidents/${incident.id}`)).json().updates).toHaveLength(1);
    });

    it('PATCH with {} → 400; with an unknown field, a bad type or a cadence below the minimum → 400', async () => {
      const { incident } = await openIncident(stack, { audiences: [] });
      opened.push(incident.id);
      const url = `/v1/incidents/${incident.id}`;
      expectError(await stack.api('PATCH', url, {}), 400, 'invalid_request');
      expect(expectError(await stack.api('PATCH', url, { severity: 'minor' }), 400).message).toContain('body.severity');
      expect(expectError(await stack.api('PATCH', url, { cadenceSeconds: '120' }), 400).message).toContain('body.cadenceSeconds');
      expect(expectError(await stack.api('PATCH', url, { cadenceSeconds: 30 }), 400).message).toContain('body.cadenceSeconds');
      const after = (await stack.api('GET', url)).json();
      expect(after.cadenceSeconds).toBe(incident.cadenceSeconds);
      expect(after.nextUpdateDueAt).toBe(incident.nextUpdateDueAt);
    });

    it('a malformed incident id → 400, not 500', async () => {
      expectError(await stack.api('GET', '/v1/incidents/inc%20with%20spaces'), 400);
      expectError(await stack.api('GET', `/v1/incidents/${'a'.repeat(65)}`), 400);
    });

    it('an unknown query parameter or state → 400', async () => {
      expect(expectError(await stack.api('GET', '/v1/incidents?state=closed'), 400).message).toContain('state');
      expectError(await stack.api('GET', '/v1/incidents?limit=0'), 400);
    });
  });
});
