/**
 * Unsubscribe tokens: sealed so the recipient cannot read the audiences, and
 * links sent before sealing (signed only) still work.
 */
import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { UnsubscribeTokens } from '../../src/domain/unsubscribe-token.js';

const SECRET = 'a-signing-secret-of-at-least-32-characters';
const request = { address: 'ops@partner.example', audiences: ['tier-1-partners', 'legal'] };

describe('UnsubscribeTokens', () => {
  const tokens = new UnsubscribeTokens(SECRET);

  it('round-trips the address and audiences, and the token shows neither', () => {
    const token = tokens.sign(request);
    expect(tokens.verify(token)).toEqual(request);
    const bytes = Buffer.from(token.slice(3), 'base64url').toString('latin1');
    for (const hidden of ['tier-1-partners', 'legal', 'ops@partner.example', 'partner']) expect(bytes).not.toContain(hidden);
  });

  it('gives a different token each time (no equal links to correlate), each valid', () => {
    const a = tokens.sign(request);
    const b = tokens.sign(request);
    expect(a).not.toBe(b);
    expect(tokens.verify(b)).toEqual(request);
  });

  it("refuses another secret's token", () => {
    expect(new UnsubscribeTokens(`${SECRET}-other`).verify(tokens.sign(request))).toBeNull();
  });

  it('accepts a link signed before tokens were sealed, and refuses one with a wrong signature', () => {
    const payload = Buffer.from(JSON.stringify({ e: request.address, a: request.audiences })).toString('base64url');
    const signature = createHmac('sha256', SECRET).update(payload).digest().subarray(0, 16).toString('base64url');
    expect(tokens.verify(`${payload}.${signature}`)).toEqual(request);
    expect(tokens.verify(`${payload}.${signature.startsWith('A') ? 'B' : 'A'}${signature.slice(1)}`)).toBeNull();
  });
});
