/**
 * Isolation under sustained failure: while Slack answers 500 to everything,
 * and then never answers at all, update after update, email and webhook
 * delivery stays as fast as it was with Slack healthy.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { newWebhookSecret } from '../fakes/webhook-receiver.js';
import { startStack, type Stack } from '../support/stack.js';
import { created, deliveriesOf, sleep, type DeliveryView } from './support.js';

/**
 * An absolute, generous bound: locally an update reaches email and webhooks
 * in tens of milliseconds; a channel waiting on Slack's retries (200 ms and
 * up) or timeouts (1 s each) would blow well past it within a few updates.
 */
const LATENCY_BOUND_MS = 2000;
const RECIPIENTS = ['ops@partner.example', 'cto@other.example'];
const HOOK_PATHS = ['/blog', '/partner'];
/** Updates come this far apart, so Slack's retries and hung calls overlap them: about 4 s of fault in all. */
const SPACING_MS = 400;

describe('given Slack failing throughout several updates', () => {
  let stack: Stack;

  afterAll(async () => {
    await stack?.stop();
  });

  it('email and webhook latency stays as it was without the fault', async () => {
    stack = await startStack({
      env: { HERALD_HTTP_TIMEOUT_MS: '1000', HERALD_RETRY_BASE_DELAY_MS: '200', HERALD_RETRY_MAX_ATTEMPTS: '100' },
    });
    const s = stack;
    const webhooks = HOOK_PATHS.map((path) => {
      const secret = newWebhookSecret();
      return { url: s.hooks.register(path, secret), secret };
    });
    const audience = await s.api('PUT', '/v1/audiences/partners', { slack: { channels: ['C0STATUS'] }, email: { recipients: RECIPIENTS }, webhooks });
    expect(audience.statusCode).toBe(200);

    let posted = 0;
    /**
     * Posts an update (to `incidentId`, or opens a new incident) and returns
     * how long until every email recipient and webhook target had it.
     */
    const timed = async (message: string, incidentId?: string): Promise<{ id: string; ms: number }> => {
      const postedAt = Date.now();
      posted += 1;
      const id =
        incidentId === undefined
          ? created(await s.api('POST', '/v1/incidents', { title: 'Sync delayed', severity: 'major', message, audiences: ['partners'] })).incident.id
          : (created(await s.api('POST', `/v1/incidents/${incidentId}/updates`, { message })), incidentId);
      const arrivals = await Promise.all([
        ...RECIPIENTS.map(async (to) => (await s.smtp.waitFor({ to, count: posted }, 10_000))[posted - 1]!.receivedAt),
        ...HOOK_PATHS.map(async (path) => (await s.hooks.waitFor({ path, count: posted }, 10_000))[posted - 1]!.receivedAt),
      ]);
      return { id, ms: Math.max(...arrivals) - postedAt };
    };

    const baseline = await timed('Baseline: Slack is healthy.');
    await s.slack.waitFor(1, 5000);

    // Slack answers 500 to everything: the incident's Slack lane retries while its updates keep coming.
    s.slack.failHttp(500);
    const whileFailing: number[] = [];
    for (const n of [1, 2, 3]) {
      await sleep(SPACING_MS);
      whileFailing.push((await timed(`Slack answers 500 (${n}).`, baseline.id)).ms);
    }
    const failedCalls = s.slack.calls.filter((c) => c.response?.status === 500).length;

    // Slack never answers: new incidents (fresh Slack lanes) each leave a call hanging for the
    // 1 s timeout, and their next updates come while those calls still hang.
    s.slack.reset();
    s.slack.hang();
    const whileHanging: number[] = [];
    const hanging: string[] = [];
    for (const n of [1, 2, 3]) {
      await sleep(SPACING_MS);
      const { id, ms } = await timed(`Slack hangs: incident ${n}.`);
      hanging.push(id);
      whileHanging.push(ms);
    }
    for (const id of hanging) {
      await sleep(SPACING_MS);
      whileHanging.push((await timed('Slack still hangs.', id)).ms);
    }
    const hungCalls = s.slack.calls.filter((c) => c.method === 'chat.postMessage' && c.response === undefined).length;

    const report = `baseline ${baseline.ms} ms; Slack 500: ${whileFailing.join(', ')} ms; Slack hanging: ${whileHanging.join(', ')} ms`;
    for (const ms of [...whileFailing, ...whileHanging]) expect(ms, report).toBeLessThan(Math.max(LATENCY_BOUND_MS, 4 * baseline.ms));

    // The fault was real: Slack was called and failed throughout, and no Slack delivery but the first was sent.
    expect(failedCalls, 'calls Slack answered with 500').toBeGreaterThan(0);
    expect(hungCalls, 'calls Slack never answered').toBeGreaterThanOrEqual(2);
    const slackSent: DeliveryView[] = [];
    for (const id of [baseline.id, ...hanging]) {
      slackSent.push(...(await deliveriesOf(s, id)).filter((d) => d.channel === 'slack' && d.state === 'sent'));
    }
    expect(slackSent).toHaveLength(1);
    // Every update reached email and webhooks, once each.
    for (const to of RECIPIENTS) expect(s.smtp.for(to)).toHaveLength(posted);
    for (const path of HOOK_PATHS) expect(new Set(s.hooks.received(path).map((r) => r.webhookId)).size).toBe(posted);
    expect(s.hooks.received()).toHaveLength(posted * HOOK_PATHS.length);
  }, 60_000);
});
