/**
 * How partners' targets are shown where their private parts must not be:
 * logs, a `read` token's view, the commander's alerts. A webhook URL often
 * carries a capability in its path or query (Slack's `/services/T…/B…/secret`,
 * `?token=`); a recipient's address is the partner's own.
 */
import type { RecordedTarget } from './audience.js';

type Target = RecordedTarget;

/** What stands for a hidden part of a target. */
const MASK = '…';

/**
 * A recipient's address as logs show it: the first character of the local
 * part and the domain (`o***@partner.example`): enough to tell which partner
 * and to find the address in the audience, not the address itself.
 */
export function maskedAddress(address: string): string {
  const at = address.lastIndexOf('@');
  if (at < 1) return '***';
  return `${address[0]}***${address.slice(at)}`;
}

/**
 * A webhook URL as a `read` token sees it (contract §3) and logs show it:
 * origin and first path segment only; no userinfo, query or fragment, the
 * rest of the path masked (`/services/T…/B…/secret` carries a capability).
 */
export function maskedWebhookUrl(url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return MASK;
  }
  const [first = '', ...rest] = parsed.pathname.split('/').slice(1);
  return `${parsed.protocol}//${parsed.host}/${first}${rest.some((s) => s !== '') ? `/${MASK}` : ''}`;
}

/** A target with its private parts masked. Slack channel ids are the workspace's, not a secret. */
export function maskedTarget(target: Target): string {
  switch (target.channel) {
    case 'slack':
      return target.slackChannel;
    case 'x':
      return 'x';
    case 'email':
      return maskedAddress(target.address);
    case 'webhook':
      return maskedWebhookUrl(target.url);
  }
}

/**
 * A provider's error text with the target's private parts replaced: a
 * receiver's answer or an SMTP server's refusal may quote the URL or the
 * address it was given.
 */
export function scrubbedError(error: string, target: Target): string {
  const hidden: Array<[string, string]> = [];
  if (target.channel === 'email') hidden.push([target.address, maskedAddress(target.address)]);
  if (target.channel === 'webhook') {
    const masked = maskedWebhookUrl(target.url);
    hidden.push([target.url, masked]);
    try {
      const { pathname, search, username, password } = new URL(target.url);
      const [, , ...rest] = pathname.split('/');
      if (rest.some((s) => s !== '')) hidden.push([rest.join('/'), MASK]);
      if (search !== '') hidden.push([search.slice(1), MASK]);
      if (password !== '') hidden.push([decodeURIComponent(password), MASK]);
      if (username !== '') hidden.push([decodeURIComponent(username), MASK]);
    } catch {
      // An unparsable URL never reached a receiver: nothing of it can be in the error.
    }
  }
  let text = error;
  // Longest first, so a part inside another is not replaced before the whole;
  // regardless of case, as servers quote addresses lower-cased.
  for (const [secret, shown] of hidden.sort((a, b) => b[0].length - a[0].length)) {
    if (secret !== '') text = text.replace(new RegExp(secret.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'), 'gi'), () => shown);
  }
  return text;
}
