/**
 * Email: one message per recipient per update, over a pooled SMTP
 * connection. Every message of an incident carries `In-Reply-To` and
 * `References` so mail clients show the incident as one thread, and list
 * mail carries one-click unsubscribe headers (RFC 8058).
 *
 * Messages go straight to nodemailer's SMTP pool, which pipelines each
 * envelope with DATA when the server offers PIPELINING (RFC 2920): two round
 * trips a message instead of four.
 */
import { Readable } from 'node:stream';
import SMTPPool from 'nodemailer/lib/smtp-pool';
import type { ChannelTarget } from '../domain/audience.js';
import type { EmailRendered } from '../render/types.js';
import {
  type Channel,
  DeliveryError,
  PermanentDeliveryError,
  type Receipt,
  TransientDeliveryError,
} from './channel.js';
import { MimeError, MimeWriter, type MimeMessage } from './mime.js';

/**
 * Submission servers cap concurrent sessions per client (hosted relays at a
 * handful, Postfix's anvil at 50); five stays inside all common limits while
 * each pooled connection still carries hundreds of messages a second.
 */
export const DEFAULT_SMTP_MAX_CONNECTIONS = 5;

/**
 * Bounds connecting, the greeting and each command's reply. Herald sends
 * small single-recipient messages, so a server silent this long is stuck, and
 * the delivery is better retried than left holding a pooled connection.
 */
export const DEFAULT_SMTP_TIMEOUT_MS = 30_000;

/** Options of {@link EmailChannel}. */
export interface EmailChannelOptions {
  /**
   * Where to submit mail: `smtp://user:pass@host:port` (STARTTLS when the
   * server offers it) or `smtps://user:pass@host:port` (TLS from the start).
   * User and password are percent-encoded.
   */
  smtpUrl: string;
  /** The `From` of every message, e.g. `"Acme Status <status@acme.example>"`. */
  from: string;
  /**
   * Most SMTP connections kept open at once.
   * @defaultValue {@link DEFAULT_SMTP_MAX_CONNECTIONS} (5)
   */
  maxConnections?: number;
  /**
   * Longest wait for a connection, the greeting, or any one server reply.
   * @defaultValue {@link DEFAULT_SMTP_TIMEOUT_MS} (30 000 ms)
   */
  timeoutMs?: number;
}

/** One rendered update for one recipient, with what threads it. */
export interface EmailMessage extends EmailRendered {
  /** This delivery's `Message-ID`, in full `<local@domain>` form; the same on every retry. */
  messageId: string;
  /** `Message-ID` of the previous message of this incident to this recipient. */
  inReplyTo?: string;
  /** `Message-ID`s of every earlier message of the incident, oldest first. */
  references?: string[];
  /** This recipient's one-click unsubscribe link; adds `List-Unsubscribe` headers when given. */
  unsubscribeUrl?: string;
}

/** A plain message to one person (commander reminders and alerts): no list headers. */
export type DirectEmailMessage = EmailRendered & { messageId: string };

/** How a failure is treated, and why. */
interface SmtpFailureRule {
  retryable: boolean;
  /** `DeliveryError.code`. */
  code: string;
  reason: string;
}

/**
 * The one table of SMTP failure handling. A failed login is permanent (unless
 * the server says 454, "temporary"); otherwise a server reply code, when there
 * is one, decides (RFC 5321 §4.2.1: 4yz transient, 5yz permanent); then the
 * error code nodemailer gives; anything else is treated as transient so that
 * a surprise costs a retry, not a lost message.
 */
export const SMTP_FAILURES = {
  reply4xx: {
    retryable: true,
    code: 'smtp_transient',
    reason: 'RFC 5321 4yz: "try again later" (421 shutting down, 450 mailbox busy, 451 local error, 452 storage)',
  },
  reply5xx: {
    retryable: false,
    code: 'smtp_rejected',
    reason: 'RFC 5321 5yz: the server will never accept this as sent (550 recipient rejected, 554 refused)',
  },
  EAUTH: {
    retryable: false,
    code: 'smtp_auth_failed',
    reason: 'wrong or missing credentials do not fix themselves; an operator must change SMTP_URL (454 excepted)',
  },
  EENVELOPE: {
    retryable: false,
    code: 'smtp_bad_envelope',
    reason: 'nodemailer refused the sender or recipient address before sending anything',
  },
  EMESSAGE: {
    retryable: false,
    code: 'smtp_bad_message',
    reason: 'the message itself cannot be sent (empty, or larger than the server accepts)',
  },
  ECONFIG: {
    retryable: false,
    code: 'smtp_config',
    reason: 'the transport is misconfigured; retrying the same configuration cannot help',
  },
  ECONNECTION: {
    retryable: true,
    code: 'smtp_connection',
    reason: 'the connection was refused or dropped; the server may be restarting',
  },
  ECONNREFUSED: {
    retryable: true,
    code: 'smtp_connection',
    reason: 'nothing listens yet; the server may be restarting',
  },
  ESOCKET: {
    retryable: true,
    code: 'smtp_connection',
    reason: 'a socket error (reset, refused) mid-session; a new connection may succeed',
  },
  ETIMEDOUT: {
    retryable: true,
    code: 'smtp_timeout',
    reason: 'connecting, the greeting or a reply took longer than timeoutMs',
  },
  EDNS: {
    retryable: true,
    code: 'smtp_dns',
    reason: 'the SMTP host name did not resolve; DNS failures are usually passing',
  },
  ENOTFOUND: {
    retryable: true,
    code: 'smtp_dns',
    reason: 'the SMTP host name did not resolve; DNS failures are usually passing',
  },
  EAI_AGAIN: {
    retryable: true,
    code: 'smtp_dns',
    reason: 'the resolver could not answer right now',
  },
  ECONNRESET: {
    retryable: true,
    code: 'smtp_connection',
    reason: 'the server reset the connection; a new one may succeed',
  },
  EHOSTUNREACH: {
    retryable: true,
    code: 'smtp_connection',
    reason: 'no route to the server right now',
  },
  ENETUNREACH: {
    retryable: true,
    code: 'smtp_connection',
    reason: 'no route to the server right now',
  },
  EPROTOCOL: {
    retryable: true,
    code: 'smtp_protocol',
    reason: 'the server answered out of turn; a fresh session usually recovers',
  },
  unknown: {
    retryable: true,
    code: 'smtp_failed',
    reason: 'unclassified (e.g. a pooled connection closed while sending); retrying is the safe side',
  },
} as const satisfies Record<string, SmtpFailureRule>;

/** What nodemailer puts on its errors (`SMTPConnection.SMTPError`). */
interface SmtpErrorFields {
  code?: string;
  responseCode?: number;
  response?: string;
  command?: string;
}

const FULL_MESSAGE_ID = /^<[^<>\s@]+@[^<>\s@]+>$/;

/** The email channel: a pooled SMTP transport and nothing else. */
export class EmailChannel implements Channel {
  readonly name = 'email' as const;

  readonly #pool: SMTPPool;
  readonly #writer: Promise<MimeWriter>;
  readonly #secrets: string[];
  readonly #inFlight = new Set<Promise<unknown>>();
  #closed = false;

  constructor(options: EmailChannelOptions) {
    const timeoutMs = options.timeoutMs ?? DEFAULT_SMTP_TIMEOUT_MS;
    this.#writer = MimeWriter.forSender(options.from);
    // Awaited by every send; a sender nodemailer cannot format fails each of them, not the process.
    this.#writer.catch(() => {});
    this.#secrets = secretsOf(options.smtpUrl);
    this.#pool = new SMTPPool({
      pool: true,
      url: options.smtpUrl,
      maxConnections: options.maxConnections ?? DEFAULT_SMTP_MAX_CONNECTIONS,
      // Reconnecting and re-authenticating every 100 messages (nodemailer's default) only
      // costs round trips; a server that wants a new session says so with 421.
      maxMessages: Infinity,
      connectionTimeout: timeoutMs,
      greetingTimeout: timeoutMs,
      socketTimeout: timeoutMs,
      logger: false,
      debug: false,
      // No socket of Herald's own: nodemailer (since 10.1) turns Nagle's algorithm off, which
      // Herald had to do itself before (the end-of-data line waited for the server's delayed
      // ACK, 40 ms on Linux, capping a connection at about 25 messages a second).
    });
  }

  /** Sends one update of an incident to one recipient, threaded, with unsubscribe headers. */
  async send(target: ChannelTarget<'email'>, message: EmailMessage): Promise<Receipt> {
    const headers: Record<string, string> = { 'Auto-Submitted': 'auto-generated' };
    if (message.unsubscribeUrl !== undefined) {
      headers['List-Unsubscribe'] = `<${message.unsubscribeUrl}>`;
      // RFC 8058: mail providers POST this body to the URL for a one-click unsubscribe.
      headers['List-Unsubscribe-Post'] = 'List-Unsubscribe=One-Click';
    }
    return this.#submit({
      to: target.address,
      subject: message.subject,
      text: message.text,
      html: message.html,
      messageId: message.messageId,
      ...(message.inReplyTo !== undefined && { inReplyTo: message.inReplyTo }),
      ...(message.references !== undefined && { references: message.references }),
      headers,
    });
  }

  /** Sends a plain message to one person (commander reminders, alerts): no list headers, no threading. */
  async sendDirect(address: string, message: DirectEmailMessage): Promise<Receipt> {
    return this.#submit({ ...message, to: address, headers: { 'Auto-Submitted': 'auto-generated' } });
  }

  /** Lets sends already handed over finish, then closes every pooled connection. */
  async close(): Promise<void> {
    this.#closed = true;
    await Promise.allSettled([...this.#inFlight]);
    this.#pool.close();
  }

  async #submit(message: MimeMessage): Promise<Receipt> {
    const { to } = message;
    if (this.#closed) throw new TransientDeliveryError('channel_closed', 'the email channel is closed');
    if (!FULL_MESSAGE_ID.test(message.messageId)) {
      throw new PermanentDeliveryError(
        'invalid_message_id',
        `Message-ID must have the form <local@domain>, got ${JSON.stringify(message.messageId)}`,
      );
    }
    // In flight from here: close() waits for it, even while the message is still being written.
    const sending = this.#writeAndSend(message);
    this.#inFlight.add(sending);
    try {
      await sending;
    } catch (error) {
      throw error instanceof DeliveryError ? error : this.#toDeliveryError(error, to);
    } finally {
      this.#inFlight.delete(sending);
    }
    return { providerRef: message.messageId };
  }

  async #writeAndSend(message: MimeMessage): Promise<void> {
    const writer = await this.#writer;
    let raw: Buffer;
    try {
      raw = writer.write(message);
    } catch (error) {
      if (error instanceof MimeError) {
        throw new PermanentDeliveryError('invalid_message', `email to ${message.to} cannot be written: ${error.message}`);
      }
      throw error;
    }
    // Written whole, the message goes to the socket in one piece (streamed part by part by
    // nodemailer's composer, every chunk became a write of its own).
    const mail = writtenMail({ from: writer.envelopeFrom, to: [message.to] }, message.messageId, raw);
    await new Promise<void>((resolve, reject) => {
      this.#pool.send(mail, (error) => (error ? reject(error) : resolve()));
    });
  }

  #toDeliveryError(error: unknown, to: string): DeliveryError {
    const fields: SmtpErrorFields = typeof error === 'object' && error !== null ? (error as SmtpErrorFields) : {};
    const rule = classifySmtpFailure(fields);
    const raw = error instanceof Error ? error.message : String(error);
    const reply = typeof fields.response === 'string' ? fields.response : undefined;
    const at = typeof fields.command === 'string' ? ` at ${fields.command}` : '';
    // nodemailer appends the reply to its message; say it once, and say it last.
    const text = reply !== undefined && raw.endsWith(`: ${reply}`) ? raw.slice(0, -reply.length - 2) : raw;
    const message = scrub(
      `email to ${to} failed${at}: ${text}${reply !== undefined ? ` (server said: ${reply})` : ''}`,
      this.#secrets,
    );
    const cause = Object.assign(new Error(message), {
      code: fields.code,
      responseCode: fields.responseCode,
      command: fields.command,
    });
    return rule.retryable
      ? new TransientDeliveryError(rule.code, message, { cause })
      : new PermanentDeliveryError(rule.code, message, { cause });
  }
}

/** Picks the rule of {@link SMTP_FAILURES} for a nodemailer error. */
export function classifySmtpFailure(error: SmtpErrorFields): SmtpFailureRule {
  const reply = error.responseCode;
  const replyClass = typeof reply === 'number' ? Math.floor(reply / 100) : undefined;
  // A refused login (535) is a configuration problem, not a refused message; only an explicit
  // "temporary authentication failure" (454, RFC 4954) is worth retrying.
  if (error.code === 'EAUTH') return replyClass === 4 ? SMTP_FAILURES.reply4xx : SMTP_FAILURES.EAUTH;
  if (replyClass === 4) return SMTP_FAILURES.reply4xx;
  if (replyClass === 5) return SMTP_FAILURES.reply5xx;
  const code = error.code;
  // nodemailer's and Node's codes are E-prefixed capitals, so they cannot collide with the reply rows.
  if (code !== undefined && /^E[A-Z_]+$/.test(code) && Object.hasOwn(SMTP_FAILURES, code)) {
    return SMTP_FAILURES[code as keyof typeof SMTP_FAILURES];
  }
  return SMTP_FAILURES.unknown;
}

/** A message as nodemailer's transports take it from its `Mailer`. */
type PooledMail = Parameters<SMTPPool['send']>[0];

/**
 * A message Herald wrote whole, in the shape a nodemailer transport's
 * `send(mail, callback)` reads: `mail.data` (the send options; none here)
 * and of `mail.message` the envelope, the Message-ID and a stream of the
 * bytes. nodemailer's `sendMail` would first turn the raw bytes into a
 * message tree of its own (header names normalised by regular expressions,
 * random boundaries, a stream pipeline per message): with Herald's MIME
 * already written, that was about half of the channel's CPU per message.
 */
function writtenMail(envelope: { from: string; to: string[] }, messageId: string, raw: Buffer): PooledMail {
  const message = {
    // The pool adds DSN and REQUIRETLS options to the envelope it gets: a fresh one each time.
    getEnvelope: () => ({ from: envelope.from, to: [...envelope.to] }),
    messageId: () => messageId,
    getHeader: (name: string) => (name.toLowerCase() === 'message-id' ? messageId : undefined),
    // A fresh stream each time: a message whose pooled connection was closed before it was
    // sent is read again on another connection.
    createReadStream: () => {
      const stream = new Readable({ read() {} });
      stream.push(raw);
      stream.push(null);
      return stream;
    },
  };
  return { data: {}, message } as unknown as PooledMail;
}

/**
 * Every form the SMTP password could take in an error: as written in the URL,
 * decoded, and the base64 of AUTH PLAIN / AUTH LOGIN in case a server echoes
 * what it was sent.
 */
function secretsOf(smtpUrl: string): string[] {
  let url: URL;
  try {
    url = new URL(smtpUrl);
  } catch {
    return [smtpUrl];
  }
  if (url.password === '') return [];
  const user = safeDecode(url.username);
  const pass = safeDecode(url.password);
  return [
    smtpUrl,
    `${url.username}:${url.password}`,
    url.password,
    pass,
    encodeURIComponent(pass),
    Buffer.from(pass).toString('base64'),
    Buffer.from(`\u0000${user}\u0000${pass}`).toString('base64'),
  ]
    .filter((s) => s.length > 0)
    .sort((a, b) => b.length - a.length);
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

function scrub(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const secret of secrets) out = out.split(secret).join('***');
  // Belt and braces: any URL with credentials that slipped through keeps only its user.
  return out.replace(/(smtps?:\/\/[^:/@\s]*):[^@\s]*@/gi, '$1:***@');
}
