/**
 * Every Lua script under src/store/lua says at its top what it is and what
 * it touches: its name, each KEYS[n] and ARGV[n] it uses, what it returns and
 * the error codes it raises. (Cluster-ready keys: a script may touch only
 * keys declared in KEYS, so each one it reads must be documented there.)
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { luaDir } from '../../src/store/redis-script.js';

const dir = luaDir();
const scripts = readdirSync(dir).filter((f) => f.endsWith('.lua')).sort();

/** The leading comment lines, and the code after them (comments left out). */
function split(source: string): { header: string[]; body: string } {
  const lines = source.split('\n');
  const end = lines.findIndex((line) => !line.startsWith('--'));
  const header = end < 0 ? lines : lines.slice(0, end);
  const body = (end < 0 ? [] : lines.slice(end)).map((line) => line.replace(/--.*$/, '')).join('\n');
  return { header, body };
}

const numbers = (text: string, array: 'KEYS' | 'ARGV'): number[] =>
  [...new Set([...text.matchAll(new RegExp(`${array}\\[(\\d+)\\]`, 'g'))].map((m) => Number(m[1])))].sort((a, b) => a - b);

describe('the Lua scripts under src/store/lua', () => {
  it('are there', () => {
    expect(scripts.length).toBeGreaterThan(0);
  });

  describe.each(scripts)('%s', (file) => {
    const name = file.replace(/\.lua$/, '');
    const { header, body } = split(readFileSync(path.join(dir, file), 'utf8'));
    const documented = (array: 'KEYS' | 'ARGV'): string[] => header.filter((line) => new RegExp(`^-- ${array}\\[`).test(line));

    it('opens with a header that names it and says what it does', () => {
      expect(header[0]).toMatch(new RegExp(`^-- ${name}: \\S`));
    });

    it('documents each KEYS[n] it uses, one line each, and uses no key it was not given', () => {
      const lines = documented('KEYS');
      expect(lines.length, 'no -- KEYS[n] lines').toBeGreaterThan(0);
      const declared = numbers(lines.join('\n'), 'KEYS');
      for (const n of numbers(body, 'KEYS')) expect(declared, `KEYS[${n}] is used but not documented`).toContain(n);
      // KEYS indexed by anything but a literal (KEYS[i]) could be any key: say which in the header instead.
      expect(body).not.toMatch(/KEYS\[(?!\d+\])/);
    });

    it('documents each ARGV[n] it uses (a range "ARGV[k…]" covers k and after)', () => {
      const lines = documented('ARGV');
      expect(lines.length, 'no -- ARGV[n] lines').toBeGreaterThan(0);
      const declared = numbers(lines.join('\n'), 'ARGV');
      const rangeFrom = lines
        .map((line) => /^-- ARGV\[(\d+)(?:…|\.\.\.)\]/.exec(line)?.[1])
        .filter((n): n is string => n !== undefined)
        .map(Number);
      for (const n of numbers(body, 'ARGV')) {
        const covered = declared.includes(n) || rangeFrom.some((from) => n >= from);
        expect(covered, `ARGV[${n}] is used but not documented`).toBe(true);
      }
    });

    it('says what it returns, and names every error code it raises', () => {
      expect(header.some((line) => line.startsWith('-- Returns:')), 'no -- Returns: line').toBe(true);
      const text = header.join('\n');
      for (const [, code] of body.matchAll(/error_reply\(\s*'([A-Z]+)'\s*\)/g)) {
        expect(text, `error ${code} is raised but not in the header`).toMatch(new RegExp(`-- Errors:[\\s\\S]*\\b${code}\\b`));
      }
    });
  });
});
