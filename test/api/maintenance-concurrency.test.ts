/**
 * Issue 9: concurrent PATCHes of one maintenance. Each is applied whole
 * against the state it read, or refused with 409 — never a 500, never a
 * change lost or a window announced that is not the stored one.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { IncidentUpdate } from '../../src/domain/incident.js';
import { startStack, type Stack } from '../support/stack.js';
import { expectError } from './helpers.js';

const HOUR = 3_600_000;
const at = (msFromNow: number) => new Date(Date.now() + msFromNow).toISOString();

describe('given one scheduled maintenance', () => {
  let stack: Stack;
  let id: string;

  beforeAll(async () => {
    stack = await startStack();
    const res = await stack.api('POST', '/v1/maintenances', {
      title: 'Database upgrade',
      message: 'Writes pause for up to a minute.',
      startsAt: at(10 * HOUR),
      endsAt: at(11 * HOUR),
      remindBeforeSeconds: [3600],
    });
    expect(res.statusCode, res.body).toBe(201);
    id = res.json().maintenance.id;
  });

  afterAll(async () => {
    await stack?.stop();
  });

  it('when 12 PATCHes reschedule it at once, each answers 200 or 409, and the stored window is one that was announced', async () => {
    const windows = Array.from({ length: 12 }, (_, i) => ({ startsAt: at((20 + i) * HOUR), endsAt: at((21 + i) * HOUR) }));
    const answers = await Promise.all(
      windows.map((w, i) => stack.api('PATCH', `/v1/maintenances/${id}`, { ...w, title: `Database upgrade, take ${i}` })),
    );
    for (const res of answers) {
      if (res.statusCode !== 200) expect(expectError(res, 409, 'conflict').message).toContain(id);
    }
    const applied = answers.filter((r) => r.statusCode === 200).length;
    expect(applied).toBeGreaterThan(0);

    const stored = (await stack.api('GET', `/v1/maintenances/${id}`)).json();
    const rescheduled = (stored.updates as IncidentUpdate[]).filter((u) => u.kind === 'maintenance-rescheduled');
    expect(rescheduled).toHaveLength(applied);
    const last = rescheduled.at(-1)!;
    expect(last.maintenance).toMatchObject({ startsAt: stored.startsAt, endsAt: stored.endsAt });
    // The title and the window come from one and the same request.
    const take = windows.findIndex((w) => new Date(w.startsAt).toISOString() === stored.startsAt);
    expect(stored.title).toBe(`Database upgrade, take ${take}`);
    // Each announcement's previous window is the one the announcement before it set.
    for (let i = 1; i < rescheduled.length; i++) {
      expect(rescheduled[i]!.maintenance!.previous).toEqual({ startsAt: rescheduled[i - 1]!.maintenance!.startsAt, endsAt: rescheduled[i - 1]!.maintenance!.endsAt });
    }
  });

  it('when a title-only PATCH races a reschedule, the reschedule is not undone', async () => {
    for (let round = 0; round < 5; round++) {
      const window = { startsAt: at((40 + round) * HOUR), endsAt: at((41 + round) * HOUR) };
      const [moved, renamed] = await Promise.all([
        stack.api('PATCH', `/v1/maintenances/${id}`, window),
        stack.api('PATCH', `/v1/maintenances/${id}`, { title: `Renamed ${round}` }),
      ]);
      expect([200, 409]).toContain(renamed.statusCode);
      if (moved.statusCode === 409) continue;
      expect(moved.statusCode, moved.body).toBe(200);
      const stored = (await stack.api('GET', `/v1/maintenances/${id}`)).json();
      expect(stored.startsAt).toBe(new Date(window.startsAt).toISOString());
    }
  });
});
