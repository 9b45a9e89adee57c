/**
 * One-click unsubscribe links (RFC 8058). The token carries who to remove
 * from which audiences, so the link needs no bearer token and no lookup; it
 * is sealed (AES-256-GCM: encrypted and authenticated), so it cannot be
 * forged to remove somebody else, and the recipient who holds it cannot read
 * the names of the audiences they are in — those are Herald's, not the
 * partner's (contract §3: nothing of the audiences leaves Herald).
 */
import { createCipheriv, createDecipheriv, createHmac, hkdfSync, randomBytes, timingSafeEqual } from 'node:crypto';

export interface UnsubscribeRequest {
  address: string;
  audiences: string[];
}

/** Marks a sealed token; the signed-only tokens before it had no prefix. */
const SEALED_PREFIX = 's1.';
/** GCM's recommended nonce size (NIST SP 800-38D §8.2), random per token. */
const NONCE_BYTES = 12;
const TAG_BYTES = 16;
/** 128 bits of HMAC-SHA256 was the signed-only tokens' signature. */
const SIGNATURE_BYTES = 16;

export class UnsubscribeTokens {
  readonly #sealKey: Buffer;

  constructor(private readonly secret: string) {
    // A key of its own, derived from the signing secret, so one secret serves both forms.
    this.#sealKey = Buffer.from(hkdfSync('sha256', secret, 'herald', 'unsubscribe-token seal v1', 32));
  }

  sign(request: UnsubscribeRequest): string {
    const nonce = randomBytes(NONCE_BYTES);
    const cipher = createCipheriv('aes-256-gcm', this.#sealKey, nonce);
    const plain = Buffer.from(JSON.stringify({ e: request.address, a: request.audiences }));
    const sealed = Buffer.concat([nonce, cipher.update(plain), cipher.final(), cipher.getAuthTag()]);
    return `${SEALED_PREFIX}${sealed.toString('base64url')}`;
  }

  /** The request a token carries, or null when it is malformed or not ours. */
  verify(token: string): UnsubscribeRequest | null {
    const plain = token.startsWith(SEALED_PREFIX) ? this.open(token.slice(SEALED_PREFIX.length)) : this.checkSigned(token);
    if (plain === null) return null;
    try {
      const parsed = JSON.parse(plain) as { e?: unknown; a?: unknown };
      if (typeof parsed.e !== 'string' || !Array.isArray(parsed.a) || !parsed.a.every((a) => typeof a === 'string')) return null;
      return { address: parsed.e, audiences: parsed.a as string[] };
    } catch {
      return null;
    }
  }

  private open(encoded: string): string | null {
    const sealed = Buffer.from(encoded, 'base64url');
    // Re-encoding must give the same text: otherwise other spellings of one token would be accepted.
    if (sealed.length <= NONCE_BYTES + TAG_BYTES || sealed.toString('base64url') !== encoded) return null;
    try {
      const decipher = createDecipheriv('aes-256-gcm', this.#sealKey, sealed.subarray(0, NONCE_BYTES));
      decipher.setAuthTag(sealed.subarray(sealed.length - TAG_BYTES));
      return Buffer.concat([decipher.update(sealed.subarray(NONCE_BYTES, sealed.length - TAG_BYTES)), decipher.final()]).toString('utf8');
    } catch {
      return null;
    }
  }

  /** Links Herald sent before tokens were sealed (`payload.signature`) keep working. */
  private checkSigned(token: string): string | null {
    const dot = token.indexOf('.');
    if (dot <= 0) return null;
    const payload = token.slice(0, dot);
    // Compared as text: decoding first would accept other spellings of the same bytes.
    const given = Buffer.from(token.slice(dot + 1));
    const expected = Buffer.from(
      createHmac('sha256', this.secret).update(payload).digest().subarray(0, SIGNATURE_BYTES).toString('base64url'),
    );
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) return null;
    return Buffer.from(payload, 'base64url').toString('utf8');
  }
}

export function unsubscribeUrl(publicUrl: string, token: string): string {
  return `${publicUrl}/unsubscribe/${token}`;
}
