/**
 * Issue 9: bounded sizes. How many audiences may exist, how many targets one
 * audience may name, and how many bytes an Idempotency-Key may keep — each
 * set by the environment, each over-limit answer a 4xx naming the limit and
 * its setting, and nothing done for a refused request.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newWebhookSecret } from '../fakes/webhook-receiver.js';
import { startStack, type Stack } from '../support/stack.js';
import { expectError, fieldsNamed, incidentBody, incidentIds } from './helpers.js';

const HOUR = 3_600_000;
const at = (msFromNow: number) => new Date(Date.now() + msFromNow).toISOString();

describe('given HERALD_MAX_AUDIENCES=3 and HERALD_MAX_TARGETS_PER_AUDIENCE=5', () => {
  let stack: Stack;
  const secret = newWebhookSecret();
  const names = async () => ((await stack.api('GET', '/v1/audiences')).json().audiences as Array<{ name: string }>).map((a) => a.name);

  beforeAll(async () => {
    stack = await startStack({ env: { HERALD_MAX_AUDIENCES: '3', HERALD_MAX_TARGETS_PER_AUDIENCE: '5' } });
  });

  afterAll(async () => {
    await stack?.stop();
  });

  it('a fourth audience → 409 limit_exceeded naming the setting; replacing one of the three is fine', async () => {
    for (const name of ['alpha', 'bravo', 'charlie']) expect((await stack.api('PUT', `/v1/audiences/${name}`, {})).statusCode).toBe(200);
    const error = expectError(await stack.api('PUT', '/v1/audiences/delta', {}), 409, 'limit_exceeded');
    expect(error.message).toContain('HERALD_MAX_AUDIENCES');
    expect(error.message).toContain('3');
    expect(error.details).toMatchObject({ limit: 'HERALD_MAX_AUDIENCES', max: 3 });
    expect((await stack.api('PUT', '/v1/audiences/charlie', { x: { enabled: true } })).statusCode).toBe(200);
    expect(await names()).toEqual(['alpha', 'bravo', 'charlie']);
  });

  it('once one is deleted, concurrent PUTs of new audiences create exactly one', async () => {
    expect((await stack.api('DELETE', '/v1/audiences/alpha')).statusCode).toBe(204);
    const answers = await Promise.all(['d1', 'd2', 'd3', 'd4', 'd5', 'd6'].map((n) => stack.api('PUT', `/v1/audiences/${n}`, {})));
    expect(answers.filter((r) => r.statusCode === 200)).toHaveLength(1);
    for (const res of answers.filter((r) => r.statusCode !== 200)) expectError(res, 409, 'limit_exceeded');
    expect(await names()).toHaveLength(3);
  });

  it('an audience of 6 targets → 413 limit_exceeded naming the setting, nothing stored; 5 targets are fine', async () => {
    const six = {
      slack: { channels: ['C01', 'C02'] },
      x: { enabled: true },
      email: { recipients: ['a@partner.example', 'b@partner.example'] },
      webhooks: [{ url: stack.hooks.url('/six'), secret }],
      components: ['api', 'email', 'web', 'db', 'queue', 'cdn'],
    };
    const error = expectError(await stack.api('PUT', '/v1/audiences/bravo', six), 413, 'limit_exceeded');
    expect(error.message).toContain('HERALD_MAX_TARGETS_PER_AUDIENCE');
    expect(error.details).toMatchObject({ limit: 'HERALD_MAX_TARGETS_PER_AUDIENCE', max: 5, actual: 6 });
    expect((await stack.api('GET', '/v1/audiences/bravo')).json().slack).toBeUndefined();
    const five = { ...six, x: { enabled: false } };
    expect((await stack.api('PUT', '/v1/audiences/bravo', five)).statusCode).toBe(200);
  });
});

describe('given HERALD_IDEMPOTENCY_MAX_BYTES=2048', () => {
  let stack: Stack;
  const secret = newWebhookSecret();
  const withKey = (key: string) => ({ headers: { 'idempotency-key': key } });

  beforeAll(async () => {
    stack = await startStack({ env: { HERALD_IDEMPOTENCY_MAX_BYTES: '2048' } });
    const res = await stack.api('PUT', '/v1/audiences/partners', { webhooks: [{ url: stack.hooks.register('/partners', secret), secret }] });
    expect(res.statusCode).toBe(200);
  });

  afterAll(async () => {
    await stack?.stop();
  });

  it('a request with a key and a larger body → 413 naming the setting, before anything is stored or sent', async () => {
    const large = incidentBody({ title: 'Large', message: 'x'.repeat(3000), audiences: ['partners'] });
    const error = expectError(await stack.api('POST', '/v1/incidents', large, withKey('large-1')), 413, 'limit_exceeded');
    expect(fieldsNamed(error)).toContain('HERALD_IDEMPOTENCY_MAX_BYTES');
    expect(error.details).toMatchObject({ limit: 'HERALD_IDEMPOTENCY_MAX_BYTES', max: 2048 });
    expect(await incidentIds(stack)).toEqual([]);

    // The key was not used up, and the body without a key is fine: only that one reaches the partner.
    const small = await stack.api('POST', '/v1/incidents', incidentBody({ title: 'Small', audiences: ['partners'] }), withKey('large-1'));
    expect(small.statusCode, small.body).toBe(201);
    const unkeyed = await stack.api('POST', '/v1/incidents', large);
    expect(unkeyed.statusCode, unkeyed.body).toBe(201);
    const received = await stack.hooks.waitFor({ path: '/partners', count: 2 }, 15_000);
    expect(received.map((r) => (r.body as { incident: { title: string } }).incident.title).sort()).toEqual(['Large', 'Small']);
  });

  it('an answer that grew larger than the bound is not kept: a retry with the key is told 409, and nothing runs twice', async () => {
    // The answer carries the message three times (the maintenance, its timeline, the update): over 2,048 bytes.
    const body = { title: 'Database upgrade', message: 'y'.repeat(900), audiences: ['partners'], startsAt: at(10 * HOUR), endsAt: at(11 * HOUR) };
    const first = await stack.api('POST', '/v1/maintenances', body, withKey('mnt-1'));
    expect(first.statusCode, first.body).toBe(201);
    expect(first.body.length).toBeGreaterThan(2048);
    const retry = await stack.api('POST', '/v1/maintenances', body, withKey('mnt-1'));
    const error = expectError(retry, 409, 'idempotency_answer_not_kept');
    expect(error.message).toContain('HERALD_IDEMPOTENCY_MAX_BYTES');
    expect(error.details).toMatchObject({ statusCode: 201 });
    const maintenances = (await stack.api('GET', '/v1/maintenances')).json().maintenances as unknown[];
    expect(maintenances).toHaveLength(1);
    // A different body under the key is still a mismatch.
    expectError(await stack.api('POST', '/v1/maintenances', { ...body, title: 'Other' }, withKey('mnt-1')), 422);
  });
});
