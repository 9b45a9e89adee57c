/**
 * One-click unsubscribe links (RFC 8058). The token carries who to remove
 * from which audiences and is signed, so the link needs no bearer token and
 * cannot be forged to remove somebody else.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

export interface UnsubscribeRequest {
  address: string;
  audiences: string[];
}

/** 128 bits of HMAC-SHA256 is ample for a link that only removes its own address. */
const SIGNATURE_BYTES = 16;

export class UnsubscribeTokens {
  constructor(private readonly secret: string) {}

  sign(request: UnsubscribeRequest): string {
    const payload = Buffer.from(JSON.stringify({ e: request.address, a: request.audiences })).toString('base64url');
    return `${payload}.${this.mac(payload)}`;
  }

  /** The request a token carries, or null when it is malformed or not ours. */
  verify(token: string): UnsubscribeRequest | null {
    const dot = token.indexOf('.');
    if (dot <= 0) return null;
    const payload = token.slice(0, dot);
    // Compared as text: decoding first would accept other spellings of the same bytes.
    const given = Buffer.from(token.slice(dot + 1));
    const expected = Buffer.from(this.mac(payload));
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) return null;
    try {
      const parsed = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as { e?: unknown; a?: unknown };
      if (typeof parsed.e !== 'string' || !Array.isArray(parsed.a) || !parsed.a.every((a) => typeof a === 'string')) return null;
      return { address: parsed.e, audiences: parsed.a as string[] };
    } catch {
      return null;
    }
  }

  private mac(payload: string): string {
    return createHmac('sha256', this.secret).update(payload).digest().subarray(0, SIGNATURE_BYTES).toString('base64url');
  }
}

export function unsubscribeUrl(publicUrl: string, token: string): string {
  return `${publicUrl}/unsubscribe/${token}`;
}
