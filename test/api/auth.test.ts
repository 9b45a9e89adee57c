/**
 * Contract §3: every /v1 request carries `Authorization: Bearer <token>`;
 * none or unknown → 401, a read token on a writing route → 403. The
 * operations endpoints need no token.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { READ_TOKEN, WRITE_TOKEN, startStack, type Stack } from '../support/stack.js';
import { expectError, incidentBody, incidentIds, openIncident } from './helpers.js';

describe('API authentication and scopes', () => {
  let stack: Stack;
  let incidentId: string;

  /** Every writing route, with a body that would succeed under a write token. */
  let writingRoutes: Array<{ method: string; url: string; body?: unknown }>;
  /** Every reading route, including the preview. */
  let readingRoutes: Array<{ method: string; url: string; body?: unknown }>;

  beforeAll(async () => {
    stack = await startStack();
    expect((await stack.api('PUT', '/v1/audiences/partners', { webhooks: [] })).statusCode).toBe(200);
    incidentId = (await openIncident(stack, { audiences: ['partners'] })).incident.id;
    writingRoutes = [
      // In an order in which each succeeds under a write token.
      { method: 'PUT', url: '/v1/audiences/newcomers', body: { x: { enabled: false } } },
      { method: 'POST', url: '/v1/incidents', body: incidentBody({ audiences: ['partners'] }) },
      { method: 'POST', url: `/v1/incidents/${incidentId}/updates`, body: { message: 'A fix is rolling out.' } },
      { method: 'PATCH', url: `/v1/incidents/${incidentId}`, body: { title: 'Renamed' } },
      { method: 'POST', url: `/v1/incidents/${incidentId}/resolve`, body: { message: 'Back to normal.' } },
      { method: 'DELETE', url: '/v1/audiences/partners' },
    ];
    readingRoutes = [
      { method: 'GET', url: '/v1/audiences' },
      { method: 'GET', url: '/v1/audiences/partners' },
      { method: 'GET', url: '/v1/incidents' },
      { method: 'GET', url: '/v1/incidents?state=open' },
      { method: 'GET', url: `/v1/incidents/${incidentId}` },
      { method: 'GET', url: `/v1/incidents/${incidentId}/deliveries` },
      { method: 'POST', url: '/v1/preview', body: incidentBody() },
    ];
  });

  afterAll(async () => {
    await stack?.stop();
  });

  it('without an Authorization header every /v1 route answers 401 unauthorized', async () => {
    for (const route of [...writingRoutes, ...readingRoutes]) {
      const res = await stack.api(route.method, route.url, route.body, { token: null });
      expectError(res, 401, 'unauthorized');
    }
  });

  it('with an unknown bearer token every /v1 route answers 401 unauthorized', async () => {
    for (const route of [...writingRoutes, ...readingRoutes]) {
      const res = await stack.api(route.method, route.url, route.body, { token: 'not-a-token-we-issued' });
      expectError(res, 401, 'unauthorized');
    }
  });

  it('HEAD of a reading route needs a token too', async () => {
    for (const url of ['/v1/incidents', '/v1/audiences', `/v1/incidents/${incidentId}`]) {
      expect((await stack.api('HEAD', url, undefined, { token: null })).statusCode, url).toBe(401);
      expect((await stack.api('HEAD', url, undefined, { token: READ_TOKEN })).statusCode, url).toBe(200);
    }
  });

  it('a malformed Authorization header is refused with 401, whatever token it carries', async () => {
    const malformed = [
      'Bearer',
      'Bearer ',
      WRITE_TOKEN,
      `Basic ${Buffer.from(`ops:${WRITE_TOKEN}`).toString('base64')}`,
      `Token ${WRITE_TOKEN}`,
      `Bearer ${WRITE_TOKEN} ${READ_TOKEN}`,
      `Bearer ${WRITE_TOKEN}x`,
      `Bearer ${WRITE_TOKEN.slice(0, -1)}`,
      `Bearer${WRITE_TOKEN}`,
    ];
    for (const header of malformed) {
      const res = await stack.api('GET', '/v1/incidents', undefined, { token: null, headers: { authorization: header } });
      expectError(res, 401, 'unauthorized');
    }
  });

  it('a read token on any writing route is refused with 403 forbidden, and nothing is written', async () => {
    const before = (await stack.api('GET', `/v1/incidents/${incidentId}`)).json();
    for (const route of writingRoutes) {
      const res = await stack.api(route.method, route.url, route.body, { token: READ_TOKEN });
      expectError(res, 403, 'forbidden');
    }
    // No audience was created or deleted, no incident opened, the incident untouched.
    expect((await stack.api('GET', '/v1/audiences/newcomers')).statusCode).toBe(404);
    expect((await stack.api('GET', '/v1/audiences/partners')).statusCode).toBe(200);
    expect(await incidentIds(stack)).toEqual([incidentId]);
    const after = (await stack.api('GET', `/v1/incidents/${incidentId}`)).json();
    expect(after).toEqual(before);
  });

  it('a read token is refused on a writing route before its body is looked at', async () => {
    const res = await stack.api('POST', '/v1/incidents', '{not json', { token: READ_TOKEN });
    expectError(res, 403, 'forbidden');
  });

  it('a read token may use every reading route and the preview', async () => {
    for (const route of readingRoutes) {
      const res = await stack.api(route.method, route.url, route.body, { token: READ_TOKEN });
      expect(res.statusCode, `${route.method} ${route.url}: ${res.body.slice(0, 200)}`).toBe(200);
    }
  });

  it('the write token may use the writing routes', async () => {
    for (const route of writingRoutes) {
      const res = await stack.api(route.method, route.url, route.body, { token: WRITE_TOKEN });
      expect(res.statusCode, `${route.method} ${route.url}: ${res.body.slice(0, 200)}`).toBeLessThan(300);
    }
  });

  it('/healthz, /readyz and /metrics answer without a token', async () => {
    for (const url of ['/healthz', '/readyz', '/metrics']) {
      const res = await stack.api('GET', url, undefined, { token: null });
      expect(res.statusCode, url).toBe(200);
    }
  });

  it('an unknown route answers 404 in the error shape', async () => {
    expectError(await stack.api('GET', '/v1/nothing-here'), 404, 'not_found');
  });
});
