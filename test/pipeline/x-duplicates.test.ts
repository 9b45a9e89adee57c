/**
 * X refuses a post equal to a recent one (403 "duplicate content"), and the
 * holding statements of a short cadence read the same word for word. No two
 * consecutive posts of a thread may be equal (contract §4): every holding
 * statement must reach X, none dead, and the commander is not alerted.
 * The stack's X fake refuses duplicates as X does.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStack, eventually, type Stack } from '../support/stack.js';

interface Delivery {
  channel: string;
  state: string;
  error: string | null;
}

const HOLDINGS = 4;

describe('given an incident with a one-second cadence and an X audience', () => {
  let stack: Stack;
  let incidentId: string;

  beforeAll(async () => {
    stack = await startStack();
    await stack.api('PUT', '/v1/audiences/followers', { x: { enabled: true } });
    const res = await stack.api('POST', '/v1/incidents', {
      title: 'Search degraded',
      severity: 'minor',
      message: 'Search results are slow; we are looking into it.',
      cadenceSeconds: 1,
      commander: { name: 'Dana', email: 'dana@corp.example' },
    });
    expect(res.statusCode, res.body).toBe(201);
    incidentId = res.json().incident.id;
    // The opening post, then holding statements one second apart.
    await stack.x.waitFor(1 + HOLDINGS, 30_000);
    const resolved = await stack.api('POST', `/v1/incidents/${incidentId}/resolve`, { message: 'Search is fast again.' });
    expect(resolved.statusCode).toBe(201);
    await stack.x.waitFor((x) => x.posts.some((p) => p.text.includes('Search is fast again.')), 30_000);
  }, 90_000);

  afterAll(async () => {
    await stack?.stop();
  });

  it('every holding statement reaches X as a reply in the one thread, no two consecutive posts alike', () => {
    const posts = stack.x.posts;
    const thread = stack.x.thread(posts.at(-1)!.id);
    expect(thread.map((p) => p.id)).toEqual(posts.map((p) => p.id));
    expect(posts.length).toBeGreaterThanOrEqual(2 + HOLDINGS);
    for (let i = 1; i < posts.length; i += 1) expect(posts[i]!.text).not.toBe(posts[i - 1]!.text);
    const holdings = posts.filter((p) => p.text.startsWith('No new information yet on Search degraded'));
    expect(holdings.length).toBeGreaterThanOrEqual(HOLDINGS);
    for (const post of holdings) expect(post.text.length).toBeLessThanOrEqual(280);
  });

  it('no X delivery went dead, and the commander got no delivery alert', async () => {
    const deliveries = await eventually(
      async () => {
        const res = await stack.api('GET', `/v1/incidents/${incidentId}/deliveries?channel=x`);
        const list = res.json().deliveries as Delivery[];
        return list.every((d) => d.state === 'sent' || d.state === 'dead') && list;
      },
      15_000,
      'every X delivery final',
    );
    expect(deliveries.filter((d) => d.state === 'dead')).toEqual([]);
    expect(stack.x.requests.filter((r) => r.response !== undefined && r.response.status >= 400)).toEqual([]);
    expect(stack.smtp.for('dana@corp.example').filter((m) => m.subject.startsWith('Delivery failed'))).toEqual([]);
  });
});
