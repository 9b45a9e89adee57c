import { describe, expect, it } from 'vitest';

import {
  escapeHtml,
  escapeMarkdown,
  escapeMarkdownUrl,
  escapeSlack,
  escapeSlackCode,
  escapeSlackUrl,
  ZERO_WIDTH_SPACE as ZWSP,
} from '../../src/render/escape.js';

const HOSTILE = '<script>alert(1)</script> {{x}} *bold* <!channel> & < >';

describe('escapeHtml', () => {
  it('turns markup into text', () => {
    expect(escapeHtml(HOSTILE)).toBe(
      '&lt;script&gt;alert(1)&lt;/script&gt; {{x}} *bold* &lt;!channel&gt; &amp; &lt; &gt;',
    );
  });

  it('escapes quotes so values are safe inside attributes', () => {
    expect(escapeHtml(`"a" 'b'`)).toBe('&quot;a&quot; &#x27;b&#x27;');
  });
});

describe('escapeSlack', () => {
  it('turns Slack control characters into entities, so <!channel> pings nobody and a link cannot wear a false label', () => {
    expect(escapeSlack('<!channel> & <https://evil.example|click>')).toBe(
      '&lt;!channel&gt; &amp; &lt;<https://evil.example>|click&gt;',
    );
  });

  it('puts a zero-width space before every formatting character at a word boundary', () => {
    expect(escapeSlack('*bold* _it_ ~strike~ `code`')).toBe(
      `${ZWSP}*bold${ZWSP}* ${ZWSP}_it${ZWSP}_ ${ZWSP}~strike${ZWSP}~ ${ZWSP}\`code${ZWSP}\``,
    );
  });

  it('escapes the whole hostile message exactly', () => {
    expect(escapeSlack(HOSTILE)).toBe(
      `&lt;script&gt;alert(1)&lt;/script&gt; {{x}} ${ZWSP}*bold${ZWSP}* &lt;!channel&gt; &amp; &lt; &gt;`,
    );
  });

  it('leaves markers inside a word alone, so an identifier copies as itself', () => {
    expect(escapeSlack('alert api_error_rate_high fired; 2*3*4 ~ok~')).toBe(`alert api_error_rate_high fired; 2*3*4 ${ZWSP}~ok${ZWSP}~`);
  });

  it('writes a URL as a Slack link with its exact characters, while markup around it stays literal', () => {
    expect(escapeSlack('*see* https://runbooks.example.com/api_error_rate_high?x=1&y=2#step_3, then <!here>')).toBe(
      `${ZWSP}*see${ZWSP}* <https://runbooks.example.com/api_error_rate_high?x=1&y=2#step_3>, then &lt;!here&gt;`,
    );
    expect(escapeSlack('(https://example.com/a*b*c) _https://example.com/_x__')).toBe(
      `(<https://example.com/a*b*c>) ${ZWSP}_<https://example.com/_x>${ZWSP}_${ZWSP}_`,
    );
  });

  it('leaves plain text alone', () => {
    expect(escapeSlack('Email delivery delayed: 42% of messages, since 14:30 UTC.')).toBe(
      'Email delivery delayed: 42% of messages, since 14:30 UTC.',
    );
  });
});

describe('escapeSlackUrl', () => {
  it('keeps the URL working (no zero-width spaces) but cannot end the link early', () => {
    expect(escapeSlackUrl('https://status.my_corp.example/i?a=1&b=2|x>')).toBe(
      'https://status.my_corp.example/i?a=1&amp;b=2%7Cx&gt;',
    );
  });
});

describe('escapeSlackCode', () => {
  it('keeps a pasted command intact (no zero-width spaces) while <!channel> still pings nobody', () => {
    expect(escapeSlackCode('echo $HERALD_TOKEN *x* <!channel> && true')).toBe('echo $HERALD_TOKEN *x* &lt;!channel&gt; &amp;&amp; true');
  });
});

describe('escapeMarkdown', () => {
  it('backslash-escapes inline Markdown', () => {
    expect(escapeMarkdown(HOSTILE)).toBe(
      '\\<script\\>alert(1)\\</script\\> {{x}} \\*bold\\* \\<!channel\\> \\& \\< \\>',
    );
    expect(escapeMarkdown('[link](https://x) _em_ ~del~ `code` a|b back\\slash')).toBe(
      '\\[link\\](<https://x>) \\_em\\_ \\~del\\~ \\`code\\` a\\|b back\\\\slash',
    );
  });

  it('escapes block markers only at the start of a line', () => {
    expect(escapeMarkdown('# title\n- item\n+ item\n1. one\n2) two\n===\nv1.2 of api-gateway #3')).toBe(
      '\\# title\n\\- item\n\\+ item\n1\\. one\n2\\) two\n\\===\nv1.2 of api-gateway #3',
    );
  });
});

describe('escapeMarkdown of URLs', () => {
  it('makes each URL an autolink with its exact characters, escaping the prose around it', () => {
    expect(escapeMarkdown('*see* https://runbooks.example.com/api_error_rate_high?x=1&y=2#step_3.\n- https://example.com/a*b*c - done')).toBe(
      '\\*see\\* <https://runbooks.example.com/api_error_rate_high?x=1&y=2#step_3>.\n\\- <https://example.com/a*b*c> - done',
    );
  });
});

describe('escapeMarkdownUrl', () => {
  it('percent-encodes what would end a link destination', () => {
    expect(escapeMarkdownUrl('https://x.example/a b(c)<d>')).toBe('https://x.example/a%20b%28c%29%3Cd%3E');
  });
});
