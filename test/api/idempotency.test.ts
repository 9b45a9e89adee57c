/**
 * Contract §3: writing routes accept an `Idempotency-Key`. The same key with
 * the same body returns the first response and broadcasts nothing new; the
 * same key with a different body → 422. Keys belong to the token that sent them.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newWebhookSecret } from '../fakes/webhook-receiver.js';
import { READ_TOKEN, WRITE_TOKEN, startStack, type Stack } from '../support/stack.js';
import { expectError, incidentBody, incidentIds, settle } from './helpers.js';

const SECOND_WRITE_TOKEN = 'second-write-token-0123456789';

describe('Idempotency-Key on writing routes', () => {
  let stack: Stack;
  const secret = newWebhookSecret();
  /** The incident opened with the first key; later tests update and resolve it. */
  let firstId: string;

  const withKey = (key: string, token = WRITE_TOKEN) => ({ token, headers: { 'idempotency-key': key } });
  const hookEvents = (incidentId: string) =>
    stack.hooks.received('/partners').filter((r) => (r.body as { incident: { id: string } }).incident.id === incidentId);

  beforeAll(async () => {
    stack = await startStack({
      env: { HERALD_API_TOKENS: `ops:${WRITE_TOKEN}:write,viewer:${READ_TOKEN}:read,deploy-bot:${SECOND_WRITE_TOKEN}:write` },
    });
    const res = await stack.api('PUT', '/v1/audiences/partners', {
      slack: { channels: ['C0PARTNERS'] },
      webhooks: [{ url: stack.hooks.register('/partners', secret), secret }],
    });
    expect(res.statusCode).toBe(200);
  });

  afterAll(async () => {
    await stack?.stop();
  });

  describe('POST /v1/incidents', () => {
    const body = incidentBody({ title: 'Checkout errors', audiences: ['partners'] });

    it('the same key and body replay the first response, marked idempotent-replayed', async () => {
      const first = await stack.api('POST', '/v1/incidents', body, withKey('open-checkout-1'));
      expect(first.statusCode).toBe(201);
      expect(first.headers['idempotent-replayed']).toBeUndefined();
      firstId = first.json().incident.id;

      const again = await stack.api('POST', '/v1/incidents', body, withKey('open-checkout-1'));
      expect(again.statusCode).toBe(201);
      expect(again.headers['idempotent-replayed']).toBe('true');
      expect(again.headers['content-type']).toMatch(/^application\/json/);
      expect(again.json()).toEqual(first.json());
      expect(again.json().incident.id).toBe(firstId);
    });

    it('only one incident exists, and only one set of messages went out', async () => {
      expect(await incidentIds(stack)).toEqual([firstId]);
      await stack.hooks.waitFor({ path: '/partners' }, 10_000);
      await stack.slack.waitFor(1, 10_000);
      await settle(600);
      expect(hookEvents(firstId)).toHaveLength(1);
      expect(stack.slack.posts('C0PARTNERS')).toHaveLength(1);
      const deliveries = (await stack.api('GET', `/v1/incidents/${firstId}/deliveries`)).json().deliveries;
      expect(deliveries).toHaveLength(2);
    });

    it('the same key with a different body → 422 idempotency_key_reused, and nothing is opened', async () => {
      const changed = { ...body, severity: 'critical' };
      expectError(await stack.api('POST', '/v1/incidents', changed, withKey('open-checkout-1')), 422, 'idempotency_key_reused');
      expect(await incidentIds(stack)).toEqual([firstId]);
    });

    it('the same key on a different route → 422', async () => {
      const res = await stack.api('POST', `/v1/incidents/${firstId}/updates`, { message: 'x' }, withKey('open-checkout-1'));
      expectError(res, 422, 'idempotency_key_reused');
      expect((await stack.api('GET', `/v1/incidents/${firstId}`)).json().updates).toHaveLength(1);
    });

    it('keys are per token: another token with the same key and body opens its own incident', async () => {
      const other = await stack.api('POST', '/v1/incidents', body, withKey('open-checkout-1', SECOND_WRITE_TOKEN));
      expect(other.statusCode).toBe(201);
      expect(other.headers['idempotent-replayed']).toBeUndefined();
      const otherId = other.json().incident.id;
      expect(otherId).not.toBe(firstId);
      expect(other.json().update.author).toBe('deploy-bot');
      expect((await incidentIds(stack)).sort()).toEqual([firstId, otherId].sort());
      await stack.api('POST', `/v1/incidents/${otherId}/resolve`, { message: 'Duplicate, closing.' });
    });

    it('without a key the same body opens a second incident (keys are opt-in)', async () => {
      const before = await incidentIds(stack);
      const res = await stack.api('POST', '/v1/incidents', body);
      expect(res.statusCode).toBe(201);
      expect(await incidentIds(stack)).toHaveLength(before.length + 1);
      await stack.api('POST', `/v1/incidents/${res.json().incident.id}/resolve`, { message: 'Duplicate, closing.' });
    });

    it('a request refused by validation does not use the key up', async () => {
      const bad = await stack.api('POST', '/v1/incidents', { ...body, severity: 'huge' }, withKey('open-after-typo'));
      expectError(bad, 400);
      const good = await stack.api('POST', '/v1/incidents', { ...body, title: 'After a typo' }, withKey('open-after-typo'));
      expect(good.statusCode).toBe(201);
      expect(good.headers['idempotent-replayed']).toBeUndefined();
      await stack.api('POST', `/v1/incidents/${good.json().incident.id}/resolve`, { message: 'Test over.' });
    });

    it('two concurrent requests with one key open one incident', async () => {
      const before = await incidentIds(stack);
      const concurrent = { ...body, title: 'Concurrent open' };
      const answers = await Promise.all([1, 2, 3].map(() => stack.api('POST', '/v1/incidents', concurrent, withKey('open-concurrently'))));
      const created = answers.filter((a) => a.statusCode === 201);
      expect(created.length).toBeGreaterThanOrEqual(1);
      expect(new Set(created.map((a) => a.json().incident.id)).size).toBe(1);
      for (const a of answers.filter((x) => x.statusCode !== 201)) expectError(a, 409, 'idempotency_key_in_use');
      const after = await incidentIds(stack);
      expect(after).toHaveLength(before.length + 1);
      await stack.api('POST', `/v1/incidents/${created[0]!.json().incident.id}/resolve`, { message: 'Test over.' });
    });

    it('an Idempotency-Key that is not visible ASCII → 400 invalid_idempotency_key', async () => {
      const before = await incidentIds(stack);
      for (const key of ['has space', 'k'.repeat(256)]) {
        expectError(await stack.api('POST', '/v1/incidents', body, withKey(key)), 400, 'invalid_idempotency_key');
      }
      expect(await incidentIds(stack)).toEqual(before);
    });
  });

  describe('updates, resolve and audiences', () => {
    it('the same key and body on an update replay it: one update stored, one message sent', async () => {
      const incidentId = firstId;
      expect(await incidentIds(stack, '?state=open')).toEqual([incidentId]);
      const url = `/v1/incidents/${incidentId}/updates`;
      const step = { message: 'A fix is rolling out.', status: 'identified' };
      const first = await stack.api('POST', url, step, withKey('update-1'));
      expect(first.statusCode).toBe(201);
      const again = await stack.api('POST', url, step, withKey('update-1'));
      expect(again.statusCode).toBe(201);
      expect(again.headers['idempotent-replayed']).toBe('true');
      expect(again.json()).toEqual(first.json());

      const read = (await stack.api('GET', `/v1/incidents/${incidentId}`)).json();
      expect(read.updates.map((u: { id: string }) => u.id)).toEqual([expect.any(String), first.json().update.id]);
      await stack.hooks.waitFor({ path: '/partners', where: (r) => (r.body as { type: string }).type === 'incident.updated' }, 10_000);
      await settle(600);
      expect(hookEvents(incidentId).map((r) => (r.body as { type: string }).type)).toEqual(['incident.opened', 'incident.updated']);

      const different = await stack.api('POST', url, { ...step, message: 'Something else.' }, withKey('update-1'));
      expectError(different, 422, 'idempotency_key_reused');
    });

    it('a replayed resolve answers its first 201, not 409', async () => {
      const incidentId = firstId;
      const url = `/v1/incidents/${incidentId}/resolve`;
      const first = await stack.api('POST', url, { message: 'All clear.' }, withKey('resolve-1'));
      expect(first.statusCode).toBe(201);
      const again = await stack.api('POST', url, { message: 'All clear.' }, withKey('resolve-1'));
      expect(again.statusCode).toBe(201);
      expect(again.json()).toEqual(first.json());
      const read = (await stack.api('GET', `/v1/incidents/${incidentId}`)).json();
      expect(read.updates.filter((u: { kind: string }) => u.kind === 'resolved')).toHaveLength(1);
    });

    it('a replayed PUT of an audience never echoes the webhook secret', async () => {
      const audienceSecret = newWebhookSecret();
      const body = { webhooks: [{ url: stack.hooks.url('/replayed'), secret: audienceSecret }] };
      const first = await stack.api('PUT', '/v1/audiences/replayed', body, withKey('put-1'));
      const again = await stack.api('PUT', '/v1/audiences/replayed', body, withKey('put-1'));
      expect(first.statusCode).toBe(200);
      expect(again.statusCode).toBe(200);
      expect(again.headers['idempotent-replayed']).toBe('true');
      expect(first.body).not.toContain(audienceSecret);
      expect(again.body).not.toContain(audienceSecret);
    });

    it('a replayed DELETE answers its first 204, not 404', async () => {
      expect((await stack.api('PUT', '/v1/audiences/doomed', {})).statusCode).toBe(200);
      const first = await stack.api('DELETE', '/v1/audiences/doomed', undefined, withKey('delete-1'));
      expect(first.statusCode).toBe(204);
      const again = await stack.api('DELETE', '/v1/audiences/doomed', undefined, withKey('delete-1'));
      expect(again.statusCode).toBe(204);
      expect(again.headers['idempotent-replayed']).toBe('true');
      expect(again.body).toBe('');
      expectError(await stack.api('DELETE', '/v1/audiences/doomed'), 404, 'not_found');
    });

    it('a key on a reading route is ignored', async () => {
      const first = await stack.api('GET', '/v1/incidents', undefined, withKey('read-1'));
      const again = await stack.api('GET', '/v1/incidents', undefined, withKey('read-1'));
      expect(again.headers['idempotent-replayed']).toBeUndefined();
      expect(again.statusCode).toBe(first.statusCode);
    });
  });
});
