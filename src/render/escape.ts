/**
 * Pure escape functions, one per output format. Each takes raw text (a
 * commander's message, a title…) and returns text that the format shows
 * literally: nothing in it is read as markup, a mention or a link.
 */
import Handlebars from 'handlebars';

import { splitAtUrls } from './urls.js';

/** Zero-width space, used to break Slack's formatting rules without a visible mark. */
export const ZERO_WIDTH_SPACE = '\u200B';

/**
 * HTML text and attribute values: `& < > " ' \` =` become entities.
 * The very function Handlebars uses for `{{value}}`, so helpers and templates
 * escape alike.
 */
export function escapeHtml(text: string): string {
  return Handlebars.Utils.escapeExpression(text);
}

const SLACK_CONTROL = /[&<>]/g;
const SLACK_CONTROL_ENTITIES: Readonly<Record<string, string>> = { '&': '&amp;', '<': '&lt;', '>': '&gt;' };
/**
 * A formatting marker that could open or close formatting: one not between
 * two letters or digits. Slack formats only at word boundaries, so the `_` of
 * `api_error_rate_high` or the `*` of `2*3` is already literal and is left
 * alone (an identifier copied from Slack must still be the identifier).
 */
const SLACK_FORMATTING = /(?<![\p{L}\p{N}])[*_~`]|[*_~`](?![\p{L}\p{N}])/gu;
/** Slack decodes only these three entities: an `&` that starts none of them means itself. */
const SLACK_ENTITY_START = /&(?=(?:amp|lt|gt);)/g;

/**
 * Slack mrkdwn. `&`, `<` and `>` are Slack's control characters and become
 * entities (so `<!channel>` or `<https://evil|click>` is shown, not acted on).
 *
 * Slack has no escape for its formatting characters (`*bold*`, `_italic_`,
 * `~strike~`, `` `code` ``). Formatting only applies when the marker touches a
 * word boundary, so a zero-width space before each such marker keeps the text
 * literal while readers see exactly what the commander typed.
 *
 * An `http(s)` URL in the text is written as a Slack link, `<url>`, with its
 * characters exactly as given: Slack reads no formatting inside a link, and a
 * zero-width space or an entity would make a different address.
 */
export function escapeSlack(text: string): string {
  return splitAtUrls(text)
    .map((piece) =>
      piece.kind === 'url'
        ? `<${piece.text.replace(SLACK_ENTITY_START, '&amp;')}>`
        : piece.text.replace(SLACK_CONTROL, (c) => SLACK_CONTROL_ENTITIES[c] ?? c).replace(SLACK_FORMATTING, `${ZERO_WIDTH_SPACE}$&`),
    )
    .join('');
}

/**
 * A URL placed in a Slack link (`<url|label>`): control characters become
 * entities and `|` (the label separator) is percent-encoded. No zero-width
 * spaces here: they would break the link.
 */
export function escapeSlackUrl(url: string): string {
  return url.replace(SLACK_CONTROL, (c) => SLACK_CONTROL_ENTITIES[c] ?? c).replaceAll('|', '%7C');
}

/**
 * Text placed in a Slack code span or block (a curl line, a target): Slack
 * applies no formatting there, but `&`, `<` and `>` are still its control
 * characters. No zero-width spaces: pasted into a shell they would break the
 * command (`$HERALD_TOKEN` is not `$HERALD\u200B_TOKEN`).
 */
export function escapeSlackCode(text: string): string {
  return text.replace(SLACK_CONTROL, (c) => SLACK_CONTROL_ENTITIES[c] ?? c);
}

// Characters that are Markdown anywhere on a line (CommonMark + GFM strikethrough
// and tables). `&` too: `&lt;` would otherwise be read as an entity. Any ASCII
// punctuation may be backslash-escaped in CommonMark, so escaping is always safe.
const MARKDOWN_INLINE = /[\\`*_[\]<>&~|]/g;
// Characters that are Markdown only at the start of a line: headings, list
// items, setext underlines, ordered lists (`1.` / `1)`). Escaped there only,
// so "v1.2" or "api-gateway" stay readable in the raw Markdown.
const MARKDOWN_LINE_START = /^([ \t]*)(?:([#+=-])|(\d{1,9})([.)]))/gm;

/**
 * Markdown (CommonMark/GFM): backslash-escape everything that would format.
 *
 * An `http(s)` URL in the text becomes an autolink, `<url>`, with its
 * characters exactly as given: CommonMark reads no backslash escapes, entities
 * or emphasis inside an autolink, and a `\_` inside a bare URL would be copied
 * into the address by every reader of the raw Markdown.
 */
export function escapeMarkdown(text: string): string {
  return splitAtUrls(text)
    .map((piece, index) => (piece.kind === 'url' ? `<${piece.text}>` : escapeMarkdownProse(piece.text, index === 0)))
    .join('');
}

/** Markdown escaping of prose; `startsLine` says whether the text begins a line (or only continues one after a URL). */
function escapeMarkdownProse(text: string, startsLine: boolean): string {
  return text
    .replace(MARKDOWN_INLINE, '\\$&')
    .replace(MARKDOWN_LINE_START, (match: string, indent: string, marker: string | undefined, digits: string | undefined, delimiter: string | undefined, offset: number) => {
      if (offset === 0 && !startsLine) return match;
      return marker !== undefined ? `${indent}\\${marker}` : `${indent}${digits ?? ''}\\${delimiter ?? ''}`;
    });
}

/**
 * A URL placed as a Markdown link destination (`[label](url)`): the characters
 * that would end or break the destination are percent-encoded.
 */
export function escapeMarkdownUrl(url: string): string {
  return url.replace(/[\s()<>\\]/g, (c) => {
    const code = c.charCodeAt(0);
    // encodeURIComponent leaves ( and ) alone, so ASCII is encoded by hand.
    return code < 0x80 ? `%${code.toString(16).toUpperCase().padStart(2, '0')}` : encodeURIComponent(c);
  });
}

/**
 * How `{{value}}` is escaped in a template, by the format the template produces.
 * `plain` (X posts, email subject and text part, webhook title) escapes nothing.
 */
export type Escaping = 'html' | 'slack' | 'markdown' | 'plain';

const identity = (text: string): string => text;

/** The text escaper of each escaping. */
export const ESCAPE_TEXT: Readonly<Record<Escaping, (text: string) => string>> = {
  html: escapeHtml,
  slack: escapeSlack,
  markdown: escapeMarkdown,
  plain: identity,
};

/** The URL escaper of each escaping (for link targets, where text escaping would break the link). */
export const ESCAPE_URL: Readonly<Record<Escaping, (url: string) => string>> = {
  html: escapeHtml,
  slack: escapeSlackUrl,
  markdown: escapeMarkdownUrl,
  plain: identity,
};

/**
 * The code escaper of each escaping, for text shown literally in a code span
 * or block (`<code>` in HTML). Markdown code is literal as it stands: the
 * template's fence must only be longer than any run of backticks in the text.
 */
export const ESCAPE_CODE: Readonly<Record<Escaping, (text: string) => string>> = {
  html: escapeHtml,
  slack: escapeSlackCode,
  markdown: identity,
  plain: identity,
};
