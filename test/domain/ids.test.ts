import { decodeTime, isValid } from 'ulidx';
import { describe, expect, it } from 'vitest';
import { newUlid } from '../../src/domain/ids.js';

describe('newUlid', () => {
  it('is a valid ULID carrying the given time', () => {
    const at = Date.parse('2026-11-21T09:00:00.123Z');
    const id = newUlid(at);
    expect(isValid(id)).toBe(true);
    expect(decodeTime(id)).toBe(at);
  });

  it('never repeats within a millisecond, across many pool refills, and uses the whole alphabet', () => {
    const at = Date.now();
    const ids = Array.from({ length: 20_000 }, () => newUlid(at));
    expect(new Set(ids).size).toBe(ids.length);
    const randomChars = new Set(ids.flatMap((id) => [...id.slice(10)]));
    expect(randomChars.size).toBe(32);
  });
});
