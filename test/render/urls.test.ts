import { describe, expect, it } from 'vitest';

import { splitAtUrls } from '../../src/render/urls.js';

const urls = (text: string): string[] => splitAtUrls(text).filter((p) => p.kind === 'url').map((p) => p.text);

describe('splitAtUrls', () => {
  it.each([
    ['see https://runbooks.example.com/api_error_rate_high?x=1&y=2#step_3.', ['https://runbooks.example.com/api_error_rate_high?x=1&y=2#step_3']],
    ['(workaround: https://example.com/a*b*c)', ['https://example.com/a*b*c']],
    ['https://en.wikipedia.org/wiki/Foo_(bar), then', ['https://en.wikipedia.org/wiki/Foo_(bar)']],
    ['<https://evil.example|click> and <!channel>', ['https://evil.example']],
    ['internal https://grafana.corp/d/api_error_', ['https://grafana.corp/d/api_error']],
    ['an IRI https://例え.jp/パス!', ['https://例え.jp/パス']],
    ['two: http://a.example/x;https://b.example/y', ['http://a.example/x;https://b.example/y']],
    ['no address: https:// or ftp://files.example or apihttps://x', []],
  ])('finds the URLs of %j', (text, expected) => {
    expect(urls(text)).toEqual(expected);
  });

  it('gives the text back when joined', () => {
    const text = '*see* https://x.example/a_b?c=1&d=2, (https://y.example/(z)) done';
    expect(splitAtUrls(text).map((p) => p.text).join('')).toBe(text);
  });
});
