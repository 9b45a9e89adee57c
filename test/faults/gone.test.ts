/**
 * A webhook receiver answering `410 Gone` is disabled in every audience that
 * names it (`disabledAt`); it hears nothing more, while the other targets
 * carry on.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newWebhookSecret } from '../fakes/webhook-receiver.js';
import { startStack, type Stack } from '../support/stack.js';
import { created, settledDeliveries, sleep, type DeliveryView } from './support.js';

interface AudienceView {
  webhooks: Array<{ url: string; secret: string; disabledAt?: string }>;
}

describe('given a webhook target that answers 410 Gone, named by two audiences', () => {
  let stack: Stack;
  let urls: Record<'gone' | 'a' | 'b', string>;
  let first: DeliveryView[];
  let second: DeliveryView[];
  let secondPlanned: number;
  let goneRequestsAfterFirst: number;

  beforeAll(async () => {
    stack = await startStack();
    const { hooks } = stack;
    const secrets = { gone: newWebhookSecret(), a: newWebhookSecret(), b: newWebhookSecret() };
    urls = { gone: hooks.register('/gone', secrets.gone), a: hooks.register('/a', secrets.a), b: hooks.register('/b', secrets.b) };
    hooks.respond('/gone', { status: 410, body: 'this blog has moved' });
    for (const [name, hooksOf] of [
      ['blogs', ['gone', 'a']],
      ['partners', ['gone', 'b']],
    ] as const) {
      const res = await stack.api('PUT', `/v1/audiences/${name}`, {
        webhooks: hooksOf.map((k) => ({ url: urls[k], secret: secrets[k] })),
      });
      expect(res.statusCode, res.body).toBe(200);
    }

    const opened = created(
      await stack.api('POST', '/v1/incidents', {
        title: 'Image uploads failing',
        severity: 'minor',
        message: 'Uploads fail for some users.',
        audiences: ['blogs', 'partners'],
      }),
    );
    expect(opened.deliveries.planned).toBe(3);
    const incidentId = opened.incident.id;
    first = await settledDeliveries(stack, incidentId, { updateId: opened.update.id, count: 3 });
    goneRequestsAfterFirst = hooks.received('/gone').length;

    const next = created(await stack.api('POST', `/v1/incidents/${incidentId}/updates`, { message: 'Uploads work again for most users.' }));
    secondPlanned = next.deliveries.planned;
    second = await settledDeliveries(stack, incidentId, { updateId: next.update.id, count: 2 });
    await Promise.all(['/a', '/b'].map((path) => hooks.waitFor({ path, count: 2 }, 5000)));
    // Room for a late request to the disabled target to show.
    await sleep(500);
  }, 30_000);

  afterAll(async () => {
    await stack?.stop();
  });

  it('the 410 makes its delivery dead at once, with the answer recorded', () => {
    const gone = first.find((d) => d.target === urls.gone);
    expect(gone).toMatchObject({ state: 'dead', attempts: 1 });
    expect(gone!.error).toContain('410');
    expect(goneRequestsAfterFirst).toBe(1);
    expect(first.filter((d) => d.target !== urls.gone).map((d) => d.state)).toEqual(['sent', 'sent']);
  });

  it('both audiences show the target disabled, the others not', async () => {
    for (const [name, other] of [
      ['blogs', urls.a],
      ['partners', urls.b],
    ] as const) {
      const res = await stack.api('GET', `/v1/audiences/${name}`);
      expect(res.statusCode).toBe(200);
      const { webhooks } = res.json() as AudienceView;
      const gone = webhooks.find((w) => w.url === urls.gone);
      expect(gone?.disabledAt, `${name} shows ${urls.gone} disabled`).toEqual(expect.any(String));
      expect(Number.isNaN(Date.parse(gone!.disabledAt!))).toBe(false);
      expect(webhooks.find((w) => w.url === other)?.disabledAt).toBeUndefined();
    }
  });

  it('the next update goes to the other targets only', () => {
    expect(secondPlanned).toBe(2);
    expect(second.map((d) => d.target).sort()).toEqual([urls.a, urls.b].sort());
    expect(second.every((d) => d.state === 'sent')).toBe(true);
    expect(stack.hooks.received('/gone')).toHaveLength(1);
    for (const path of ['/a', '/b']) {
      const got = stack.hooks.received(path);
      expect(got).toHaveLength(2);
      expect(got.every((r) => r.signatureValid && r.answer === 200)).toBe(true);
    }
  });
});
