import { describe, expect, it } from 'vitest';

import { createHelpers, formatDateTime, formatDuration, formatTime, humanize } from '../../src/render/helpers.js';

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
});
