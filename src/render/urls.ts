/**
 * Finding the web addresses in a commander's text, so that each channel's
 * escaping can leave them exactly as written: a runbook link that gains a
 * backslash or a zero-width space no longer opens.
 */

/**
 * An `http(s)` URL: the scheme, then the characters RFC 3986 allows in a URI
 * (unreserved, reserved and `%`), plus non-ASCII letters, digits and marks so
 * that an IRI (`https://例え.jp/パス`) is kept whole too. Spaces, quotes, `<`,
 * `>`, `|`, `\`, `{`, `}`, `^` and backticks end it: none is legal unencoded.
 *
 * A hand-written pattern rather than twitter-text's finder: that one only
 * knows addresses under its list of top-level domains, so an operator's
 * `https://grafana.corp/d/api_error` would still be mangled.
 */
const URL_PATTERN = /(?<![\p{L}\p{N}])https?:\/\/[A-Za-z0-9\-._~:/?#[\]@!$&'()*+,;=%\p{L}\p{N}\p{M}]+/giu;

/**
 * Punctuation that ends a sentence rather than an address (GitHub Flavored
 * Markdown's rule for its extended autolinks): `see https://x.example/a.`
 * links to `https://x.example/a`.
 */
const TRAILING_PUNCTUATION = /[?!.,:;*_~']+$/u;

/** A run of a text: prose, or a URL to be kept exactly as written. */
export type TextPiece = { kind: 'text'; text: string } | { kind: 'url'; text: string };

/**
 * The URL that starts a match, once sentence punctuation and a closing
 * parenthesis that belongs to the prose around it (`(see https://x.example/a)`)
 * are left out.
 */
function trimUrl(candidate: string): string {
  let url = candidate;
  for (;;) {
    const before = url;
    url = url.replace(TRAILING_PUNCTUATION, '');
    if (url.endsWith(')')) {
      const opened = url.split('(').length - 1;
      const closed = url.split(')').length - 1;
      if (closed > opened) url = url.slice(0, -1);
    }
    if (url === before) return url;
  }
}

/** Splits `text` into prose and the `http(s)` URLs in it, in order; joined again they give `text` back. */
export function splitAtUrls(text: string): TextPiece[] {
  const pieces: TextPiece[] = [];
  let from = 0;
  for (const match of text.matchAll(URL_PATTERN)) {
    const url = trimUrl(match[0]);
    // `https://` alone (or followed only by punctuation) is prose, not an address.
    if (/^https?:\/\/$/i.test(url)) continue;
    if (match.index > from) pieces.push({ kind: 'text', text: text.slice(from, match.index) });
    pieces.push({ kind: 'url', text: url });
    from = match.index + url.length;
  }
  if (from < text.length) pieces.push({ kind: 'text', text: text.slice(from) });
  return pieces;
}
