/**
 * The Handlebars helpers every template may use. The same names exist in
 * every channel's environment; `href`, `multiline` and `code` adapt to the
 * channel's format, the others return plain text that the environment then
 * escapes.
 *
 * | helper | example | gives |
 * |---|---|---|
 * | `time iso` | `{{time nextUpdateDueAt}}` | `14:30 UTC` |
 * | `datetime iso` | `{{datetime incident.resolvedAt}}` | `Tue 14 May 2024, 14:30 UTC` |
 * | `duration fromIso toIso` | `{{duration incident.createdAt incident.resolvedAt}}` | `1 h 25 min` |
 * | `timeWindow fromIso toIso` | `{{timeWindow maintenance.startsAt maintenance.endsAt}}` | `Tue 14 May 2024, 02:00–04:00 UTC` |
 * | `relativeTime fromIso toIso` | `{{relativeTime update.postedAt maintenance.startsAt}}` | `in 24 hours` (`in 5 min`, `in 3 days`, `10 min ago`) |
 * | `statusLabel s` | `{{statusLabel incident.status}}` | `Investigating` |
 * | `severityLabel s` | `{{severityLabel incident.severity}}` | `Major` |
 * | `plural n unit` | `{{plural failure.attempts "attempt"}}` | `1 attempt`, `8 attempts` |
 * | `join list [sep]` | `{{join incident.components}}` | `api, email` (default separator `", "`) |
 * | `eq a b` | `{{#if (eq update.kind "holding")}}` | `true` / `false` |
 * | `upper s` | `{{upper incident.severity}}` | `MAJOR` |
 * | `href url` | `<{{href incident.url}}\|View>` | the URL escaped for a link in this format |
 * | `multiline text` | `{{multiline update.message}}` | the text escaped, line breaks kept (`<br>` in HTML, where its URLs also become links) |
 * | `code text` | `{{code reminder.curl}}` in a code block | the text escaped for a code block in this format (no Slack zero-width spaces) |
 */
import Handlebars from 'handlebars';

import { ESCAPE_CODE, ESCAPE_TEXT, ESCAPE_URL, escapeHtml, type Escaping } from './escape.js';
import { splitAtUrls } from './urls.js';

type Helper = (...args: unknown[]) => unknown;

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'] as const;
const WEEKDAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'] as const;

/**
 * Handlebars passes its `options` object as the last argument; a helper
 * called with fewer arguments than it names sees `options` in their place.
 */
function isHandlebarsOptions(value: unknown): boolean {
  return typeof value === 'object' && value !== null && 'hash' in value && 'data' in value;
}

function argument(value: unknown): unknown {
  return isHandlebarsOptions(value) ? undefined : value;
}

function toDate(value: unknown): Date | null {
  if (value instanceof Date) return value;
  if (typeof value !== 'string' || value === '') return null;
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? null : date;
}

const pad2 = (n: number): string => String(n).padStart(2, '0');

/** `14:30`. */
const clock = (date: Date): string => `${pad2(date.getUTCHours())}:${pad2(date.getUTCMinutes())}`;

/** `14:30 UTC`. */
export function formatTime(value: unknown): string {
  const date = toDate(argument(value));
  if (date === null) return typeof value === 'string' ? value : '';
  return `${clock(date)} UTC`;
}

/** `Tue 14 May 2024`. */
function formatDate(date: Date): string {
  return `${WEEKDAYS[date.getUTCDay()]} ${date.getUTCDate()} ${MONTHS[date.getUTCMonth()]} ${date.getUTCFullYear()}`;
}

/** `Tue 14 May 2024, 14:30 UTC`. */
export function formatDateTime(value: unknown): string {
  const date = toDate(argument(value));
  if (date === null) return typeof value === 'string' ? value : '';
  return `${formatDate(date)}, ${formatTime(date)}`;
}

/**
 * A window of time: `Tue 14 May 2024, 02:00–04:00 UTC` within one UTC day,
 * `Tue 14 May 2024, 23:00 UTC – Wed 15 May 2024, 01:00 UTC` across days;
 * the start alone when the end is missing, empty when the start is.
 */
export function formatWindow(from: unknown, to: unknown): string {
  const start = toDate(argument(from));
  const end = toDate(argument(to));
  if (start === null) return '';
  if (end === null) return formatDateTime(start);
  if (formatDate(start) !== formatDate(end)) return `${formatDateTime(start)} – ${formatDateTime(end)}`;
  return `${formatDate(start)}, ${clock(start)}–${clock(end)} UTC`;
}

/** `2 d 3 h`, `1 h 25 min`, `45 min`, `less than a minute`; empty when either end is missing. */
export function formatDuration(from: unknown, to: unknown): string {
  const start = toDate(argument(from));
  const end = toDate(argument(to));
  if (start === null || end === null) return '';
  const minutes = Math.max(0, Math.round((end.getTime() - start.getTime()) / 60_000));
  return minutes === 0 ? 'less than a minute' : durationText(minutes);
}

function durationText(minutes: number): string {
  const days = Math.floor(minutes / 1440);
  const hours = Math.floor((minutes % 1440) / 60);
  const mins = minutes % 60;
  if (days > 0) return hours > 0 ? `${days} d ${hours} h` : `${days} d`;
  if (hours > 0) return mins > 0 ? `${hours} h ${mins} min` : `${hours} h`;
  return `${mins} min`;
}

/** `1 attempt`, `8 attempts`. */
export function pluralize(count: number, unit: string): string {
  return `${count} ${unit}${count === 1 ? '' : 's'}`;
}

/**
 * How far `to` is from `from`, as a reader would say it: `in 5 min`,
 * `in 1 hour`, `in 24 hours`, `in 1 h 30 min`, `in 3 days`, `now`,
 * `10 min ago`; empty when either end is missing. Under two days it counts
 * in hours, since "in 24 hours" is what a reminder a day ahead means.
 */
export function formatRelative(from: unknown, to: unknown): string {
  const start = toDate(argument(from));
  const end = toDate(argument(to));
  if (start === null || end === null) return '';
  const minutes = Math.round((end.getTime() - start.getTime()) / 60_000);
  if (minutes === 0) return 'now';
  const span = Math.abs(minutes);
  let text: string;
  if (span < 60) text = `${span} min`;
  else if (span < 2 * 1440) text = span % 60 === 0 ? pluralize(span / 60, 'hour') : `${Math.floor(span / 60)} h ${span % 60} min`;
  else text = span % 1440 === 0 ? pluralize(span / 1440, 'day') : durationText(span);
  return minutes > 0 ? `in ${text}` : `${text} ago`;
}

/** `investigating` → `Investigating`, `in-progress` → `In progress`. */
export function humanize(value: unknown): string {
  const text = argument(value);
  if (typeof text !== 'string' || text === '') return '';
  const words = text.replace(/[-_]+/g, ' ');
  return words.charAt(0).toUpperCase() + words.slice(1);
}

/**
 * HTML of a commander's text in which each `http(s)` URL is a link: only
 * those schemes are found, so no `javascript:` can become one.
 */
function htmlWithLinks(text: string): string {
  return splitAtUrls(text)
    .map((piece) => (piece.kind === 'url' ? `<a href="${escapeHtml(piece.text)}">${escapeHtml(piece.text)}</a>` : escapeHtml(piece.text)))
    .join('');
}

/** The helpers of one channel environment, keyed by name. */
export function createHelpers(escaping: Escaping): Record<string, Helper> {
  const escapeText = ESCAPE_TEXT[escaping];
  const escapeUrl = ESCAPE_URL[escaping];
  const escapeCode = ESCAPE_CODE[escaping];
  return {
    time: formatTime,
    datetime: formatDateTime,
    duration: formatDuration,
    timeWindow: formatWindow,
    relativeTime: formatRelative,
    plural: (count: unknown, unit: unknown) => {
      const n = argument(count);
      const word = argument(unit);
      return typeof n === 'number' && typeof word === 'string' ? pluralize(n, word) : '';
    },
    statusLabel: humanize,
    severityLabel: humanize,
    join: (list: unknown, separator: unknown) => {
      const items = argument(list);
      if (!Array.isArray(items)) return typeof items === 'string' ? items : '';
      const sep = argument(separator);
      return items.join(typeof sep === 'string' ? sep : ', ');
    },
    eq: (a: unknown, b: unknown) => argument(a) === argument(b),
    upper: (value: unknown) => {
      const text = argument(value);
      return typeof text === 'string' ? text.toUpperCase() : '';
    },
    href: (url: unknown) => {
      const text = argument(url);
      return new Handlebars.SafeString(typeof text === 'string' ? escapeUrl(text) : '');
    },
    multiline: (value: unknown) => {
      const text = argument(value);
      if (typeof text !== 'string') return '';
      const lines = text.replace(/\r\n?/g, '\n');
      return new Handlebars.SafeString(escaping === 'html' ? htmlWithLinks(lines).replaceAll('\n', '<br>\n') : escapeText(lines));
    },
    code: (value: unknown) => {
      const text = argument(value);
      return new Handlebars.SafeString(typeof text === 'string' ? escapeCode(text) : '');
    },
  };
}

/** The names of the helpers registered in every environment (besides Handlebars' built-ins). */
export const HELPER_NAMES: readonly string[] = Object.freeze(Object.keys(createHelpers('plain')));
