/**
 * Operators see deliveries in trouble at the default log level: each failed
 * attempt and each delivery that goes dead is a `warn` line naming the
 * delivery, incident, update, channel, attempts and error, with the target
 * redacted — a webhook URL shown as a read token sees it (origin and first
 * path segment), a recipient's address as `o***@domain` — and nothing of a
 * webhook's capability path or query in the error either, even when the
 * receiver quotes it back.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newWebhookSecret } from '../fakes/webhook-receiver.js';
import { captureLogs, startStack, type CapturedLogLine, type LogCapture, type Stack } from '../support/stack.js';

/** pino's level number for `warn`. */
const WARN = 40;
const CAPABILITY_PATH = '/hooks/T0CAPA/B0CAPB/cap-in-path-0123';
const CAPABILITY_QUERY = 'token=cap-in-query-4567';
const RECIPIENT = 'ops.lead@partner.example';

describe('given a webhook that answers 500 then 400, and a recipient the mail server refuses', () => {
  let stack: Stack;
  let logs: LogCapture;
  let incidentId: string;
  let updateId: string;
  let origin: string;
  const secret = newWebhookSecret();
  let failedLines: CapturedLogLine[];
  let deadLines: CapturedLogLine[];

  beforeAll(async () => {
    logs = captureLogs();
    // LOG_LEVEL as an operator leaves it.
    stack = await startStack({ env: { LOG_LEVEL: 'info', HERALD_RETRY_BASE_DELAY_MS: '100', HERALD_RETRY_MAX_ATTEMPTS: '5' }, logs: logs.stream });
    const { hooks, smtp } = stack;
    origin = hooks.origin;
    const url = `${hooks.register(CAPABILITY_PATH, secret)}?${CAPABILITY_QUERY}`;
    // A receiver that quotes the URL it was called on, as some frameworks' error pages do.
    hooks.respond(CAPABILITY_PATH, [
      { status: 500, body: `no route for ${CAPABILITY_PATH}?${CAPABILITY_QUERY}` },
      { status: 400, body: { error: `unknown event type at ${url}` } },
    ]);
    smtp.rejectRecipient(RECIPIENT, 550);
    const audience = await stack.api('PUT', '/v1/audiences/partners', { email: { recipients: [RECIPIENT] }, webhooks: [{ url, secret }] });
    expect(audience.statusCode, audience.body).toBe(200);

    const res = await stack.api('POST', '/v1/incidents', {
      title: 'Invoices not generated',
      severity: 'major',
      message: 'Invoices for May are not being generated.',
      audiences: ['partners'],
      cadenceSeconds: 3600,
    });
    expect(res.statusCode, res.body).toBe(201);
    ({ incident: { id: incidentId }, update: { id: updateId } } = res.json() as { incident: { id: string }; update: { id: string } });

    deadLines = await logs.waitFor((l) => l.msg === 'delivery dead: gave up', 2, 20_000);
    failedLines = logs.lines().filter((l) => l.msg === 'delivery attempt failed; will retry');
  }, 60_000);

  afterAll(async () => {
    await stack?.stop();
  });

  it('logs the failed attempt at warn: ids, channel, redacted target, attempts, error, when it is retried', () => {
    expect(failedLines).toHaveLength(1);
    const [line] = failedLines;
    expect(line).toMatchObject({
      level: WARN,
      incidentId,
      updateId,
      channel: 'webhook',
      target: `${origin}/hooks/…`,
      attempts: 1,
    });
    expect(line!.deliveryId).toMatch(/^dlv_/);
    expect(line!.error).toMatch(/answered 500/);
    expect(typeof line!.retryAt).toBe('string');
  });

  it('logs each dead delivery once at warn: the webhook after its 400, the refused recipient with a masked address', () => {
    const byChannel = Object.fromEntries(deadLines.map((l) => [l.channel, l]));
    expect(deadLines).toHaveLength(2);
    expect(byChannel.webhook).toMatchObject({ level: WARN, incidentId, updateId, target: `${origin}/hooks/…`, attempts: 2 });
    expect(byChannel.webhook!.error).toMatch(/answered 400/);
    expect(byChannel.email).toMatchObject({ level: WARN, incidentId, updateId, target: 'o***@partner.example', attempts: 1 });
    expect(byChannel.email!.error).toMatch(/550/);
    // The delivery id an operator reads is the one the API lists.
    expect(failedLines[0]!.deliveryId).toBe(byChannel.webhook!.deliveryId);
  });

  it("never logs the webhook's capability path or query, its secret, or the recipient's whole address", async () => {
    const deliveries = (await stack.api('GET', `/v1/incidents/${incidentId}/deliveries`)).json() as { deliveries: Array<{ state: string }> };
    expect(deliveries.deliveries.map((d) => d.state)).toEqual(['dead', 'dead']);
    const text = logs.text();
    for (const secretPart of ['T0CAPA', 'B0CAPB', 'cap-in-path-0123', 'cap-in-query-4567', secret, secret.slice('whsec_'.length), RECIPIENT, 'ops.lead']) {
      expect(text, `the logs contain ${secretPart}`).not.toContain(secretPart);
    }
  });
});
