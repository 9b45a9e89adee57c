import twitterText from 'twitter-text';
import { describe, expect, it } from 'vitest';

import { distinctPost, fitToPost, weightedLength, X_MAX_WEIGHTED_LENGTH } from '../../src/render/x-text.js';

const URL = 'https://status.example.com/incidents/01HZX0SAMPLEINCIDENT00001';
const SUFFIX = `… ${URL}`;

/** Every code unit pairing is intact: no lone high or low surrogate. */
function hasLoneSurrogate(text: string): boolean {
  return /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/.test(text);
}

function expectFittedWithLink(result: string): void {
  expect(twitterText.parseTweet(result).weightedLength).toBeLessThanOrEqual(X_MAX_WEIGHTED_LENGTH);
  expect(result.endsWith(SUFFIX)).toBe(true);
  expect(hasLoneSurrogate(result)).toBe(false);
}

describe('weightedLength', () => {
  it('counts like X: Latin 1, CJK 2, any URL 23', () => {
    expect(weightedLength('abc')).toBe(3);
    expect(weightedLength('日本語')).toBe(6);
    expect(weightedLength(URL)).toBe(23);
    expect(weightedLength(`see ${URL}`)).toBe(27);
  });
});

describe('fitToPost', () => {
  it('returns text that fits unchanged, even at exactly 280', () => {
    const text = 'a'.repeat(280);
    expect(fitToPost(text, URL)).toBe(text);
    expect(fitToPost('Short post.', URL)).toBe('Short post.');
  });

  it('counts a long URL in the text as 23, so such text is not cut', () => {
    const text = `${'x'.repeat(250)} https://example.com/a/very/long/path/that/goes/on/and/on/and/on/and/on`;
    expect(text.length).toBeGreaterThan(280);
    expect(fitToPost(text, URL)).toBe(text);
  });

  it('cuts long ASCII on a word boundary and appends the link', () => {
    const text = 'We are investigating elevated error rates on the API. '.repeat(10);
    const result = fitToPost(text, URL);
    expectFittedWithLink(result);
    const kept = result.slice(0, -SUFFIX.length);
    expect(text.startsWith(kept)).toBe(true);
    // The cut falls between words: what follows it in the original is a space.
    expect(text.charAt(kept.length)).toBe(' ');
    expect(weightedLength(result)).toBeGreaterThan(X_MAX_WEIGHTED_LENGTH - 15);
  });

  it('cuts one very long word between characters rather than dropping it all', () => {
    const result = fitToPost('a'.repeat(400), URL);
    expectFittedWithLink(result);
    expect(result).toBe(`${'a'.repeat(280 - 26)}${SUFFIX}`);
  });

  it('cuts long CJK text, where each character weighs 2', () => {
    const text = '我们正在调查电子邮件发送延迟的问题。'.repeat(20);
    const result = fitToPost(text, URL);
    expectFittedWithLink(result);
    // 280 - 26 for "… " + link leaves 254, i.e. 127 CJK characters.
    expect(result).toBe(`${[...text].slice(0, 127).join('')}${SUFFIX}`);
    expect(weightedLength(result)).toBe(280);
  });

  it('never splits an emoji: surrogate pairs and ZWJ sequences stay whole', () => {
    // A ZWJ family is 7 code points but one emoji: X weighs it 2.
    const family = '👩‍👩‍👧‍👦';
    for (const text of ['😀'.repeat(200), family.repeat(200), `a${'😀'.repeat(200)}`]) {
      const result = fitToPost(text, URL);
      expectFittedWithLink(result);
      const kept = result.slice(0, -SUFFIX.length);
      expect(text.startsWith(kept)).toBe(true);
      if (text.startsWith(family)) expect(kept.length % family.length).toBe(0);
    }
  });

  it('trims trailing space before the ellipsis', () => {
    const result = fitToPost(`${'word '.repeat(100)}`, URL);
    expectFittedWithLink(result);
    expect(result).toMatch(/word… https:/);
  });
});

describe('distinctPost', () => {
  const update = { seq: 5, postedAt: '2024-05-14T14:31:05.123Z' };

  it('adds the update number and time on a line of its own, the same on every call', () => {
    const text = `No new information yet on Search degraded.\n${URL}`;
    expect(distinctPost(text, update, URL)).toBe(`${text}\n(update 5, 14:31:05 UTC)`);
    expect(distinctPost(text, update, URL)).toBe(distinctPost(text, update, URL));
    expect(distinctPost(text, { ...update, seq: 6, postedAt: '2024-05-14T14:31:06.001Z' }, URL)).not.toBe(distinctPost(text, update, URL));
  });

  it('puts the mark first and cuts the rest when a full post leaves no room', () => {
    const full = fitToPost(`${'word '.repeat(80)}${URL}`, URL);
    const result = distinctPost(full, update, URL);
    expect(result.startsWith('(update 5, 14:31:05 UTC) word')).toBe(true);
    expectFittedWithLink(result);
  });
});
