/**
 * The Handlebars helpers every template may use. The same names exist in
 * every channel's environment; `href` and `multiline` adapt to the channel's
 * format, the others return plain text that the environment then escapes.
 *
 * | helper | example | gives |
 * |---|---|---|
 * | `time iso` | `{{time nextUpdateDueAt}}` | `14:30 UTC` |
 * | `datetime iso` | `{{datetime incident.resolvedAt}}` | `Tue 14 May 2024, 14:30 UTC` |
 * | `duration fromIso toIso` | `{{duration incident.createdAt incident.resolvedAt}}` | `1 h 25 min` |
 * | `statusLabel s` | `{{statusLabel incident.status}}` | `Investigating` |
 * | `severityLabel s` | `{{severityLabel incident.severity}}` | `Major` |
 * | `join list [sep]` | `{{join incident.components}}` | `api, email` (default separator `", "`) |
 * | `eq a b` | `{{#if (eq update.kind "holding")}}` | `true` / `false` |
 * | `upper s` | `{{upper incident.severity}}` | `MAJOR` |
 * | `href url` | `<{{href incident.url}}\|View>` | the URL escaped for a link in this format |
 * | `multiline text` | `{{multiline update.message}}` | the text escaped, line breaks kept (`<br>` in HTML) |
 */
import Handlebars from 'handlebars';

import { ESCAPE_TEXT, ESCAPE_URL, escapeHtml, type Escaping } from './escape.js';

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

/** `14:30 UTC`. */
export function formatTime(value: unknown): string {
  const date = toDate(argument(value));
  if (date === null) return typeof value === 'string' ? value : '';
  return `${pad2(date.getUTCHours())}:${pad2(date.getUTCMinutes())} UTC`;
}

/** `Tue 14 May 2024, 14:30 UTC`. */
export function formatDateTime(value: unknown): string {
  const date = toDate(argument(value));
  if (date === null) return typeof value === 'string' ? value : '';
  return `${WEEKDAYS[date.getUTCDay()]} ${date.getUTCDate()} ${MONTHS[date.getUTCMonth()]} ${date.getUTCFullYear()}, ${formatTime(date)}`;
}

/** `2 d 3 h`, `1 h 25 min`, `45 min`, `less than a minute`; empty when either end is missing. */
export function formatDuration(from: unknown, to: unknown): string {
  const start = toDate(argument(from));
  const end = toDate(argument(to));
  if (start === null || end === null) return '';
  const minutes = Math.max(0, Math.round((end.getTime() - start.getTime()) / 60_000));
  if (minutes === 0) return 'less than a minute';
  const days = Math.floor(minutes / 1440);
  const hours = Math.floor((minutes % 1440) / 60);
  const mins = minutes % 60;
  if (days > 0) return hours > 0 ? `${days} d ${hours} h` : `${days} d`;
  if (hours > 0) return mins > 0 ? `${hours} h ${mins} min` : `${hours} h`;
  return `${mins} min`;
}

/** `investigating` → `Investigating`, `in-progress` → `In progress`. */
export function humanize(value: unknown): string {
  const text = argument(value);
  if (typeof text !== 'string' || text === '') return '';
  const words = text.replace(/[-_]+/g, ' ');
  return words.charAt(0).toUpperCase() + words.slice(1);
}

/** The helpers of one channel environment, keyed by name. */
export function createHelpers(escaping: Escaping): Record<string, Helper> {
  const escapeText = ESCAPE_TEXT[escaping];
  const escapeUrl = ESCAPE_URL[escaping];
  return {
    time: formatTime,
    datetime: formatDateTime,
    duration: formatDuration,
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
      return new Handlebars.SafeString(
        escaping === 'html' ? escapeHtml(lines).replaceAll('\n', '<br>\n') : escapeText(lines),
      );
    },
  };
}

/** The names of the helpers registered in every environment (besides Handlebars' built-ins). */
export const HELPER_NAMES: readonly string[] = Object.freeze(Object.keys(createHelpers('plain')));
