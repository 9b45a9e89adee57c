/**
 * Retention (contract §6): HERALD_RETENTION_SECONDS after an incident is
 * resolved, the records of its single deliveries are removed — its ledger
 * then answers `{"deliveries": [], "expired": true}` — while the incident,
 * its updates and each update's delivery totals stay. An open incident's
 * records are never touched.
 */
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { newWebhookSecret } from '../fakes/webhook-receiver.js';
import { eventually, startStack, type Stack } from '../support/stack.js';

/** How long the removal may take: the retention, then up to one look of every workers process (10 s), on a loaded machine. */
const REMOVED_WITHIN_MS = 60_000;

type Totals = Record<string, { queued: number; sent: number; failed: number; dead: number }>;

interface IncidentView {
  updates: Array<{ id: string; kind: string; deliveries: Totals }>;
}

/** Every target of the audience once: a Slack channel, an address, two webhooks. */
const SENT_TO_EACH_TARGET: Totals = {
  slack: { queued: 0, sent: 1, failed: 0, dead: 0 },
  email: { queued: 0, sent: 1, failed: 0, dead: 0 },
  webhook: { queued: 0, sent: 2, failed: 0, dead: 0 },
};

describe('given HERALD_RETENTION_SECONDS=1, one incident resolved and another still open', () => {
  let stack: Stack;
  let redis: Redis;
  let resolved: string;
  let open: string;

  const incident = async (id: string): Promise<IncidentView> => {
    const res = await stack.api('GET', `/v1/incidents/${id}`);
    expect(res.statusCode, res.body).toBe(200);
    return res.json() as IncidentView;
  };

  /** Every key of the incident's deliveries: they all carry its id as hash tag. */
  const keysOf = async (id: string): Promise<string[]> => {
    const keys: string[] = [];
    let cursor = '0';
    do {
      const [next, found] = await redis.scan(cursor, 'MATCH', `${stack.config.prefix}:{${id}}:*`, 'COUNT', 1000);
      cursor = next;
      keys.push(...found);
    } while (cursor !== '0');
    return keys.sort();
  };

  /** Resolves once each of the incident's `updates` updates was sent to every target. */
  const delivered = (id: string, updates: number) =>
    eventually(async () => {
      const { updates: list } = await incident(id);
      return list.length === updates && list.every((u) => JSON.stringify(u.deliveries) === JSON.stringify(SENT_TO_EACH_TARGET));
    }, 30_000, `${updates} updates of ${id} sent to every target`);

  beforeAll(async () => {
    stack = await startStack({ env: { HERALD_RETENTION_SECONDS: '1' } });
    redis = new Redis(inject('redisUrl'));
    const [first, second] = [newWebhookSecret(), newWebhookSecret()];
    const put = await stack.api('PUT', '/v1/audiences/partners', {
      slack: { channels: ['C0RETAIN'] },
      email: { recipients: ['ops@partner.example'] },
      webhooks: [
        { url: stack.hooks.register('/blog/1', first), secret: first },
        { url: stack.hooks.register('/blog/2', second), secret: second },
      ],
    });
    expect(put.statusCode, put.body).toBe(200);

    const post = async (url: string, body: unknown): Promise<{ incident?: { id: string } }> => {
      const res = await stack.api('POST', url, body);
      expect(res.statusCode, res.body).toBe(201);
      return res.json() as { incident?: { id: string } };
    };
    const opening = { severity: 'major', message: 'We are investigating delays.', audiences: ['partners'] };
    resolved = (await post('/v1/incidents', { ...opening, title: 'Email delivery delayed' })).incident!.id;
    open = (await post('/v1/incidents', { ...opening, title: 'API latency' })).incident!.id;
    await post(`/v1/incidents/${resolved}/updates`, { message: 'A relay was misconfigured; the fix is rolling out.', status: 'identified' });
    await post(`/v1/incidents/${open}/updates`, { message: 'Still looking.', status: 'investigating' });
    // As a commander would: the resolution once the update went out.
    await delivered(resolved, 2);
    await post(`/v1/incidents/${resolved}/resolve`, { message: 'Email delivery is back to normal.' });
    await Promise.all([delivered(resolved, 3), delivered(open, 2)]);
  });

  afterAll(async () => {
    redis?.disconnect();
    await stack?.stop();
  });

  it('the resolved incident’s ledger answers that its records expired', async () => {
    const body = await eventually(async () => {
      const res = await stack.api('GET', `/v1/incidents/${resolved}/deliveries`);
      expect(res.statusCode, res.body).toBe(200);
      const answer = res.json() as { expired?: boolean };
      return answer.expired === true && answer;
    }, REMOVED_WITHIN_MS, 'the ledger to answer expired');
    expect(body).toEqual({ deliveries: [], expired: true });
  });

  it('its records, lanes and threads are removed from Redis; only each update’s totals remain', async () => {
    const { updates } = await incident(resolved);
    const totals = updates.map((u) => `${stack.config.prefix}:{${resolved}}:totals:${u.id}`).sort();
    const left = await eventually(async () => {
      const keys = await keysOf(resolved);
      return keys.every((k) => totals.includes(k)) && keys;
    }, REMOVED_WITHIN_MS, `only the totals of ${resolved} left in Redis`);
    expect(left).toEqual(totals);
    expect(await redis.zscore(`${stack.config.prefix}:retention:deliveries`, resolved)).toBeNull();
  });

  it('the resolved incident still shows each update’s delivery totals', async () => {
    await eventually(async () => (await keysOf(resolved)).every((k) => k.includes(':totals:')), REMOVED_WITHIN_MS, 'the removal');
    const { updates } = await incident(resolved);
    expect(updates.map((u) => u.kind)).toEqual(['opened', 'update', 'resolved']);
    for (const update of updates) expect(update.deliveries).toEqual(SENT_TO_EACH_TARGET);
  });

  it('the open incident’s records are untouched', async () => {
    // Only once the resolved incident's records are gone: a removal has run by then.
    await eventually(async () => (await keysOf(resolved)).every((k) => k.includes(':totals:')), REMOVED_WITHIN_MS, 'the removal');
    const res = await stack.api('GET', `/v1/incidents/${open}/deliveries`);
    expect(res.statusCode, res.body).toBe(200);
    const answer = res.json() as { deliveries: Array<{ channel: string; state: string }>; expired?: boolean };
    expect(answer.expired).toBeUndefined();
    expect(answer.deliveries).toHaveLength(8);
    expect(answer.deliveries.every((d) => d.state === 'sent')).toBe(true);
    const keys = await keysOf(open);
    for (const kind of ['deliveries', 'threads', 'totals']) expect(keys.some((k) => k.includes(`}:${kind}`)), kind).toBe(true);
  });
});

describe('given HERALD_RETENTION_SECONDS=1 and a resolution still being retried when its retention ends', () => {
  let stack: Stack;
  let redis: Redis;
  afterAll(async () => {
    redis?.disconnect();
    await stack?.stop();
  });

  it('its records stay until the last delivery is final, then go; nothing is lost', async () => {
    stack = await startStack({ env: { HERALD_RETENTION_SECONDS: '1' } });
    redis = new Redis(inject('redisUrl'));
    const secret = newWebhookSecret();
    const url = stack.hooks.register('/slow-blog', secret);
    expect((await stack.api('PUT', '/v1/audiences/slow', { webhooks: [{ url, secret }] })).statusCode).toBe(200);
    const opened = await stack.api('POST', '/v1/incidents', { title: 'Search degraded', severity: 'minor', message: 'Looking into it.', audiences: ['slow'] });
    expect(opened.statusCode, opened.body).toBe(201);
    const id = (opened.json() as { incident: { id: string } }).incident.id;
    await stack.hooks.waitFor({ path: '/slow-blog' }, 30_000);
    // The resolution is refused once, for 12 s: far longer than the retention.
    stack.hooks.respond('/slow-blog', [{ status: 503, retryAfter: 12 }, 200]);
    expect((await stack.api('POST', `/v1/incidents/${id}/resolve`, { message: 'Search is back.' })).statusCode).toBe(201);
    const retention = `${stack.config.prefix}:retention:deliveries`;
    const due = Number(await eventually(() => redis.zscore(retention, id), 30_000, 'the retention to be marked'));

    // A look of the retention sweep finds the resolution not final and puts the removal off.
    await eventually(async () => Number(await redis.zscore(retention, id)) > due || undefined, 60_000, 'the removal put off');
    const meanwhile = await stack.api('GET', `/v1/incidents/${id}/deliveries`);
    const ledger = meanwhile.json() as { deliveries: Array<{ state: string }>; expired?: boolean };
    expect(ledger.expired).toBeUndefined();
    expect(ledger.deliveries.map((d) => d.state)).toEqual(['sent', 'failed']);

    const [arrived] = await stack.hooks.waitFor({ path: '/slow-blog', count: 3 }, 60_000).then((all) => all.slice(-1));
    expect(arrived!.answer).toBe(200);
    await eventually(async () => {
      const res = await stack.api('GET', `/v1/incidents/${id}/deliveries`);
      return (res.json() as { expired?: boolean }).expired === true || undefined;
    }, 60_000, 'the records removed once every delivery was final');
    const view = (await stack.api('GET', `/v1/incidents/${id}`)).json() as IncidentView;
    expect(view.updates.map((u) => u.deliveries.webhook)).toEqual([
      { queued: 0, sent: 1, failed: 0, dead: 0 },
      { queued: 0, sent: 1, failed: 0, dead: 0 },
    ]);
  }, 180_000);
});
