import PostalMime from 'postal-mime';
import { describe, expect, it } from 'vitest';
import { MimeError, MimeWriter, type MimeMessage } from '../../src/channels/mime.js';

function message(overrides: Partial<MimeMessage> = {}): MimeMessage {
  return {
    to: 'ops@partner.example',
    subject: '[Major] Email delivery delayed — Identified',
    text: 'We found the cause.\nNext update by 14:30 UTC.',
    html: '<p>We found the cause.</p>',
    messageId: '<upd_02.ops@herald.acme.example>',
    ...overrides,
  };
}

async function parsed(raw: Buffer) {
  return PostalMime.parse(raw);
}

/** The raw header block's lines, unfolded lines kept as they are on the wire. */
function rawLines(raw: Buffer): string[] {
  return raw.toString('latin1').split('\r\n');
}

describe('MimeWriter — what a mail client reads', () => {
  it('writes subject, body parts and threading headers that parse back exactly', async () => {
    const writer = await MimeWriter.forSender('Acme Status <status@acme.example>');
    const raw = writer.write(
      message({
        inReplyTo: '<upd_01.ops@herald.acme.example>',
        references: ['<upd_01.ops@herald.acme.example>'],
        headers: { 'List-Unsubscribe': '<https://status.acme.example/unsubscribe/tok>', 'List-Unsubscribe-Post': 'List-Unsubscribe=One-Click' },
      }),
    );
    const email = await parsed(raw);
    expect(email.subject).toBe('[Major] Email delivery delayed — Identified');
    expect(email.from).toEqual({ name: 'Acme Status', address: 'status@acme.example' });
    expect(email.to).toEqual([{ name: '', address: 'ops@partner.example' }]);
    expect(email.messageId).toBe('<upd_02.ops@herald.acme.example>');
    expect(email.inReplyTo).toBe('<upd_01.ops@herald.acme.example>');
    expect(email.references).toBe('<upd_01.ops@herald.acme.example>');
    expect(email.text?.replace(/\r\n/g, '\n').trimEnd()).toBe('We found the cause.\nNext update by 14:30 UTC.');
    expect(email.html?.trimEnd()).toBe('<p>We found the cause.</p>');
    const header = (name: string) => email.headers.find((h) => h.key === name.toLowerCase())?.value;
    expect(header('List-Unsubscribe')).toBe('<https://status.acme.example/unsubscribe/tok>');
    expect(header('List-Unsubscribe-Post')).toBe('List-Unsubscribe=One-Click');
    expect(header('MIME-Version')).toBe('1.0');
    expect(Date.parse(header('Date') ?? '')).not.toBeNaN();
    expect(writer.envelopeFrom).toBe('status@acme.example');
  });

  it('keeps text in any script, long lines and trailing spaces intact, with every line within 78 characters', async () => {
    const writer = await MimeWriter.forSender('"Statut — Acmé" <statut@acme.example>');
    const text = `Störung: 邮件延迟 — ${'a long sentence that goes on and on, '.repeat(8)}\r\nline with trailing spaces   \nold Mac line\rlast line ✓`;
    const subject = 'Störung – 邮件延迟 ✓ '.repeat(4).trim();
    const raw = writer.write(message({ subject, text, html: `<p>${text}</p>` }));
    const email = await parsed(raw);
    expect(email.subject).toBe(subject);
    expect(email.from).toEqual({ name: 'Statut — Acmé', address: 'statut@acme.example' });
    expect(email.text?.replace(/\r\n/g, '\n').trimEnd()).toBe(text.replace(/\r\n|\r/g, '\n'));
    for (const line of rawLines(raw)) expect(line.length).toBeLessThanOrEqual(78);
    // Nothing but ASCII on the wire: a server without 8BITMIME takes it as is.
    expect([...raw].every((byte) => byte < 0x80)).toBe(true);
  });

  it('folds a long References chain and every id survives', async () => {
    const writer = await MimeWriter.forSender('status@acme.example');
    const references = Array.from({ length: 20 }, (_, i) => `<upd_${String(i).padStart(2, '0')}.ops@herald.acme.example>`);
    const raw = writer.write(message({ references }));
    const email = await parsed(raw);
    expect(email.references?.split(/\s+/)).toEqual(references);
    for (const line of rawLines(raw)) expect(line.length).toBeLessThanOrEqual(78);
  });

  it('a line break in a subject cannot start a header of its own', async () => {
    const writer = await MimeWriter.forSender('status@acme.example');
    const email = await parsed(writer.write(message({ subject: 'Resolved\r\nBcc: everyone@example.com' })));
    expect(email.subject).toBe('Resolved Bcc: everyone@example.com');
    expect(email.bcc).toBeUndefined();
  });

  it('refuses header values and recipients it cannot write safely, naming what is wrong', async () => {
    const writer = await MimeWriter.forSender('status@acme.example');
    expect(() => writer.write(message({ headers: { 'List-Unsubscribe': '<https://a>\r\nBcc: x@y' } }))).toThrow(MimeError);
    expect(() => writer.write(message({ to: 'ops@partner.example\r\nBcc: x@y' }))).toThrow(/recipient/);
    expect(() => writer.write(message({ to: 'not an address' }))).toThrow(/recipient/);
    expect(() => writer.write(message({ inReplyTo: '<a@b>\n' }))).toThrow(/In-Reply-To/);
  });

  it('gives every message a boundary of its own', async () => {
    const writer = await MimeWriter.forSender('status@acme.example');
    const boundary = (raw: Buffer) => /boundary="([^"]+)"/.exec(raw.toString('latin1'))?.[1];
    const first = boundary(writer.write(message()));
    const second = boundary(writer.write(message()));
    expect(first).toBeDefined();
    expect(first).not.toBe(second);
  });

  it('refuses a sender without an address at startup', async () => {
    await expect(MimeWriter.forSender('Acme Status')).rejects.toThrow(/EMAIL_FROM/);
  });
});
