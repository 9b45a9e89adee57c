/**
 * `/metrics` shows the cadence at work, counted across processes: holding
 * statements posted, commanders reminded, incidents open, and the longest
 * current silence of any open incident. The API process that serves
 * `/metrics` here runs no workers: what it reports came from another Herald
 * (the workers role) through Redis.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { IncidentUpdate } from '../../src/domain/incident.js';
import { metricValue } from '../faults/support.js';
import { eventually, startStack, type Stack } from '../support/stack.js';

const CADENCE_SECONDS = 2;

describe('given an API process and a separate workers process, and an open incident with a commander', () => {
  let api: Stack;
  let workers: Stack;
  let incidentId: string;

  const scrape = async (): Promise<string> => {
    const res = await api.api('GET', '/metrics', undefined, { token: null });
    expect(res.statusCode).toBe(200);
    return res.body;
  };
  const metric = async (name: string): Promise<number | undefined> => metricValue(await scrape(), name, {});
  const updates = async (): Promise<IncidentUpdate[]> => (await api.api('GET', `/v1/incidents/${incidentId}`)).json().updates as IncidentUpdate[];

  beforeAll(async () => {
    api = await startStack({ roles: ['api'] });
    // Reminded 1 s before each update is due (half the cadence at most).
    workers = await startStack({ roles: ['workers'], env: { HERALD_PREFIX: api.env.HERALD_PREFIX!, HERALD_REMINDER_LEAD_SECONDS: '1' } });
  });

  afterAll(async () => {
    await workers?.stop();
    await api?.stop();
  });

  it('starts at zero: no statements, no reminders, nothing open, no silence', async () => {
    const text = await scrape();
    expect(metricValue(text, 'herald_holding_statements_total', {})).toBe(0);
    expect(metricValue(text, 'herald_commander_reminders_total', {})).toBe(0);
    expect(metricValue(text, 'herald_open_incidents', {})).toBe(0);
    expect(metricValue(text, 'herald_longest_silence_seconds', {})).toBe(0);
  });

  it('counts the holding statements and reminders the workers process made, and shows the silence', async () => {
    const res = await api.api('POST', '/v1/incidents', {
      title: 'Payments failing',
      severity: 'critical',
      message: 'Card payments fail for some customers.',
      cadenceSeconds: CADENCE_SECONDS,
      commander: { name: 'Dana', slackUserId: 'U0DANA' },
    });
    expect(res.statusCode, res.body).toBe(201);
    incidentId = res.json().incident.id as string;

    // The reminder (a Slack DM to the commander), then the holding statement it warned of.
    await workers.slack.waitFor((f) => f.posts('U0DANA').length >= 1, 15_000);
    await eventually(async () => (await updates()).some((u) => u.kind === 'holding'), 15_000, 'a holding statement');
    await eventually(async () => ((await metric('herald_holding_statements_total')) ?? 0) >= 1, 10_000, 'the statement counted');

    const before = Date.now();
    const text = await scrape();
    const after = Date.now();
    const incident = (await api.api('GET', `/v1/incidents/${incidentId}`)).json() as { lastBroadcastAt: string; updates: IncidentUpdate[] };
    const statements = incident.updates.filter((u) => u.kind === 'holding').length;
    // More may have come between the scrape and the read: one per cadence.
    expect(metricValue(text, 'herald_holding_statements_total', {})).toBeGreaterThanOrEqual(1);
    expect(metricValue(text, 'herald_holding_statements_total', {})).toBeLessThanOrEqual(statements);
    expect(metricValue(text, 'herald_commander_reminders_total', {})).toBeGreaterThanOrEqual(1);
    expect(metricValue(text, 'herald_commander_reminders_total', {})).toBeLessThanOrEqual(workers.slack.posts('U0DANA').length);
    expect(metricValue(text, 'herald_open_incidents', {})).toBe(1);

    // The silence is the time from the last broadcast the scrape saw (an update's postedAt) to the scrape.
    const silenceMs = metricValue(text, 'herald_longest_silence_seconds', {})! * 1000;
    expect(silenceMs).toBeGreaterThan(0);
    const matches = incident.updates.filter((u) => {
      const postedAt = Date.parse(u.postedAt);
      return before - postedAt - 1 <= silenceMs && silenceMs <= after - postedAt + 1;
    });
    expect(matches, `silence ${silenceMs} ms, scraped between ${before} and ${after}`).not.toEqual([]);
  }, 60_000);

  it('once the incident is resolved: nothing open, no silence; the counts stay', async () => {
    const res = await api.api('POST', `/v1/incidents/${incidentId}/resolve`, { message: 'Payments work again.' });
    expect(res.statusCode, res.body).toBe(201);
    const text = await scrape();
    expect(metricValue(text, 'herald_open_incidents', {})).toBe(0);
    expect(metricValue(text, 'herald_longest_silence_seconds', {})).toBe(0);
    expect(metricValue(text, 'herald_holding_statements_total', {})).toBeGreaterThanOrEqual(1);
    expect(metricValue(text, 'herald_commander_reminders_total', {})).toBeGreaterThanOrEqual(1);
  });
});
