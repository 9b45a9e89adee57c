/**
 * Contract §3: an incident opened without `audiences` goes to every audience
 * whose `components` match, or that has none; named audiences are taken as
 * named. A target in two audiences hears each update once.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newWebhookSecret } from '../fakes/webhook-receiver.js';
import { startStack, type Stack } from '../support/stack.js';
import { openIncident, settle } from './helpers.js';

describe('given audiences limited to components, when incidents are opened without naming audiences', () => {
  let stack: Stack;
  const secrets = { apiOnly: newWebhookSecret(), all: newWebhookSecret() };
  const opened: Array<{ id: string; audiences: string[]; planned: number }> = [];

  const open = async (overrides: Record<string, unknown>) => {
    const { incident, deliveries } = await openIncident(stack, { cadenceSeconds: 3600, ...overrides });
    const read = (await stack.api('GET', `/v1/incidents/${incident.id}`)).json();
    opened.push({ id: incident.id, audiences: read.audiences, planned: deliveries.planned });
    expect(incident.audiences).toEqual(read.audiences);
    return opened.at(-1)!;
  };

  beforeAll(async () => {
    stack = await startStack();
    const put = async (name: string, body: unknown) => expect((await stack.api('PUT', `/v1/audiences/${name}`, body)).statusCode).toBe(200);
    await put('api-only', { components: ['api'], webhooks: [{ url: stack.hooks.register('/api-only', secrets.apiOnly), secret: secrets.apiOnly }] });
    await put('email-only', { components: ['email'], slack: { channels: ['C0EMAIL'] }, email: { recipients: ['ops@partner.example'] } });
    await put('everything', { x: { enabled: true }, webhooks: [{ url: stack.hooks.register('/all', secrets.all), secret: secrets.all }] });
    // C0EMAIL is in two audiences: it must hear each update once.
    await put('both', { components: ['api', 'email'], slack: { channels: ['C0BOTH', 'C0EMAIL'] } });
  });

  afterAll(async () => {
    await stack?.stop();
  });

  it('components ["email"] → the email audiences and the unrestricted one; a shared Slack channel is planned once', async () => {
    const incident = await open({ components: ['email'] });
    expect([...incident.audiences].sort()).toEqual(['both', 'email-only', 'everything']);
    // C0EMAIL, ops@ (email-only) + X, /all (everything) + C0BOTH (both; C0EMAIL already counted)
    expect(incident.planned).toBe(5);
  });

  it('components ["api"] → the api audiences and the unrestricted one', async () => {
    const incident = await open({ components: ['api'] });
    expect([...incident.audiences].sort()).toEqual(['api-only', 'both', 'everything']);
    // /api-only + C0BOTH, C0EMAIL + X, /all
    expect(incident.planned).toBe(5);
  });

  it('no components → only the audiences that have no components', async () => {
    const incident = await open({ components: [] });
    expect(incident.audiences).toEqual(['everything']);
    expect(incident.planned).toBe(2);
  });

  it('a component nobody listed → only the unrestricted audience', async () => {
    const incident = await open({ components: ['billing'] });
    expect(incident.audiences).toEqual(['everything']);
    expect(incident.planned).toBe(2);
  });

  it('named audiences are taken as named, whatever the components', async () => {
    const incident = await open({ components: ['email'], audiences: ['api-only'] });
    expect(incident.audiences).toEqual(['api-only']);
    expect(incident.planned).toBe(1);
  });

  it('what reached the fakes matches what was planned, target by target', async () => {
    await Promise.all([
      stack.hooks.waitFor({ path: '/all', count: 4 }, 10_000),
      stack.hooks.waitFor({ path: '/api-only', count: 2 }, 10_000),
      stack.slack.waitFor((f) => f.posts('C0EMAIL').length >= 2 && f.posts('C0BOTH').length >= 2, 10_000),
      stack.x.waitFor(4, 10_000),
      stack.smtp.waitFor({ to: 'ops@partner.example' }, 10_000),
    ]);
    await settle();
    const incidentOf = (body: unknown) => (body as { incident: { id: string } }).incident.id;
    const [emailIncident, apiIncident, bare, billing, named] = opened.map((o) => o.id);
    // Different incidents are independent conversations: their order across incidents is not promised.
    const incidentsAt = (path: string) => stack.hooks.received(path).map((r) => incidentOf(r.body)).sort();
    expect(incidentsAt('/all')).toEqual([emailIncident, apiIncident, bare, billing].sort());
    expect(incidentsAt('/api-only')).toEqual([apiIncident, named].sort());
    expect(stack.slack.posts('C0EMAIL')).toHaveLength(2);
    expect(stack.slack.posts('C0BOTH')).toHaveLength(2);
    expect(stack.x.posts).toHaveLength(4);
    expect(stack.smtp.messages).toHaveLength(1);
    expect(stack.smtp.messages[0]!.envelopeTo).toEqual(['ops@partner.example']);
    const totalPlanned = opened.reduce((sum, o) => sum + o.planned, 0);
    const totalSent = stack.hooks.received().length + stack.slack.posts().length + stack.x.posts.length + stack.smtp.messages.length;
    expect(totalSent).toBe(totalPlanned);
  });
});
