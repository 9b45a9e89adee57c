/**
 * Resolving audiences into targets: every distinct target once, in fan-out
 * order (audience order, then declaration order, channels interleaved as
 * declared), whatever the step-wise resolution does inside.
 */
import { describe, expect, it } from 'vitest';
import { resolveTargets, type Audience, type DeliveryTarget } from '../../src/domain/audience.js';

const ALL = new Set<DeliveryTarget['channel']>(['slack', 'x', 'email', 'webhook']);
const stamp = { createdAt: '2026-12-01T00:00:00.000Z', updatedAt: '2026-12-01T00:00:00.000Z' };

describe('given two audiences that share targets', () => {
  const partners: Audience = {
    name: 'partners',
    slack: { channels: ['C01'] },
    x: { enabled: true },
    email: { recipients: ['ops@partner.example', 'cto@Partner.Example'] },
    webhooks: [{ url: 'https://blog.example/hooks/a', secret: 'whsec_a' }],
    ...stamp,
  };
  const press: Audience = {
    name: 'press',
    slack: { channels: ['C02', 'C01'] },
    x: { enabled: true },
    email: { recipients: ['cto@partner.example', 'desk@press.example'] },
    webhooks: [
      { url: 'https://blog.example/hooks/a', secret: 'whsec_other' },
      { url: 'https://blog.example/hooks/b', secret: 'whsec_b', disabledAt: '2026-12-01T01:00:00.000Z' },
      { url: 'https://blog.example/hooks/c', secret: 'whsec_c' },
    ],
    ...stamp,
  };

  it('each target is planned once, in the order first declared, the first audience naming a webhook giving its secret', () => {
    expect(resolveTargets([partners, press], ALL).map((t) => `${t.channel}:${t.key}`)).toEqual([
      'slack:C01',
      'x:account',
      'email:ops@partner.example',
      'email:cto@partner.example',
      'webhook:https://blog.example/hooks/a',
      'slack:C02',
      'email:desk@press.example',
      'webhook:https://blog.example/hooks/c',
    ]);
    const hook = resolveTargets([partners, press], ALL).find((t) => t.channel === 'webhook');
    expect(hook).toMatchObject({ url: 'https://blog.example/hooks/a', secret: 'whsec_a' });
  });

  it('a recipient in both audiences is one email target that names both (for unsubscribing from either)', () => {
    const cto = resolveTargets([partners, press], ALL).find((t) => t.key === 'cto@partner.example');
    expect(cto).toEqual({ channel: 'email', key: 'cto@partner.example', address: 'cto@Partner.Example', audiences: ['partners', 'press'] });
  });

  it('the same key on two channels is two targets', () => {
    const odd: Audience = { name: 'odd', slack: { channels: ['account'] }, x: { enabled: true }, ...stamp };
    expect(resolveTargets([odd], ALL).map((t) => `${t.channel}:${t.key}`)).toEqual(['slack:account', 'x:account']);
  });

  it('channels not enabled plan nothing', () => {
    expect(resolveTargets([partners, press], new Set(['webhook'])).map((t) => t.key)).toEqual(['https://blog.example/hooks/a', 'https://blog.example/hooks/c']);
  });
});
