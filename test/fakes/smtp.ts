/**
 * A real SMTP server for tests: it speaks the wire protocol (via
 * `smtp-server`), parses every message it accepts (via `postal-mime`) and lets
 * a test make it reject recipients, fail with a reply code, or hang.
 *
 *     const sink = await startSmtpSink({ user: 'herald', pass: 's3cret' });
 *     const email = new EmailChannel({ smtpUrl: sink.url, from: 'status@herald.test' });
 *     await email.send(target, message);
 *     expect(sink.for('ops@partner.example')[0]?.subject).toBe('…');
 *     await sink.close();
 *
 * A message is recorded before the server answers `250`, so once a send has
 * resolved, its message is already in `sink.messages`.
 */
import type { AddressInfo, Socket } from 'node:net';
import PostalMime from 'postal-mime';
import { SMTPServer, type SMTPServerDataStream, type SMTPServerSession } from 'smtp-server';
import { Waiters } from './waiters.js';

/** One message as the sink received it. */
export interface ReceivedEmail {
  /** The client end of the SMTP connection that carried it (`address:port`); one per pooled connection. */
  connectionId: string;
  /** `MAIL FROM` address. */
  envelopeFrom: string;
  /** `RCPT TO` addresses, in order. */
  envelopeTo: string[];
  /** `Message-ID` header, `<…@…>` form, or `''` when absent. */
  messageId: string;
  /** `In-Reply-To` header, or `undefined` when absent. */
  inReplyTo: string | undefined;
  /** `References` header split into ids, oldest first; `[]` when absent. */
  references: string[];
  subject: string;
  /** The text/plain part, or `''`. */
  text: string;
  /** The text/html part, or `''`. */
  html: string;
  /** `From` header as written. */
  from: string;
  /** Every header by lower-cased name (first occurrence), values unfolded. */
  headers: Record<string, string>;
  /** The message as it crossed the wire. */
  raw: string;
  /** `Date.now()` when the sink accepted it. */
  receivedAt: number;
}

/** At which SMTP command a scripted failure answers. */
export type SmtpStage = 'MAIL' | 'RCPT' | 'DATA';

/** What {@link SmtpSink.waitFor} waits for. */
export type EmailQuery =
  | number
  | ((message: ReceivedEmail) => boolean)
  | { count?: number; to?: string; where?: (message: ReceivedEmail) => boolean };

export interface SmtpSink {
  /** `smtp://user:pass@127.0.0.1:PORT` (no credentials when the sink was started without a user). */
  readonly url: string;
  readonly host: string;
  readonly port: number;
  /** Every accepted message, in order of acceptance. */
  readonly messages: readonly ReceivedEmail[];
  /** Messages whose envelope recipients include `address` (case-insensitive). */
  for(address: string): ReceivedEmail[];
  /**
   * Resolves with the matching messages once there are enough: a number waits
   * for that many messages in all, a predicate for one match, an object for
   * `count` (default 1) messages `to` an address and/or matching `where`.
   * Rejects after `timeoutMs` (default 5 s) naming what did arrive.
   */
  waitFor(query: EmailQuery, timeoutMs?: number): Promise<ReceivedEmail[]>;
  /** Answers `RCPT TO` for matching addresses with `code` (default 550) until reset. */
  rejectRecipient(address: string | RegExp, code?: number): void;
  /** The next `times` (default 1) transactions fail at `stage` (default DATA) with `code`. */
  failNext(code: number, times?: number, stage?: SmtpStage): void;
  /** From now on the server never answers the end of DATA; the client must time out. */
  hang(): void;
  /** How many SMTP connections are open right now. */
  connectionCount(): number;
  /** Forgets every message and every scripted behaviour. */
  reset(): void;
  /** Closes the server and every connection, hanging ones included. */
  close(): Promise<void>;
}

interface Rejection {
  match: string | RegExp;
  code: number;
}

interface ScriptedFailure {
  code: number;
  remaining: number;
  stage: SmtpStage;
}

/** Enhanced status texts so failures read like a real server's. */
function replyText(code: number): string {
  if (code === 421) return '4.3.2 Service shutting down (herald test sink)';
  if (code === 450) return '4.2.1 Mailbox busy, try again later';
  if (code === 451) return '4.3.0 Local error in processing, try again later';
  if (code === 452) return '4.3.1 Insufficient system storage';
  if (code === 550) return '5.1.1 Mailbox unavailable';
  if (code === 552) return '5.3.4 Message size exceeds fixed limit';
  if (code === 554) return '5.7.1 Transaction failed';
  return code >= 500 ? '5.0.0 Permanent failure (herald test sink)' : '4.0.0 Temporary failure (herald test sink)';
}

function smtpError(code: number, text = replyText(code)): Error & { responseCode: number } {
  return Object.assign(new Error(text), { responseCode: code });
}

/** Starts a sink on 127.0.0.1, on a free port. With `user`, AUTH PLAIN/LOGIN with those credentials is required. */
export async function startSmtpSink(opts: { user?: string; pass?: string } = {}): Promise<SmtpSink> {
  const messages: ReceivedEmail[] = [];
  const rejections: Rejection[] = [];
  const failures: ScriptedFailure[] = [];
  const waiters = new Waiters();
  const sockets = new Set<Socket>();
  let hanging = false;

  /** Consumes one scripted failure for this stage, if any is due. */
  const takeFailure = (stage: SmtpStage): number | undefined => {
    const failure = failures.find((f) => f.stage === stage && f.remaining > 0);
    if (failure === undefined) return undefined;
    failure.remaining -= 1;
    if (failure.remaining === 0) failures.splice(failures.indexOf(failure), 1);
    return failure.code;
  };

  const record = (message: ReceivedEmail): void => {
    messages.push(message);
    waiters.notify();
  };

  const server = new SMTPServer({
    logger: false,
    banner: 'herald test sink',
    disabledCommands: ['STARTTLS'],
    authMethods: ['PLAIN', 'LOGIN'],
    authOptional: opts.user === undefined,
    allowInsecureAuth: true,
    // A reverse DNS lookup per connection would dominate a 10 000-message benchmark.
    disableReverseLookup: true,
    size: 25 * 1024 * 1024,
    onAuth(auth, _session, callback) {
      if (opts.user === undefined || (auth.username === opts.user && auth.password === (opts.pass ?? ''))) {
        callback(null, { user: auth.username ?? 'anonymous' });
        return;
      }
      callback(smtpError(535, '5.7.8 Authentication credentials invalid'));
    },
    onMailFrom(_address, _session, callback) {
      const code = takeFailure('MAIL');
      callback(code === undefined ? null : smtpError(code));
    },
    onRcptTo(address, _session, callback) {
      const recipient = address.address;
      const rejection = rejections.find((r) =>
        typeof r.match === 'string' ? r.match.toLowerCase() === recipient.toLowerCase() : r.match.test(recipient),
      );
      if (rejection !== undefined) {
        callback(smtpError(rejection.code, `${replyText(rejection.code)} <${recipient}>: Recipient address rejected`));
        return;
      }
      const code = takeFailure('RCPT');
      callback(code === undefined ? null : smtpError(code));
    },
    onData(stream: SMTPServerDataStream, session: SMTPServerSession, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      stream.on('end', () => {
        if (hanging) return; // never answer; the client's socket timeout must fire
        const code = takeFailure('DATA');
        if (code !== undefined) {
          callback(smtpError(code));
          return;
        }
        if (stream.sizeExceeded) {
          callback(smtpError(552));
          return;
        }
        const raw = Buffer.concat(chunks);
        parse(raw, session).then(
          (message) => {
            record(message);
            callback(null, `2.0.0 Ok: queued as ${messages.length}`);
          },
          (error: unknown) => callback(smtpError(554, `5.6.0 Unparseable message: ${String(error)}`)),
        );
      });
    },
  });
  server.on('error', () => {
    // Connection-level errors (a client going away mid-session) are part of what tests provoke.
  });
  server.server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });

  await new Promise<void>((resolve, reject) => {
    server.server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.server.off('error', reject);
      resolve();
    });
  });
  const port = (server.server.address() as AddressInfo).port;
  const host = '127.0.0.1';
  const credentials =
    opts.user === undefined ? '' : `${encodeURIComponent(opts.user)}:${encodeURIComponent(opts.pass ?? '')}@`;

  return {
    url: `smtp://${credentials}${host}:${port}`,
    host,
    port,
    messages,
    for(address) {
      const wanted = address.toLowerCase();
      return messages.filter((m) => m.envelopeTo.some((to) => to.toLowerCase() === wanted));
    },
    async waitFor(query, timeoutMs = 5000) {
      const { accepts, count, describe } = compileQuery(query);
      const matching = () => messages.filter(accepts);
      await waiters.until(
        () => matching().length >= count,
        timeoutMs,
        () => {
          const seen = messages
            .slice(-5)
            .map((m) => `  to ${m.envelopeTo.join(', ')}: ${JSON.stringify(m.subject)}`)
            .join('\n');
          return new Error(
            `SMTP sink: timed out after ${timeoutMs} ms waiting for ${describe}; ` +
              `${matching().length} matched, ${messages.length} received in all` +
              (seen === '' ? '' : `; the last ones:\n${seen}`),
          );
        },
      );
      return matching();
    },
    rejectRecipient(address, code = 550) {
      rejections.push({ match: address, code });
    },
    failNext(code, times = 1, stage = 'DATA') {
      failures.push({ code, remaining: times, stage });
    },
    hang() {
      hanging = true;
    },
    connectionCount() {
      return server.connections.size;
    },
    reset() {
      messages.length = 0;
      rejections.length = 0;
      failures.length = 0;
      hanging = false;
    },
    async close() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const socket of sockets) socket.destroy();
      await closed;
    },
  };
}

function compileQuery(query: EmailQuery): {
  accepts: (message: ReceivedEmail) => boolean;
  count: number;
  describe: string;
} {
  if (typeof query === 'number') return { accepts: () => true, count: query, describe: `${query} message(s)` };
  if (typeof query === 'function') return { accepts: query, count: 1, describe: 'a message matching the predicate' };
  const to = query.to?.toLowerCase();
  const where = query.where;
  const count = query.count ?? 1;
  return {
    accepts: (m) =>
      (to === undefined || m.envelopeTo.some((r) => r.toLowerCase() === to)) && (where === undefined || where(m)),
    count,
    describe: `${count} message(s)${to === undefined ? '' : ` to ${to}`}${where === undefined ? '' : ' matching the predicate'}`,
  };
}

async function parse(raw: Buffer, session: SMTPServerSession): Promise<ReceivedEmail> {
  const email = await PostalMime.parse(raw);
  const headers: Record<string, string> = {};
  for (const header of email.headers) {
    if (!(header.key in headers)) headers[header.key] = header.value.replace(/\r?\n[ \t]+/g, ' ');
  }
  const envelopeFrom = session.envelope.mailFrom === false ? '' : session.envelope.mailFrom.address;
  return {
    connectionId: `${session.remoteAddress}:${session.remotePort}`,
    envelopeFrom,
    envelopeTo: session.envelope.rcptTo.map((r) => r.address),
    messageId: email.messageId ?? '',
    inReplyTo: email.inReplyTo,
    references: email.references?.match(/<[^<>]+>/g) ?? [],
    subject: email.subject ?? '',
    text: email.text ?? '',
    html: email.html ?? '',
    from: headers.from ?? '',
    headers,
    raw: raw.toString('utf8'),
    receivedAt: Date.now(),
  };
}
