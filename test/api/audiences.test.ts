/**
 * Contract §3, audiences: PUT answers 200 with the stored audience and never
 * echoes a webhook secret; GET lists them sorted; DELETE removes one.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newWebhookSecret } from '../fakes/webhook-receiver.js';
import { READ_TOKEN, startStack, type Stack } from '../support/stack.js';
import { expectError, openIncident } from './helpers.js';

describe('audiences', () => {
  let stack: Stack;
  const secret = newWebhookSecret();
  const otherSecret = newWebhookSecret();
  /** Every body the API answered in this file: none may contain a secret. */
  const bodies: string[] = [];

  const api = async (...args: Parameters<Stack['api']>) => {
    const res = await stack.api(...args);
    bodies.push(res.body);
    return res;
  };

  beforeAll(async () => {
    stack = await startStack();
  });

  afterAll(async () => {
    await stack?.stop();
  });

  it('PUT answers 200 with the stored audience, each webhook secret masked', async () => {
    const url = stack.hooks.register('/partners', secret);
    const res = await api('PUT', '/v1/audiences/partners', {
      slack: { channels: ['C0123', '#status'] },
      x: { enabled: true },
      email: { recipients: ['ops@partner.example'] },
      webhooks: [{ url, secret }],
      components: ['api', 'email'],
    });
    expect(res.statusCode).toBe(200);
    const audience = res.json();
    expect(audience).toMatchObject({
      name: 'partners',
      slack: { channels: ['C0123', '#status'] },
      x: { enabled: true },
      email: { recipients: ['ops@partner.example'] },
      components: ['api', 'email'],
    });
    expect(audience.webhooks).toHaveLength(1);
    expect(audience.webhooks[0].url).toBe(url);
    expect(audience.webhooks[0].secret).not.toBe(secret);
    expect(Date.parse(audience.createdAt)).not.toBeNaN();
    expect(audience.updatedAt).toBe(audience.createdAt);
    expect(res.body).not.toContain(secret);
    expect(res.body).not.toContain(secret.slice('whsec_'.length));
  });

  it('GET one answers the stored audience, the secret masked, for a read token too', async () => {
    const res = await api('GET', '/v1/audiences/partners', undefined, { token: READ_TOKEN });
    expect(res.statusCode).toBe(200);
    expect(res.json().name).toBe('partners');
    expect(res.json().webhooks[0].url).toBe(stack.hooks.url('/partners'));
    expect(res.body).not.toContain(secret);
  });

  it('the stored secret is the real one: deliveries are signed with it', async () => {
    // Only the webhook target is enabled here, so nothing else has to answer.
    await api('PUT', '/v1/audiences/signed', { webhooks: [{ url: stack.hooks.register('/signed', otherSecret), secret: otherSecret }] });
    await openIncident(stack, { audiences: ['signed'] });
    const [request] = await stack.hooks.waitFor({ path: '/signed' }, 10_000);
    expect(request!.signatureValid).toBe(true);
  });

  it('PUT of the masked secret read back is refused, not stored in place of the real one', async () => {
    const current = (await api('GET', '/v1/audiences/signed')).json();
    const res = await api('PUT', '/v1/audiences/signed', { webhooks: current.webhooks });
    expect(expectError(res, 400).message).toContain('body.webhooks[0].secret');
  });

  it('the same webhook URL twice in one audience → 400 naming the second', async () => {
    const url = stack.hooks.url('/twice');
    const res = await api('PUT', '/v1/audiences/twice', { webhooks: [{ url, secret }, { url, secret: otherSecret }] });
    expect(expectError(res, 400).message).toContain('body.webhooks[1].url');
    expectError(await api('GET', '/v1/audiences/twice'), 404, 'not_found');
  });

  it('a second PUT replaces the audience whole and keeps createdAt', async () => {
    const first = (await api('GET', '/v1/audiences/partners')).json();
    await new Promise((r) => setTimeout(r, 5));
    const res = await api('PUT', '/v1/audiences/partners', { email: { recipients: ['new@partner.example'] } });
    expect(res.statusCode).toBe(200);
    const replaced = res.json();
    expect(replaced.email).toEqual({ recipients: ['new@partner.example'] });
    expect(replaced.slack).toBeUndefined();
    expect(replaced.webhooks).toBeUndefined();
    expect(replaced.components).toBeUndefined();
    expect(replaced.createdAt).toBe(first.createdAt);
    expect(Date.parse(replaced.updatedAt)).toBeGreaterThan(Date.parse(first.updatedAt));
    expect((await api('GET', '/v1/audiences/partners')).json()).toEqual(replaced);
  });

  it('an empty body is a valid audience that hears nothing', async () => {
    const res = await api('PUT', '/v1/audiences/quiet', {});
    expect(res.statusCode).toBe(200);
    expect(res.json().name).toBe('quiet');
  });

  it('GET /v1/audiences lists every audience sorted by name, secrets masked', async () => {
    await api('PUT', '/v1/audiences/zulu', { webhooks: [{ url: stack.hooks.url('/zulu'), secret }] });
    await api('PUT', '/v1/audiences/alpha', { x: { enabled: false } });
    await api('PUT', '/v1/audiences/mike', { components: ['api'] });
    const res = await api('GET', '/v1/audiences', undefined, { token: READ_TOKEN });
    expect(res.statusCode).toBe(200);
    const names = (res.json().audiences as Array<{ name: string }>).map((a) => a.name);
    expect(names).toEqual(['alpha', 'mike', 'partners', 'quiet', 'signed', 'zulu']);
    expect(res.body).not.toContain(secret);
    expect(res.body).not.toContain(otherSecret);
  });

  it('DELETE answers 204 with no body, then the audience is gone (GET and DELETE → 404)', async () => {
    const res = await api('DELETE', '/v1/audiences/zulu');
    expect(res.statusCode).toBe(204);
    expect(res.body).toBe('');
    expectError(await api('GET', '/v1/audiences/zulu'), 404, 'not_found');
    expectError(await api('DELETE', '/v1/audiences/zulu'), 404, 'not_found');
    const names = ((await api('GET', '/v1/audiences')).json().audiences as Array<{ name: string }>).map((a) => a.name);
    expect(names).not.toContain('zulu');
  });

  it('no answer in this file ever contained a webhook secret', () => {
    expect(bodies.length).toBeGreaterThan(10);
    for (const body of bodies) {
      expect(body).not.toContain(secret);
      expect(body).not.toContain(otherSecret);
    }
  });
});

describe('given an incident, when its audience changes between two updates', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack();
  });
  afterAll(async () => {
    await stack?.stop();
  });

  const put = async (recipients: string[]) => {
    const res = await stack.api('PUT', '/v1/audiences/changing', { email: { recipients } });
    expect(res.statusCode).toBe(200);
  };
  const post = async (id: string) => {
    const res = await stack.api('POST', `/v1/incidents/${id}/updates`, { message: 'Still investigating.' });
    expect(res.statusCode, res.body).toBe(201);
    return res.json().deliveries.planned as number;
  };

  it('the next update plans for the audience as it is now: added, removed, deleted', async () => {
    await put(['a@partner.example']);
    const { incident, deliveries } = await openIncident(stack, { audiences: ['changing'] });
    expect(deliveries.planned).toBe(1);
    expect(await post(incident.id)).toBe(1);
    // A broadcast reads the audience when it runs: each runs before the audience changes again.
    await stack.smtp.waitFor({ count: 2, to: 'a@partner.example' }, 10_000);
    await put(['a@partner.example', 'b@partner.example', 'c@partner.example']);
    expect(await post(incident.id)).toBe(3);
    await stack.smtp.waitFor({ to: 'b@partner.example' }, 10_000);
    await put(['c@partner.example']);
    expect(await post(incident.id)).toBe(1);
    await stack.smtp.waitFor({ count: 2, to: 'c@partner.example' }, 10_000);
    await stack.smtp.waitFor({ count: 3, to: 'a@partner.example' }, 10_000);
    expect(stack.smtp.for('b@partner.example')).toHaveLength(1);
    expect(stack.smtp.for('a@partner.example')).toHaveLength(3);
    expect((await stack.api('DELETE', '/v1/audiences/changing')).statusCode).toBe(204);
    expect(await post(incident.id)).toBe(0);
  });

  it('an incident with no audiences named goes to every audience matching, including one created a moment ago', async () => {
    await stack.api('PUT', '/v1/audiences/late', { email: { recipients: ['late@partner.example'] } });
    const { incident, deliveries } = await openIncident(stack, { components: ['api'] });
    expect(incident.audiences).toContain('late');
    expect(deliveries.planned).toBeGreaterThanOrEqual(1);
  });
});
