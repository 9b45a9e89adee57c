import { createServer, type AddressInfo, type Server } from 'node:net';
import { SMTPServer } from 'smtp-server';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { DeliveryError, PermanentDeliveryError, TransientDeliveryError } from '../../src/channels/channel.js';
import { EmailChannel, type EmailMessage } from '../../src/channels/email.js';
import type { ChannelTarget } from '../../src/domain/audience.js';
import { type SmtpSink, startSmtpSink } from '../fakes/smtp.js';

const SMTP_USER = 'herald';
// Characters that must be percent-encoded in the URL, so every written form of it is checked.
const SMTP_PASS = 'p@ss/w0rd:S3cret!';
const FROM = 'Acme Status <status@acme.example>';

function emailTarget(address: string): ChannelTarget<'email'> {
  return { channel: 'email', key: address, address, audiences: ['partners'] };
}

function secondUpdate(overrides: Partial<EmailMessage> = {}): EmailMessage {
  return {
    subject: '[Major] Email delivery delayed — Identified',
    text: 'We found the cause: a saturated relay. Next update by 14:30 UTC.',
    html: '<p>We found the cause: <strong>a saturated relay</strong>. Next update by 14:30 UTC.</p>',
    messageId: '<upd_02.ops@herald.acme.example>',
    inReplyTo: '<upd_01.ops@herald.acme.example>',
    references: ['<upd_01.ops@herald.acme.example>'],
    unsubscribeUrl: 'https://status.acme.example/v1/unsubscribe/tok_abc123',
    ...overrides,
  };
}

async function rejectionOf(promise: Promise<unknown>): Promise<DeliveryError> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(DeliveryError);
    return error as DeliveryError;
  }
  throw new Error('expected the delivery to fail, but it succeeded');
}

function expectNoPassword(error: Error): void {
  const everything = `${error.message} ${String(error.cause)} ${error.stack ?? ''}`;
  for (const form of [SMTP_PASS, encodeURIComponent(SMTP_PASS), Buffer.from(SMTP_PASS).toString('base64')]) {
    expect(everything).not.toContain(form);
  }
}

let sink: SmtpSink;
let channel: EmailChannel | undefined;

function openChannel(options: { maxConnections?: number; timeoutMs?: number; smtpUrl?: string } = {}): EmailChannel {
  channel = new EmailChannel({ smtpUrl: sink.url, from: FROM, ...options });
  return channel;
}

beforeAll(async () => {
  sink = await startSmtpSink({ user: SMTP_USER, pass: SMTP_PASS });
});
afterEach(async () => {
  sink.reset();
  await channel?.close();
  channel = undefined;
});
afterAll(async () => {
  await sink.close();
});

describe('EmailChannel — what a recipient gets', () => {
  it('sends one message with text and HTML parts, threaded, with one-click unsubscribe', async () => {
    const email = openChannel();

    const receipt = await email.send(emailTarget('ops@partner.example'), secondUpdate());

    expect(receipt).toEqual({ providerRef: '<upd_02.ops@herald.acme.example>' });
    expect(sink.messages).toHaveLength(1);
    const [message] = sink.for('ops@partner.example');
    expect(message).toMatchObject({
      envelopeFrom: 'status@acme.example',
      envelopeTo: ['ops@partner.example'],
      subject: '[Major] Email delivery delayed — Identified',
      messageId: '<upd_02.ops@herald.acme.example>',
      inReplyTo: '<upd_01.ops@herald.acme.example>',
      references: ['<upd_01.ops@herald.acme.example>'],
    });
    expect(message!.text.trim()).toBe('We found the cause: a saturated relay. Next update by 14:30 UTC.');
    expect(message!.html).toContain('<strong>a saturated relay</strong>');
    expect(message!.headers['content-type']).toMatch(/^multipart\/alternative/);
    expect(message!.headers['from']).toBe('Acme Status <status@acme.example>');
    expect(message!.headers['to']).toBe('ops@partner.example');
    expect(message!.headers['list-unsubscribe']).toBe('<https://status.acme.example/v1/unsubscribe/tok_abc123>');
    expect(message!.headers['list-unsubscribe-post']).toBe('List-Unsubscribe=One-Click');
  });

  it('carries the whole chain in References so clients thread a long incident', async () => {
    const email = openChannel();
    const chain = ['<upd_01@herald.test>', '<upd_02@herald.test>', '<upd_03@herald.test>', '<upd_04@herald.test>'];

    await email.send(
      emailTarget('ops@partner.example'),
      secondUpdate({ messageId: '<upd_05@herald.test>', inReplyTo: '<upd_04@herald.test>', references: chain }),
    );

    const [message] = sink.messages;
    expect(message?.inReplyTo).toBe('<upd_04@herald.test>');
    expect(message?.references).toEqual(chain);
  });

  it('the first message of an incident has no In-Reply-To or References, and no list headers without a link', async () => {
    const email = openChannel();

    await email.send(emailTarget('ops@partner.example'), {
      subject: '[Major] Email delivery delayed',
      text: 'We are investigating delays.',
      html: '<p>We are investigating delays.</p>',
      messageId: '<upd_01.ops@herald.acme.example>',
    });

    const [message] = sink.messages;
    expect(message?.messageId).toBe('<upd_01.ops@herald.acme.example>');
    expect(message?.headers).not.toHaveProperty('in-reply-to');
    expect(message?.headers).not.toHaveProperty('references');
    expect(message?.headers).not.toHaveProperty('list-unsubscribe');
    expect(message?.headers).not.toHaveProperty('list-unsubscribe-post');
  });

  it('sends the same Message-ID again when a failed delivery is retried', async () => {
    const email = openChannel();
    sink.failNext(451);

    await expect(email.send(emailTarget('ops@partner.example'), secondUpdate())).rejects.toBeInstanceOf(
      TransientDeliveryError,
    );
    await email.send(emailTarget('ops@partner.example'), secondUpdate());

    expect(sink.messages.map((m) => m.messageId)).toEqual(['<upd_02.ops@herald.acme.example>']);
  });

  it('sendDirect sends a plain message to one person, without list or threading headers', async () => {
    const email = openChannel();

    const receipt = await email.sendDirect('dana@corp.example', {
      subject: 'Reminder: update due in 5 minutes — Email delivery delayed',
      text: 'Partners expect the next update at 14:30 UTC.',
      html: '<p>Partners expect the next update at 14:30 UTC.</p>',
      messageId: '<reminder.inc_01.3@herald.acme.example>',
    });

    expect(receipt.providerRef).toBe('<reminder.inc_01.3@herald.acme.example>');
    const [message] = sink.for('dana@corp.example');
    expect(message?.subject).toBe('Reminder: update due in 5 minutes — Email delivery delayed');
    expect(message?.text.trim()).toBe('Partners expect the next update at 14:30 UTC.');
    expect(message?.html).toContain('<p>Partners expect');
    expect(message?.headers).not.toHaveProperty('list-unsubscribe');
    expect(message?.headers).not.toHaveProperty('in-reply-to');
  });

  it('keeps connections pooled: many messages, at most maxConnections sessions, more than 100 per session', async () => {
    const email = openChannel({ maxConnections: 2 });
    const recipients = Array.from({ length: 240 }, (_, i) => `reader${i}@partner.example`);

    await Promise.all(
      recipients.map((address, i) => email.send(emailTarget(address), secondUpdate({ messageId: `<upd_02.${i}@herald.test>` }))),
    );

    expect(sink.messages).toHaveLength(240);
    expect(new Set(sink.messages.map((m) => m.envelopeTo[0]))).toEqual(new Set(recipients));
    const connections = new Set(sink.messages.map((m) => m.connectionId));
    expect(connections.size).toBeLessThanOrEqual(2);
  });

  it('a pooled connection the server closed while idle costs no message: the next goes out on a new one', async () => {
    // As a submission server does after its idle timeout (Postfix: smtpd_timeout): 421, then close.
    const arrived: string[] = [];
    let sessions = 0;
    let sessionClosed = (): void => {};
    const server = new SMTPServer({
      logger: false,
      authOptional: true,
      disabledCommands: ['STARTTLS', 'AUTH'],
      disableReverseLookup: true,
      socketTimeout: 1_000,
      onConnect(_session, callback) {
        sessions += 1;
        callback();
      },
      onClose() {
        sessionClosed();
      },
      onData(stream, session, callback) {
        stream.resume();
        stream.on('end', () => {
          arrived.push(session.envelope.rcptTo.map((r) => r.address).join(','));
          callback();
        });
      },
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const email = openChannel({ smtpUrl: `smtp://127.0.0.1:${(server.server.address() as AddressInfo).port}` });
      const idleClosed = new Promise<void>((resolve) => {
        sessionClosed = resolve;
      });

      await email.send(emailTarget('a@partner.example'), secondUpdate({ messageId: '<a@herald.test>' }));
      await idleClosed;
      await email.send(emailTarget('b@partner.example'), secondUpdate({ messageId: '<b@herald.test>' }));

      expect(arrived).toEqual(['a@partner.example', 'b@partner.example']);
      expect(sessions).toBe(2);
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });

  it('refuses a Message-ID that is not in <local@domain> form, sending nothing', async () => {
    const email = openChannel();

    const error = await rejectionOf(email.send(emailTarget('ops@partner.example'), secondUpdate({ messageId: 'upd_02@herald.test' })));

    expect(error).toBeInstanceOf(PermanentDeliveryError);
    expect(error.code).toBe('invalid_message_id');
    expect(sink.messages).toHaveLength(0);
  });

  it('lets a send in progress finish on close, and refuses sends after it', async () => {
    const email = openChannel();

    const sending = email.send(emailTarget('ops@partner.example'), secondUpdate());
    await email.close();

    await expect(sending).resolves.toEqual({ providerRef: '<upd_02.ops@herald.acme.example>' });
    expect(sink.messages).toHaveLength(1);
    const error = await rejectionOf(email.send(emailTarget('ops@partner.example'), secondUpdate()));
    expect(error).toBeInstanceOf(TransientDeliveryError);
    expect(error.code).toBe('channel_closed');
  });
});

describe('EmailChannel — what each SMTP failure means', () => {
  type Expected = { error: typeof PermanentDeliveryError | typeof TransientDeliveryError; code: string; said?: RegExp };
  const cases: [string, (sink: SmtpSink) => void, Expected][] = [
    [
      '550 recipient rejected is permanent, quoting the server',
      (s) => s.rejectRecipient('ops@partner.example'),
      { error: PermanentDeliveryError, code: 'smtp_rejected', said: /550 5\.1\.1 .*Recipient address rejected/ },
    ],
    [
      '554 at RCPT (by pattern) is permanent',
      (s) => s.rejectRecipient(/@partner\.example$/, 554),
      { error: PermanentDeliveryError, code: 'smtp_rejected', said: /554/ },
    ],
    [
      '554 at DATA is permanent',
      (s) => s.failNext(554),
      { error: PermanentDeliveryError, code: 'smtp_rejected', said: /554 5\.7\.1/ },
    ],
    [
      '552 at DATA is permanent',
      (s) => s.failNext(552),
      { error: PermanentDeliveryError, code: 'smtp_rejected', said: /552/ },
    ],
    [
      '550 at MAIL FROM is permanent',
      (s) => s.failNext(550, 1, 'MAIL'),
      { error: PermanentDeliveryError, code: 'smtp_rejected', said: /550/ },
    ],
    ['451 at DATA is transient', (s) => s.failNext(451), { error: TransientDeliveryError, code: 'smtp_transient', said: /451/ }],
    ['450 at RCPT is transient', (s) => s.rejectRecipient('ops@partner.example', 450), { error: TransientDeliveryError, code: 'smtp_transient' }],
    ['452 at RCPT is transient', (s) => s.failNext(452, 1, 'RCPT'), { error: TransientDeliveryError, code: 'smtp_transient' }],
    ['421 at MAIL FROM is transient', (s) => s.failNext(421, 1, 'MAIL'), { error: TransientDeliveryError, code: 'smtp_transient' }],
    ['a server that never answers is a transient timeout', (s) => s.hang(), { error: TransientDeliveryError, code: 'smtp_timeout' }],
  ];

  it.each(cases)('%s', async (_name, arrange, expected) => {
    const email = openChannel({ timeoutMs: 300 });
    arrange(sink);

    const error = await rejectionOf(email.send(emailTarget('ops@partner.example'), secondUpdate()));

    expect(error).toBeInstanceOf(expected.error);
    expect(error.code).toBe(expected.code);
    if (expected.said !== undefined) expect(error.message).toMatch(expected.said);
    expect(error.message).toContain('ops@partner.example');
    expectNoPassword(error);
    expect(sink.messages).toHaveLength(0);
  });

  it('wrong credentials are permanent, and the password appears nowhere', async () => {
    const url = new URL(sink.url);
    url.password = encodeURIComponent(`${SMTP_PASS}-wrong`);
    const email = openChannel({ smtpUrl: url.toString() });

    const error = await rejectionOf(email.send(emailTarget('ops@partner.example'), secondUpdate()));

    expect(error).toBeInstanceOf(PermanentDeliveryError);
    expect(error.code).toBe('smtp_auth_failed');
    expect(error.message).toMatch(/535/);
    expectNoPassword(error);
    expect(error.message).not.toContain('-wrong');
  });

  it('a server that is not listening is transient', async () => {
    const email = openChannel({ smtpUrl: `smtp://${SMTP_USER}:${encodeURIComponent(SMTP_PASS)}@127.0.0.1:${await unusedPort()}` });

    const error = await rejectionOf(email.send(emailTarget('ops@partner.example'), secondUpdate()));

    expect(error).toBeInstanceOf(TransientDeliveryError);
    expect(error.code).toBe('smtp_connection');
    expectNoPassword(error);
  });

  it('recovers after a transient failure: the next message goes through on the same channel', async () => {
    const email = openChannel();
    sink.failNext(451, 2);

    const first = await rejectionOf(email.send(emailTarget('a@partner.example'), secondUpdate({ messageId: '<a@herald.test>' })));
    const second = await rejectionOf(email.send(emailTarget('b@partner.example'), secondUpdate({ messageId: '<b@herald.test>' })));
    await email.send(emailTarget('c@partner.example'), secondUpdate({ messageId: '<c@herald.test>' }));

    expect([first.retryable, second.retryable]).toEqual([true, true]);
    expect(sink.messages.map((m) => m.messageId)).toEqual(['<c@herald.test>']);
  });
});

async function unusedPort(): Promise<number> {
  const server: Server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}
