/**
 * What Herald mails an incident's commander (reminders that an update is
 * due, alerts that an update could not be delivered) forms one thread per
 * incident and address, as partners' mail does: the first message is the
 * root, every later one carries `In-Reply-To` and `References`. Asserted on
 * what reached the SMTP fake.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ReceivedEmail } from '../fakes/smtp.js';
import { startStack, type Stack } from '../support/stack.js';

const COMMANDER = 'dana@corp.example';

const isReminder = (m: ReceivedEmail) => m.subject.startsWith('Update due at');
const isAlert = (m: ReceivedEmail) => m.subject.startsWith('Delivery failed');

/** Every message after the first belongs to the first one's thread, each replying to one sent before it. */
function expectOneThread(mails: readonly ReceivedEmail[]): void {
  const [root, ...later] = mails;
  expect(root!.inReplyTo).toBeUndefined();
  expect(root!.references).toEqual([]);
  const earlier = [root!.messageId];
  for (const mail of later) {
    expect(mail.references[0]).toBe(root!.messageId);
    expect(earlier).toContain(mail.inReplyTo);
    for (const id of mail.references) expect(earlier).toContain(id);
    earlier.push(mail.messageId);
  }
}

describe('given a commander reachable by email and an audience whose mail bounces', () => {
  let stack: Stack;
  let first: ReceivedEmail[];
  let second: ReceivedEmail[];

  beforeAll(async () => {
    stack = await startStack();
    // Every delivery to this address goes dead at once: the commander is alerted once per update.
    stack.smtp.rejectRecipient('bounce@partner.example', 550);
    await stack.api('PUT', '/v1/audiences/bouncing', { email: { recipients: ['bounce@partner.example'] } });
    const commander = { name: 'Dana', email: COMMANDER };

    const payments = await stack.api('POST', '/v1/incidents', {
      title: 'Payments failing',
      severity: 'critical',
      message: 'Card payments fail.',
      audiences: ['bouncing'],
      // Reminded half a cadence before each holding statement is due.
      cadenceSeconds: 2,
      commander,
    });
    expect(payments.statusCode, payments.body).toBe(201);
    const ofPayments = (m: ReceivedEmail) => m.envelopeTo.includes(COMMANDER) && m.subject.includes('Payments failing');
    await stack.smtp.waitFor((m) => ofPayments(m) && isAlert(m), 20_000);
    await stack.smtp.waitFor({ where: (m) => ofPayments(m) && isReminder(m), count: 2 }, 20_000);
    const resolved = await stack.api('POST', `/v1/incidents/${payments.json().incident.id}/resolve`, { message: 'Payments work again.' });
    expect(resolved.statusCode).toBe(201);
    first = stack.smtp.for(COMMANDER).filter(ofPayments);

    const search = await stack.api('POST', '/v1/incidents', {
      title: 'Search slow',
      severity: 'minor',
      message: 'Search is slow.',
      audiences: ['bouncing'],
      cadenceSeconds: 1800,
      commander,
    });
    expect(search.statusCode, search.body).toBe(201);
    const ofSearch = (m: ReceivedEmail) => m.envelopeTo.includes(COMMANDER) && m.subject.includes('Search slow') && isAlert(m);
    await stack.smtp.waitFor(ofSearch, 20_000);
    const update = await stack.api('POST', `/v1/incidents/${search.json().incident.id}/updates`, { message: 'Still slow.' });
    expect(update.statusCode).toBe(201);
    await stack.smtp.waitFor({ where: ofSearch, count: 2 }, 20_000);
    second = stack.smtp.for(COMMANDER).filter(ofSearch);
  }, 90_000);

  afterAll(async () => {
    await stack?.stop();
  });

  it("the reminders and delivery alerts of one incident form one thread", () => {
    expect(first.filter(isReminder).length).toBeGreaterThanOrEqual(2);
    expect(first.filter(isAlert).length).toBeGreaterThanOrEqual(1);
    expectOneThread(first);
    expect(new Set(first.map((m) => m.messageId)).size).toBe(first.length);
  });

  it('a second incident is a thread of its own', () => {
    expect(second.length).toBeGreaterThanOrEqual(2);
    expectOneThread(second);
    const ofFirst = new Set(first.map((m) => m.messageId));
    for (const mail of second) for (const id of mail.references) expect(ofFirst.has(id)).toBe(false);
  });

  it('mail to the commander carries no list headers: the commander is no subscriber', () => {
    for (const mail of [...first, ...second]) expect(mail.headers['list-unsubscribe']).toBeUndefined();
  });
});
