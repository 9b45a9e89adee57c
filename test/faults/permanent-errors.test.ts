/**
 * What each kind of error does to a delivery. A permanent error (Slack
 * `channel_not_found`, X 403, SMTP 550 for a recipient, webhook 400) makes it
 * `dead` at once, after one attempt, with the provider's error recorded. A
 * transient error that never clears (webhook 500) is retried, with growing
 * delays, until HERALD_RETRY_MAX_ATTEMPTS, then `dead`. Healthy targets of
 * the same update are sent. The commander hears of it ONCE per update (Slack
 * DM and email), and /metrics counts the dead ones.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newWebhookSecret } from '../fakes/webhook-receiver.js';
import { eventually, startStack, type Stack } from '../support/stack.js';
import { created, metricValue, settledDeliveries, sleep, type DeliveryView } from './support.js';

const MAX_ATTEMPTS = 3;
const BASE_DELAY_MS = 200;
/**
 * Retries due within the same second are sent together (the pipeline groups
 * them by due second), so a retry may come up to a second after its delay.
 */
const RETRY_GROUPING_MS = 1000;
const COMMANDER = { name: 'Dana', email: 'dana@corp.example', slackUserId: 'U0DANA' };

describe('given an audience where some targets refuse for good and one keeps failing', () => {
  let stack: Stack;
  let incidentId: string;
  const updateIds: string[] = [];
  const lists: DeliveryView[][] = [];

  beforeAll(async () => {
    stack = await startStack({
      xRejectDuplicates: false,
      env: { HERALD_RETRY_MAX_ATTEMPTS: String(MAX_ATTEMPTS), HERALD_RETRY_BASE_DELAY_MS: String(BASE_DELAY_MS) },
    });
    const { hooks, slack, smtp, x } = stack;
    const secrets = { good: newWebhookSecret(), bad: newWebhookSecret(), flaky: newWebhookSecret() };
    const audience = await stack.api('PUT', '/v1/audiences/partners', {
      slack: { channels: ['C0GOOD', 'C0MISSING'] },
      x: { enabled: true },
      email: { recipients: ['ok@partner.example', 'bounce@partner.example'] },
      webhooks: [
        { url: hooks.register('/good', secrets.good), secret: secrets.good },
        { url: hooks.register('/bad', secrets.bad), secret: secrets.bad },
        { url: hooks.register('/flaky', secrets.flaky), secret: secrets.flaky },
      ],
    });
    expect(audience.statusCode, audience.body).toBe(200);
    slack.respond('chat.postMessage', (call) =>
      call.params.channel === 'C0MISSING' ? { body: { ok: false, error: 'channel_not_found' } } : undefined,
    );
    x.fail(403);
    smtp.rejectRecipient('bounce@partner.example', 550);
    hooks.respond('/bad', { status: 400, body: { error: 'unknown event type' } });
    hooks.respond('/flaky', 500);

    const opened = created(
      await stack.api('POST', '/v1/incidents', {
        title: 'Invoices not generated',
        severity: 'major',
        message: 'Invoices for May are not being generated.',
        audiences: ['partners'],
        cadenceSeconds: 3600,
        commander: COMMANDER,
      }),
    );
    incidentId = opened.incident.id;
    updateIds.push(opened.update.id);
    lists.push(await settledDeliveries(stack, incidentId, { updateId: updateIds[0], count: 8, timeoutMs: 15_000 }));

    const next = created(await stack.api('POST', `/v1/incidents/${incidentId}/updates`, { message: 'A fix is being tested.', status: 'identified' }));
    updateIds.push(next.update.id);
    lists.push(await settledDeliveries(stack, incidentId, { updateId: updateIds[1], count: 8, timeoutMs: 15_000 }));
    // Room for a second alert, were one to be sent.
    await sleep(1500);
  }, 60_000);

  afterAll(async () => {
    await stack?.stop();
  });

  const find = (list: DeliveryView[], channel: string, target: (t: string) => boolean): DeliveryView => {
    const found = list.find((d) => d.channel === channel && target(d.target));
    if (found === undefined) throw new Error(`no ${channel} delivery matching in ${JSON.stringify(list.map((d) => d.target))}`);
    return found;
  };

  it('permanent errors are dead after one attempt, with the provider error recorded', () => {
    for (const list of lists) {
      const missing = find(list, 'slack', (t) => t === 'C0MISSING');
      expect(missing).toMatchObject({ state: 'dead', attempts: 1 });
      expect(missing.error).toContain('channel_not_found');
      const x = find(list, 'x', () => true);
      expect(x).toMatchObject({ state: 'dead', attempts: 1 });
      expect(x.error).toContain('403');
      const bounce = find(list, 'email', (t) => t === 'bounce@partner.example');
      expect(bounce).toMatchObject({ state: 'dead', attempts: 1 });
      expect(bounce.error).toContain('550');
      const bad = find(list, 'webhook', (t) => t.endsWith('/bad'));
      expect(bad).toMatchObject({ state: 'dead', attempts: 1 });
      expect(bad.error).toContain('400');
    }
    // Asked once per update, never again.
    expect(stack.hooks.received('/bad')).toHaveLength(2);
    expect(stack.smtp.for('bounce@partner.example')).toHaveLength(0);
    const refusedTweets = stack.x.requests.filter((r) => r.method === 'POST' && r.path.startsWith('/2/tweets'));
    expect(refusedTweets).toHaveLength(2);
    const toMissing = stack.slack.calls.filter((c) => c.method === 'chat.postMessage' && c.params.channel === 'C0MISSING');
    expect(toMissing).toHaveLength(2);
  });

  it('a webhook answering 500 forever is tried HERALD_RETRY_MAX_ATTEMPTS times, backing off, under one webhook-id, then dead', () => {
    const requests = stack.hooks.received('/flaky');
    expect(requests).toHaveLength(2 * MAX_ATTEMPTS);
    lists.forEach((list, i) => {
      const flaky = find(list, 'webhook', (t) => t.endsWith('/flaky'));
      expect(flaky).toMatchObject({ state: 'dead', attempts: MAX_ATTEMPTS });
      expect(flaky.error).toContain('500');
      const tries = requests.filter((r) => (r.body as { update: { id: string } }).update.id === updateIds[i]);
      expect(tries).toHaveLength(MAX_ATTEMPTS);
      expect(new Set(tries.map((r) => r.webhookId))).toEqual(new Set([flaky.id]));
      // Before attempt n+1: between half and all of base·2^(n-1), plus the grouping second.
      for (let n = 1; n < tries.length; n++) {
        const gap = tries[n]!.receivedAt - tries[n - 1]!.receivedAt;
        const full = BASE_DELAY_MS * 2 ** (n - 1);
        expect(gap, `delay before attempt ${n + 1}`).toBeGreaterThanOrEqual(full / 2);
        expect(gap, `delay before attempt ${n + 1}`).toBeLessThanOrEqual(full + RETRY_GROUPING_MS + 500);
      }
    });
  });

  it('the healthy targets of the same updates are sent', () => {
    for (const list of lists) {
      for (const d of [
        find(list, 'slack', (t) => t === 'C0GOOD'),
        find(list, 'email', (t) => t === 'ok@partner.example'),
        find(list, 'webhook', (t) => t.endsWith('/good')),
      ]) {
        expect(d).toMatchObject({ state: 'sent', attempts: 1, error: null });
      }
    }
    expect(stack.slack.posts('C0GOOD')).toHaveLength(2);
    expect(stack.smtp.for('ok@partner.example')).toHaveLength(2);
    expect(stack.hooks.received('/good')).toHaveLength(2);
  });

  it('the commander receives ONE delivery-failed alert per update, by Slack DM and by email', () => {
    const dms = stack.slack.posts(COMMANDER.slackUserId);
    const mails = stack.smtp.for(COMMANDER.email);
    expect(dms.map((p) => p.text.slice(0, 120)), 'Slack DMs to the commander').toHaveLength(2);
    expect(mails.map((m) => m.subject), 'emails to the commander').toHaveLength(2);
    for (const text of [...dms.map((p) => p.text), ...mails.map((m) => `${m.subject}\n${m.text}`)]) {
      expect(text).toContain('Invoices not generated');
      expect(text).toMatch(/deliver/i);
    }
    // One for each update: the second alert quotes the second update.
    expect(dms.some((p) => p.text.includes('A fix is being tested.'))).toBe(true);
    expect(mails.some((m) => m.text.includes('A fix is being tested.'))).toBe(true);
    // To the commander only: nothing of it went to the audience.
    expect(stack.slack.posts('C0GOOD').some((p) => /could not be delivered/i.test(p.text))).toBe(false);
  });

  it('/metrics counts the dead deliveries by channel', async () => {
    // Each process adds its counts to the shared counters once a second.
    const counted = (body: string, state: string, channels: string[]) =>
      Object.fromEntries(channels.map((channel) => [channel, metricValue(body, 'herald_deliveries_total', { channel, state })]));
    const expected = { dead: { slack: 2, x: 2, email: 2, webhook: 4 }, sent: { slack: 2, email: 2, webhook: 2 } };
    const body = await eventually(async () => {
      const res = await stack.api('GET', '/metrics', undefined, { token: null });
      expect(res.statusCode).toBe(200);
      const now = { dead: counted(res.body, 'dead', ['slack', 'x', 'email', 'webhook']), sent: counted(res.body, 'sent', ['slack', 'email', 'webhook']) };
      return JSON.stringify(now) === JSON.stringify(expected) ? res.body : undefined;
    }, 10_000, 'the delivery counters').catch(() => undefined);
    const res = body ?? (await stack.api('GET', '/metrics', undefined, { token: null })).body;
    expect({ dead: counted(res, 'dead', ['slack', 'x', 'email', 'webhook']), sent: counted(res, 'sent', ['slack', 'email', 'webhook']) }).toEqual(expected);
  });
});
