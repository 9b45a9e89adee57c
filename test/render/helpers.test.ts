import { describe, expect, it } from 'vitest';

import {
  createHelpers,
  formatDateTime,
  formatDuration,
  formatRelative,
  formatTime,
  formatWindow,
  humanize,
  pluralize,
} from '../../src/render/helpers.js';

describe('time helpers', () => {
  it('formats an ISO time as HH:MM UTC, whatever the offset it was written with', () => {
    expect(formatTime('2024-05-14T14:30:00.000Z')).toBe('14:30 UTC');
    expect(formatTime('2024-05-14T16:05:59+02:00')).toBe('14:05 UTC');
  });

  it('formats a date and time', () => {
    expect(formatDateTime('2024-05-14T09:03:00.000Z')).toBe('Tue 14 May 2024, 09:03 UTC');
  });

  it('gives nothing for a missing time and the value itself for an unreadable one', () => {
    expect(formatTime(null)).toBe('');
    expect(formatTime(undefined)).toBe('');
    expect(formatTime('soon')).toBe('soon');
  });

  it('formats a duration', () => {
    expect(formatDuration('2024-05-14T13:00:00Z', '2024-05-14T14:25:00Z')).toBe('1 h 25 min');
    expect(formatDuration('2024-05-14T13:00:00Z', '2024-05-14T13:45:00Z')).toBe('45 min');
    expect(formatDuration('2024-05-14T13:00:00Z', '2024-05-16T16:00:00Z')).toBe('2 d 3 h');
    expect(formatDuration('2024-05-14T13:00:00Z', '2024-05-14T13:00:10Z')).toBe('less than a minute');
    expect(formatDuration('2024-05-14T13:00:00Z', null)).toBe('');
  });
});

describe('maintenance windows', () => {
  it('gives the date once and both times when the window is within one UTC day', () => {
    expect(formatWindow('2024-05-14T02:00:00.000Z', '2024-05-14T04:00:00.000Z')).toBe('Tue 14 May 2024, 02:00–04:00 UTC');
  });

  it('gives both dates when the window crosses midnight UTC', () => {
    expect(formatWindow('2024-05-14T23:00:00Z', '2024-05-15T01:30:00Z')).toBe('Tue 14 May 2024, 23:00 UTC – Wed 15 May 2024, 01:30 UTC');
  });

  it('gives the start alone without an end, and nothing without a start', () => {
    expect(formatWindow('2024-05-14T02:00:00Z', null)).toBe('Tue 14 May 2024, 02:00 UTC');
    expect(formatWindow(undefined, '2024-05-14T02:00:00Z')).toBe('');
  });
});

describe('relative times', () => {
  const at = '2024-05-14T02:00:00Z';

  it('says how far ahead something is as a reader would', () => {
    expect(formatRelative('2024-05-13T02:00:00Z', at)).toBe('in 24 hours');
    expect(formatRelative('2024-05-14T01:00:00Z', at)).toBe('in 1 hour');
    expect(formatRelative('2024-05-14T01:55:00Z', at)).toBe('in 5 min');
    expect(formatRelative('2024-05-14T00:30:00Z', at)).toBe('in 1 h 30 min');
    expect(formatRelative('2024-05-11T02:00:00Z', at)).toBe('in 3 days');
    expect(formatRelative('2024-05-11T00:00:00Z', at)).toBe('in 3 d 2 h');
  });

  it('says now, or how long ago, and nothing when an end is missing', () => {
    expect(formatRelative(at, '2024-05-14T02:00:20Z')).toBe('now');
    expect(formatRelative('2024-05-14T02:10:00Z', at)).toBe('10 min ago');
    expect(formatRelative(null, at)).toBe('');
  });
});

describe('labels', () => {
  it('turns statuses and severities into labels', () => {
    expect(humanize('investigating')).toBe('Investigating');
    expect(humanize('major')).toBe('Major');
    expect(humanize('in-progress')).toBe('In progress');
  });
});

describe('createHelpers', () => {
  const options = { hash: {}, data: {} };

  it('joins lists with a default or given separator', () => {
    const { join } = createHelpers('plain');
    expect(join?.(['api', 'email'], options)).toBe('api, email');
    expect(join?.(['api', 'email'], ' / ', options)).toBe('api / email');
    expect(join?.(undefined, options)).toBe('');
  });

  it('counts with plural', () => {
    const { plural } = createHelpers('plain');
    expect(plural?.(1, 'attempt', options)).toBe('1 attempt');
    expect(plural?.(8, 'attempt', options)).toBe('8 attempts');
    expect(pluralize(0, 'hour')).toBe('0 hours');
  });

  it('escapes code for a code block of the channel format, without zero-width spaces in Slack', () => {
    const curl = `curl -H "Authorization: Bearer $HERALD_TOKEN" -d '{"message": "<a> & *b*"}'`;
    expect(String(createHelpers('slack').code?.(curl, options))).toBe(
      `curl -H "Authorization: Bearer $HERALD_TOKEN" -d '{"message": "&lt;a&gt; &amp; *b*"}'`,
    );
    expect(String(createHelpers('html').code?.('<a> & "b"', options))).toBe('&lt;a&gt; &amp; &quot;b&quot;');
    expect(String(createHelpers('plain').code?.(curl, options))).toBe(curl);
  });

  it('compares with eq and upper-cases with upper', () => {
    const { eq, upper } = createHelpers('plain');
    expect(eq?.('a', 'a', options)).toBe(true);
    expect(eq?.(1, '1', options)).toBe(false);
    expect(upper?.('major', options)).toBe('MAJOR');
  });

  it('escapes href and multiline for the channel format', () => {
    const url = 'https://x.example/a_b?c=1&d=2';
    expect(String(createHelpers('slack').href?.(url, options))).toBe('https://x.example/a_b?c=1&amp;d=2');
    expect(String(createHelpers('html').href?.(url, options))).toBe('https://x.example/a_b?c&#x3D;1&amp;d&#x3D;2');
    expect(String(createHelpers('plain').href?.(url, options))).toBe(url);
    expect(String(createHelpers('html').multiline?.('a <b>\r\nc', options))).toBe('a &lt;b&gt;<br>\nc');
  });

  it('makes each http(s) URL of a multiline HTML text a link, and nothing else', () => {
    const html = String(createHelpers('html').multiline?.('see https://x.example/a_b?c=1&d=2"><script>.\njavascript:alert(1)', options));
    expect(html).toBe(
      'see <a href="https://x.example/a_b?c&#x3D;1&amp;d&#x3D;2">https://x.example/a_b?c&#x3D;1&amp;d&#x3D;2</a>&quot;&gt;&lt;script&gt;.<br>\njavascript:alert(1)',
    );
  });
});
