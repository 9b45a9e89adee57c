/**
 * How log lines name a delivery's target and quote its error: table-driven,
 * for the shapes partners' targets come in.
 */
import { describe, expect, it } from 'vitest';
import { maskedAddress, maskedTarget, maskedWebhookUrl, scrubbedError } from '../../src/domain/redaction.js';

describe('a recipient address in a log line', () => {
  it.each([
    ['ops@partner.example', 'o***@partner.example'],
    ['Ops.Lead+status@Partner.Example', 'O***@Partner.Example'],
    ['a@b.c', 'a***@b.c'],
    ['not-an-address', '***'],
    ['@partner.example', '***'],
  ])('%s → %s', (address, shown) => {
    expect(maskedAddress(address)).toBe(shown);
  });
});

describe('a webhook URL in a log line (as a read token sees it)', () => {
  it.each([
    ['https://hooks.slack.com/services/T0CAPA/B0CAPB/secret', 'https://hooks.slack.com/services/…'],
    ['https://blog.example/hooks?token=abc', 'https://blog.example/hooks'],
    ['https://relay:hunter2@blog.example:8443/status#frag', 'https://blog.example:8443/status'],
    ['https://blog.example/', 'https://blog.example/'],
    ['https://blog.example/a/', 'https://blog.example/a'],
    ['not a url', '…'],
  ])('%s → %s', (url, shown) => {
    expect(maskedWebhookUrl(url)).toBe(shown);
  });
});

describe('an error quoting its target', () => {
  const webhook = { channel: 'webhook', key: 'k', url: 'https://relay:hunter2@blog.example/hooks/T0CAP/cap-secret?token=q-secret' } as const;

  it.each([
    ['the whole URL', `404 for ${webhook.url}`, '404 for https://blog.example/hooks/…'],
    ['the path', 'no route /hooks/T0CAP/cap-secret', 'no route /hooks/…'],
    ['the query', 'bad token=q-secret', 'bad …'],
    ['the password', 'auth hunter2 refused', 'auth … refused'],
  ])('hides %s', (_what, error, shown) => {
    expect(scrubbedError(error, webhook)).toBe(shown);
  });

  it('hides a recipient address whatever its case', () => {
    const email = { channel: 'email' as const, key: 'ops@partner.example', address: 'Ops@Partner.example', audiences: ['partners'] };
    expect(scrubbedError('550 <ops@partner.example>: rejected', email)).toBe('550 <O***@Partner.example>: rejected');
    expect(maskedTarget(email)).toBe('O***@Partner.example');
  });

  it('names Slack channels and X as they are', () => {
    expect(maskedTarget({ channel: 'slack', key: 'C0123', slackChannel: 'C0123' })).toBe('C0123');
    expect(maskedTarget({ channel: 'x', key: 'account' })).toBe('x');
  });
});
