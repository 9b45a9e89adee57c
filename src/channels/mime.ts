/**
 * The MIME of Herald's email, written directly: every message has the same
 * shape (multipart/alternative, a text part in quoted-printable — readable
 * even raw — and an HTML part in base64, as most mail is sent; UTF-8), so it
 * is a template filled in, not a tree to build.
 *
 * nodemailer's composer builds a tree of nodes for each message, normalises
 * every header name with regular expressions on each get and set, and streams
 * each part through transforms; in a 10,000-recipient fan-out that was half
 * of Herald's CPU. The encoders here are nodemailer's own (quoted-printable,
 * RFC 2047 encoded words, line folding); the From header is formatted by
 * nodemailer once, at startup, and reused.
 */
import { randomBytes } from 'node:crypto';
import MailComposer from 'nodemailer/lib/mail-composer';
import * as mimeFuncs from 'nodemailer/lib/mime-funcs';
import * as qp from 'nodemailer/lib/qp';
import { plainTitle } from '../domain/public-view.js';

export interface MimeMessage {
  /** The recipient: a plain address (`ops@partner.example`). */
  to: string;
  subject: string;
  text: string;
  html: string;
  /** `<local@domain>`. */
  messageId: string;
  inReplyTo?: string;
  references?: readonly string[];
  /** Extra headers, names as written (`List-Unsubscribe`); values must be single-line ASCII. */
  headers?: Readonly<Record<string, string>>;
  date?: Date;
}

/** Boundaries: unique per message; the random part keeps them out of any body. */
const BOUNDARY_PREFIX = `--_herald_${randomBytes(8).toString('hex')}_`;
let boundaries = 0;

/** Header values Herald writes as given: no line breaks, printable ASCII only. */
const SAFE_HEADER_VALUE = /^[\x20-\x7e]*$/;
const LINE_BREAK = /\r?\n|\r/g;
/** RFC 2045 §6.8: encoded lines are at most 76 characters. */
const BASE64_LINE = 76;
/** A plain address without display name, as audiences hold them. */
const PLAIN_ADDRESS = /^[\x21-\x7e]+@[\x21-\x7e]+$/;

/**
 * Writes messages from one sender. The From header is formatted once, by
 * nodemailer (display names in any script, IDN domains).
 */
export class MimeWriter {
  readonly #fromHeader: string;
  /** The envelope sender: the address of From. */
  readonly envelopeFrom: string;

  private constructor(fromHeader: string, envelopeFrom: string) {
    this.#fromHeader = fromHeader;
    this.envelopeFrom = envelopeFrom;
  }

  /** Formats `from` (e.g. `Acme Status <status@acme.example>`) the way nodemailer does. */
  static async forSender(from: string): Promise<MimeWriter> {
    const node = new MailComposer({ from, to: 'nobody@example.invalid', subject: '-', text: '-' }).compile();
    const envelopeFrom = node.getEnvelope().from;
    if (envelopeFrom === false || envelopeFrom === '') throw new Error(`EMAIL_FROM has no address: ${JSON.stringify(from)}`);
    const built = (await node.build()).toString('latin1');
    const header = /^(From: .*(?:\r\n[ \t].*)*)\r\n/m.exec(built)?.[1];
    if (header === undefined) throw new Error(`could not format EMAIL_FROM ${JSON.stringify(from)}`);
    return new MimeWriter(header, envelopeFrom);
  }

  /** The whole message, CRLF line endings, ready for SMTP `DATA`. */
  write(message: MimeMessage): Buffer {
    if (!PLAIN_ADDRESS.test(message.to)) throw new MimeError(`the recipient ${JSON.stringify(message.to)} is not a plain ASCII address`);
    const boundary = `${BOUNDARY_PREFIX}${(boundaries++).toString(36)}`;
    const lines = [
      this.#fromHeader,
      `To: ${message.to}`,
      mimeFuncs.foldLines(`Subject: ${encodeUnstructured(message.subject)}`, 76),
      `Message-ID: ${singleLine('Message-ID', message.messageId)}`,
    ];
    if (message.inReplyTo !== undefined) lines.push(`In-Reply-To: ${singleLine('In-Reply-To', message.inReplyTo)}`);
    if (message.references !== undefined && message.references.length > 0) {
      lines.push(mimeFuncs.foldLines(`References: ${message.references.map((r) => singleLine('References', r)).join(' ')}`, 76));
    }
    lines.push(`Date: ${(message.date ?? new Date()).toUTCString().replace(/GMT/, '+0000')}`, 'MIME-Version: 1.0');
    for (const [name, value] of Object.entries(message.headers ?? {})) {
      lines.push(mimeFuncs.foldLines(`${name}: ${singleLine(name, value)}`, 76));
    }
    lines.push(
      `Content-Type: multipart/alternative; boundary="${boundary}"`,
      '',
      `--${boundary}`,
      'Content-Type: text/plain; charset=utf-8',
      'Content-Transfer-Encoding: quoted-printable',
      '',
      quotedPrintable(message.text),
      `--${boundary}`,
      'Content-Type: text/html; charset=utf-8',
      'Content-Transfer-Encoding: base64',
      '',
      base64Lines(message.html),
      `--${boundary}--`,
      '',
    );
    // Every character is ASCII by now (headers checked or encoded, bodies quoted-printable).
    return Buffer.from(lines.join('\r\n'), 'latin1');
  }
}

/** A message Herald cannot write as asked (never worth retrying). */
export class MimeError extends Error {
  override readonly name = 'MimeError';
}

function singleLine(name: string, value: string): string {
  if (!SAFE_HEADER_VALUE.test(value)) throw new MimeError(`the ${name} header must be one line of printable ASCII`);
  return value;
}

/**
 * A Subject: as is when it is plain ASCII, else RFC 2047 encoded words (Q for
 * mostly Latin text, B otherwise). Control characters and bidi overrides are
 * never written (see {@link plainTitle}): RFC 5322 allows no control
 * character in a header but folding whitespace, encoded words would only
 * carry them to the reader's screen, and an ASCII subject is written raw.
 */
function encodeUnstructured(value: string): string {
  const oneLine = plainTitle(value);
  if (SAFE_HEADER_VALUE.test(oneLine)) return oneLine;
  const nonLatin = oneLine.replace(/[\x20-\x7e]/g, '').length;
  return mimeFuncs.encodeWords(oneLine, nonLatin < oneLine.length / 3 ? 'Q' : 'B', 52);
}

/** A body as base64 in lines of 76 characters (native: a tenth of the cost of quoted-printable for a large HTML body). */
function base64Lines(body: string): string {
  const encoded = Buffer.from(body, 'utf8').toString('base64');
  // Sliced, not matched: a regular expression over the whole body cost three times as much.
  const lines: string[] = [];
  for (let at = 0; at < encoded.length; at += BASE64_LINE) lines.push(encoded.slice(at, at + BASE64_LINE));
  return lines.join('\r\n');
}

/** A body as quoted-printable with CRLF line breaks and soft breaks at 76 characters. */
function quotedPrintable(body: string): string {
  return qp.wrap(qp.encode(body.replace(LINE_BREAK, '\r\n')), 76);
}
