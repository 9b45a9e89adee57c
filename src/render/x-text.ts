/**
 * Fitting text into one X post, measured the way X measures it.
 */
import twitterText from 'twitter-text';

/** X's limit for one post, in weighted characters (twitter-text v3 config). */
export const X_MAX_WEIGHTED_LENGTH = 280;

/** What joins the cut text and the link. U+2026 weighs 2: it is outside X's light ranges. */
export const X_ELLIPSIS = '…';

// Only cut on a word boundary when that keeps most of the text; otherwise
// (CJK, one very long word) cut between characters.
const MIN_WORD_CUT_RATIO = 0.6;

const graphemes = new Intl.Segmenter(undefined, { granularity: 'grapheme' });

/**
 * The twitter-text weighted length: most Latin characters count 1, CJK and
 * emoji 2, every URL 23 whatever its length.
 */
export function weightedLength(text: string): number {
  return twitterText.parseTweet(text).weightedLength;
}

function fits(text: string): boolean {
  return weightedLength(text) <= X_MAX_WEIGHTED_LENGTH;
}

/**
 * `text` when it fits one post; otherwise the longest start of it that fits
 * followed by `"… " + url`. The cut falls on a word boundary when one is near,
 * and always between grapheme clusters (never inside a surrogate pair, an
 * emoji ZWJ sequence or a combining sequence).
 */
export function fitToPost(text: string, url: string): string {
  if (fits(text)) return text;

  const suffix = `${X_ELLIPSIS} ${url}`;
  // Grapheme boundaries as UTF-16 offsets: every candidate cut point.
  const cuts: number[] = [];
  for (const { index } of graphemes.segment(text)) cuts.push(index);

  const candidate = (end: number): string => `${text.slice(0, end).trimEnd()}${suffix}`;

  // Weighted length grows with the kept prefix (except around a URL cut
  // mid-way, which the final check below absorbs), so binary search the
  // largest fitting cut.
  let low = 0;
  let high = cuts.length - 1;
  while (low < high) {
    const mid = Math.ceil((low + high) / 2);
    if (fits(candidate(cuts[mid] ?? 0))) low = mid;
    else high = mid - 1;
  }
  let end = cuts[low] ?? 0;

  const wordEnd = lastWordBoundary(text, end);
  if (wordEnd !== null && wordEnd >= end * MIN_WORD_CUT_RATIO) end = wordEnd;

  let result = candidate(end);
  // Non-monotonic corner (a URL cut mid-way measured by its characters): step back.
  let index = cuts.findLastIndex((cut) => cut <= end);
  while (!fits(result) && index > 0) {
    index -= 1;
    result = candidate(cuts[index] ?? 0);
  }
  return fits(result) ? result : url;
}

/** The offset of the last whitespace at or before `end`, if the text is cut mid-word there. */
function lastWordBoundary(text: string, end: number): number | null {
  if (end >= text.length || /\s/.test(text.charAt(end))) return end;
  for (let i = end - 1; i > 0; i -= 1) {
    if (/\s/.test(text.charAt(i))) return i;
  }
  return null;
}

/** `14:31:05`: seconds too, since holding statements of a short cadence come seconds apart. */
function clockWithSeconds(iso: string): string {
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return iso;
  return date.toISOString().slice(11, 19);
}

/**
 * A post that says what `text` says but does not equal it: X refuses a post
 * identical to a recent one (403 "duplicate content"), and consecutive
 * holding statements of a short cadence read the same. The update's number
 * and time are added (so the result is the same on every retry of one
 * delivery, and differs between updates) on a line of their own, or, when
 * that no longer fits, in front of a text then cut like any long post.
 */
export function distinctPost(text: string, update: { seq: number; postedAt: string }, url: string): string {
  const mark = `(update ${update.seq}, ${clockWithSeconds(update.postedAt)} UTC)`;
  const marked = `${text}\n${mark}`;
  return fits(marked) ? marked : fitToPost(`${mark} ${text}`, url);
}
