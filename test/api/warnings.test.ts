/**
 * A broadcast that reaches nobody still answers 201, but says why nobody
 * will hear it (contract §3): a typo in `components` must not pass silently.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStack, type Stack } from '../support/stack.js';
import { incidentBody, openIncident } from './helpers.js';

interface Answer {
  deliveries: { planned: number };
  warnings?: string[];
}

describe('given audiences that listen to some components', () => {
  let stack: Stack;

  beforeAll(async () => {
    stack = await startStack();
    for (const [name, body] of Object.entries({
      'email-partners': { email: { recipients: ['ops@partner.example'] }, components: ['email'] },
      'api-partners': { slack: { channels: ['C0API'] }, components: ['api'] },
    })) {
      expect((await stack.api('PUT', `/v1/audiences/${name}`, body)).statusCode).toBe(200);
    }
  }, 30_000);

  afterAll(async () => {
    await stack?.stop();
  });

  it('an incident whose components no audience matches answers 201 with a warning naming them', async () => {
    const body = (await openIncident(stack, { components: ['emial'] })) as Answer;
    expect(body.deliveries.planned).toBe(0);
    expect(body.warnings).toHaveLength(1);
    expect(body.warnings![0]).toMatch(/no audience matched the components "emial"/);
    expect(body.warnings![0]).toContain('"api", "email"');
  });

  it('an incident that reaches someone has no warnings key', async () => {
    const body = (await openIncident(stack, { components: ['email'] })) as Answer;
    expect(body.deliveries.planned).toBe(1);
    expect(body).not.toHaveProperty('warnings');
  });

  it('updates and the resolution of an incident that reaches nobody warn too', async () => {
    const { incident } = await openIncident(stack, { components: ['emial'] });
    const update = await stack.api('POST', `/v1/incidents/${incident.id}/updates`, { message: 'Still looking.' });
    expect(update.statusCode).toBe(201);
    expect((update.json() as Answer).warnings?.[0]).toMatch(/no audience matched the components "emial"/);
    const resolved = await stack.api('POST', `/v1/incidents/${incident.id}/resolve`, { message: 'Fixed.' });
    expect(resolved.statusCode).toBe(201);
    expect((resolved.json() as Answer).warnings?.[0]).toMatch(/no audience matched the components "emial"/);
  });

  it('a named audience whose only targets are on a disabled channel names the channel and its missing setting', async () => {
    // Named, not matched: their component is one no other test touches.
    await stack.api('PUT', '/v1/audiences/x-only', { x: { enabled: true }, components: ['status-feed'] });
    await stack.api('PUT', '/v1/audiences/empty', { components: ['status-feed'] });
    // The same Herald data, served by a process without X credentials.
    const quiet = await startStack({ env: { ...stack.env, X_APP_KEY: '', X_APP_SECRET: '', X_ACCESS_TOKEN: '', X_ACCESS_SECRET: '' } });
    try {
      const res = await quiet.api('POST', '/v1/incidents', incidentBody({ audiences: ['x-only', 'empty'] }));
      expect(res.statusCode, res.body).toBe(201);
      const body = res.json() as Answer;
      expect(body.deliveries.planned).toBe(0);
      expect(body.warnings).toEqual([
        expect.stringMatching(/"x-only".*disabled channels: x \(X_APP_KEY.*not set\)/),
        expect.stringMatching(/"empty".*has no targets/),
      ]);
    } finally {
      await quiet.stop();
    }
  });

  it('an audience deleted after the incident opened is named in the warning of its next update', async () => {
    await stack.api('PUT', '/v1/audiences/short-lived', { email: { recipients: ['brief@partner.example'] }, components: ['status-feed'] });
    const { incident } = await openIncident(stack, { audiences: ['short-lived'] });
    expect((await stack.api('DELETE', '/v1/audiences/short-lived')).statusCode).toBeLessThan(300);
    const res = await stack.api('POST', `/v1/incidents/${incident.id}/updates`, { message: 'Next.' });
    expect(res.statusCode).toBe(201);
    expect((res.json() as Answer).warnings).toEqual([expect.stringMatching(/"short-lived".*no longer exists/)]);
  });

  it('a maintenance that reaches nobody warns as well', async () => {
    const startsAt = new Date(Date.now() + 3_600_000).toISOString();
    const endsAt = new Date(Date.now() + 7_200_000).toISOString();
    const res = await stack.api('POST', '/v1/maintenances', {
      title: 'Database upgrade',
      message: 'Writes may fail for a few minutes.',
      components: ['databse'],
      startsAt,
      endsAt,
    });
    expect(res.statusCode, res.body).toBe(201);
    expect((res.json() as Answer).warnings?.[0]).toMatch(/no audience matched the components "databse"/);
  });

  it('an idempotent replay answers the same warnings', async () => {
    const headers = { 'idempotency-key': 'warn-replay-1' };
    const body = incidentBody({ components: ['emial'] });
    const first = await stack.api('POST', '/v1/incidents', body, { headers });
    const again = await stack.api('POST', '/v1/incidents', body, { headers });
    expect(first.statusCode).toBe(201);
    expect(again.statusCode).toBe(201);
    expect(again.json()).toEqual(first.json());
    expect((again.json() as Answer).warnings).toHaveLength(1);
  });
});
