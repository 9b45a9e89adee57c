/**
 * The nesting gauge that decides, as a JSON body arrives, whether parsing it
 * is safe to start: brackets count only outside strings, and a body split
 * into chunks anywhere (inside a string, between a backslash and the
 * character it escapes, inside a multi-byte character) reads the same.
 */
import { describe, expect, it } from 'vitest';
import { NestingGauge } from '../../src/api/body-limits.js';

/** Feeds `text` to a gauge in chunks of `size` bytes; true once it went too deep. */
function tooDeep(text: string, maxDepth: number, size: number): boolean {
  const bytes = Buffer.from(text, 'utf8');
  const gauge = new NestingGauge(maxDepth);
  for (let at = 0; at < bytes.length; at += size) {
    if (gauge.exceededBy(bytes.subarray(at, at + size))) return true;
  }
  return false;
}

const cases: Array<[string, string, number, boolean]> = [
  ['flat object', '{"a": 1, "b": [1, 2]}', 2, false],
  ['one level too deep', '{"a": {"b": [1]}}', 2, true],
  ['exactly at the bound', '[[[]]]', 3, false],
  ['brackets inside a string', '{"message": "[[[[{{{{"}', 1, false],
  ['an escaped quote does not end the string', '{"m": "say \\"[[[[\\" twice"}', 1, false],
  ['an escaped backslash before the closing quote', '{"m": "C:\\\\"}, [[[1]]]', 3, false],
  ['an escaped backslash, then nesting outside the string', '{"m": "C:\\\\", "n": [[[1]]]}', 3, true],
  ['non-ASCII text with brackets', '{"m": "état [ 🚨 {"}', 1, false],
  ['siblings do not add up', '[[1], [2], [3], [[4]]]', 3, false],
];

describe('NestingGauge', () => {
  for (const [what, text, maxDepth, expected] of cases) {
    it(`${what}: ${expected ? 'too deep' : 'fine'} at max ${maxDepth}, however the body is chunked`, () => {
      for (const size of [1, 2, 3, 7, text.length]) {
        expect(tooDeep(text, maxDepth, size), `chunks of ${size}`).toBe(expected);
      }
    });
  }

  it('stops at the first byte too deep, without reading the rest', () => {
    const gauge = new NestingGauge(32);
    expect(gauge.exceededBy(Buffer.from('['.repeat(33) + 'garbage that is never looked at'))).toBe(true);
  });
});
