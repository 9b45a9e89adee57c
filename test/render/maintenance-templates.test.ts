import twitterText from 'twitter-text';
import { beforeAll, describe, expect, it } from 'vitest';

import { MAINTENANCE_KINDS, type MaintenanceKind, type MaintenanceStatus } from '../../src/domain/incident.js';
import { ZERO_WIDTH_SPACE as ZWSP } from '../../src/render/escape.js';
import { Renderer } from '../../src/render/renderer.js';
import type { RenderContext, RenderedByChannel } from '../../src/render/types.js';

const URL = 'https://status.example.com/maintenances/01HZXMAINT';
const UNSUBSCRIBE = 'https://status.example.com/v1/unsubscribe?token=t0k3n';

const WINDOW = { startsAt: '2024-05-14T02:00:00.000Z', endsAt: '2024-05-14T04:00:00.000Z' };
const WINDOW_TEXT = 'Tue 14 May 2024, 02:00–04:00 UTC';
const NEW_WINDOW = { startsAt: '2024-05-21T02:00:00.000Z', endsAt: '2024-05-21T04:30:00.000Z' };
const NEW_WINDOW_TEXT = 'Tue 21 May 2024, 02:00–04:30 UTC';

const ANNOUNCEMENTS: Record<MaintenanceKind, { status: MaintenanceStatus; message: string; postedAt: string }> = {
  'maintenance-scheduled': { status: 'scheduled', message: 'The primary database moves to new hardware', postedAt: '2024-05-07T09:00:00.000Z' },
  'maintenance-reminder': { status: 'scheduled', message: 'The primary database moves to new hardware', postedAt: '2024-05-13T02:00:00.000Z' },
  'maintenance-started': { status: 'in_progress', message: 'Writes may be rejected for a few minutes', postedAt: '2024-05-14T02:00:00.000Z' },
  'maintenance-completed': { status: 'completed', message: 'Every service is back to normal', postedAt: '2024-05-14T03:40:00.000Z' },
  'maintenance-rescheduled': { status: 'scheduled', message: 'Moved by a week to include a vendor patch', postedAt: '2024-05-12T10:00:00.000Z' },
  'maintenance-cancelled': { status: 'cancelled', message: 'The vendor fixed the issue in place', postedAt: '2024-05-13T16:00:00.000Z' },
};

const STATUS_LABEL: Record<MaintenanceStatus, string> = {
  scheduled: 'Scheduled',
  in_progress: 'In progress',
  completed: 'Completed',
  cancelled: 'Cancelled',
};

/** Given a maintenance of the database on api-gateway and dashboard, 02:00–04:00 UTC, the context of an announcement of `kind`. */
function maintenanceContext(kind: MaintenanceKind, change: { title?: string; message?: string; postedAt?: string } = {}): RenderContext {
  const { status, message, postedAt } = ANNOUNCEMENTS[kind];
  const scheduled = ANNOUNCEMENTS['maintenance-scheduled'];
  const opening: RenderContext['update'] = {
    id: 'u1',
    seq: 1,
    kind: 'maintenance-scheduled',
    status: 'scheduled',
    message: scheduled.message,
    postedAt: scheduled.postedAt,
  };
  return {
    incident: {
      id: '01HZXMAINT',
      title: change.title ?? 'Database migration',
      severity: 'maintenance',
      status,
      components: ['api-gateway', 'dashboard'],
      createdAt: scheduled.postedAt,
      resolvedAt: null,
      url: URL,
    },
    update: {
      id: 'u2',
      seq: kind === 'maintenance-scheduled' ? 1 : 2,
      kind,
      status,
      message: change.message ?? message,
      postedAt: change.postedAt ?? postedAt,
    },
    nextUpdateDueAt: null,
    opening,
    unsubscribeUrl: UNSUBSCRIBE,
    maintenance: kind === 'maintenance-rescheduled' ? { ...NEW_WINDOW, previous: WINDOW } : WINDOW,
  };
}

/** The bodies of one rendering that each must tell the whole story. */
function bodies(out: RenderedByChannel): Record<string, string> {
  return {
    slack: out.slack.text,
    x: out.x.text,
    'email text': out.email.text,
    'email html': out.email.html,
    'webhook markdown': out.webhook.markdown,
    'webhook html': out.webhook.html,
  };
}
const PARTS = ['slack', 'x', 'email text', 'email html', 'webhook markdown', 'webhook html'];

let renderer: Renderer;
beforeAll(async () => {
  renderer = await Renderer.load();
});

const render = (kind: MaintenanceKind, change?: Parameters<typeof maintenanceContext>[1]): RenderedByChannel =>
  renderer.renderAll(kind, maintenanceContext(kind, change));

describe.each(MAINTENANCE_KINDS)('a maintenance announcement of kind %s', (kind) => {
  const current = kind === 'maintenance-rescheduled' ? NEW_WINDOW_TEXT : WINDOW_TEXT;

  it.each(PARTS)('the %s says what is affected, the window, the message, and links the maintenance', (part) => {
    const body = bodies(render(kind))[part] ?? '';
    expect(body).toContain('api-gateway, dashboard');
    expect(body).toContain(current);
    expect(body).toContain(ANNOUNCEMENTS[kind].message);
    expect(body).toContain(URL);
  });

  it.each(PARTS)('the %s promises no next update: a maintenance has its window instead', (part) => {
    expect(bodies(render(kind))[part]).not.toMatch(/next update/i);
  });

  it.each(PARTS.filter((part) => part !== 'x'))('the %s gives the status', (part) => {
    expect(bodies(render(kind))[part]).toContain(STATUS_LABEL[ANNOUNCEMENTS[kind].status]);
  });

  it('the Slack message, the X post, the email and the webhook title name the maintenance', () => {
    const out = render(kind);
    for (const text of [out.slack.text, out.x.text, out.email.text, out.email.html, out.webhook.title]) {
      expect(text).toContain('Database migration');
    }
  });

  it('the email subject and the webhook title are one line each', () => {
    const out = render(kind);
    for (const line of [out.email.subject, out.webhook.title]) {
      expect(line).toContain('Database migration');
      expect(line).not.toMatch(/\n/);
    }
  });

  it('the X post fits even with a long message, keeps the window, and ends with the link', () => {
    const { x } = render(kind, { message: 'The database moves to new hardware while replicas take the reads. '.repeat(8) });
    expect(x.weightedLength).toBeLessThanOrEqual(280);
    expect(x.weightedLength).toBe(twitterText.parseTweet(x.text).weightedLength);
    expect(x.text).toContain(current);
    expect(x.text.endsWith(`… ${URL}`)).toBe(true);
  });

  it('the email carries the unsubscribe link and the link to the maintenance', () => {
    const { email } = render(kind);
    expect(email.text).toContain(`Unsubscribe: ${UNSUBSCRIBE}`);
    expect(email.text).toContain(`Follow this maintenance: ${URL}`);
    expect(email.html).toMatch(/^<!DOCTYPE html>/);
    expect(email.html).toMatch(/>View the maintenance<\/a>/);
    expect(email.html).toMatch(/>Unsubscribe<\/a>/);
  });

  it('escapes a hostile title as each format needs', () => {
    const out = render(kind, { title: '<b>DB</b> *x*' });
    expect(out.slack.text).toContain(`&lt;b&gt;DB&lt;/b&gt; ${ZWSP}*x${ZWSP}*`);
    expect(out.slack.text).not.toContain('<b>');
    expect(out.x.text).toContain('<b>DB</b> *x*');
    expect(out.email.subject).toContain('<b>DB</b> *x*');
    expect(out.email.text).toContain('<b>DB</b> *x*');
    expect(out.email.html).toContain('&lt;b&gt;DB&lt;/b&gt; *x*');
    expect(out.email.html).not.toContain('<b>');
    expect(out.webhook.title).toContain('<b>DB</b> *x*');
    expect(out.webhook.html).not.toContain('<b>');
  });
});

describe('the window', () => {
  it('comes with its length wherever there is room for it', () => {
    const bodiesOf = bodies(render('maintenance-scheduled'));
    for (const part of ['slack', 'x', 'email text', 'email html', 'webhook markdown', 'webhook html']) {
      expect(bodiesOf[part]).toContain(`${WINDOW_TEXT} (2 h)`);
    }
  });

  it('gives both dates when it crosses midnight UTC', () => {
    const ctx = maintenanceContext('maintenance-scheduled');
    ctx.maintenance = { startsAt: '2024-05-14T23:00:00.000Z', endsAt: '2024-05-15T01:00:00.000Z' };
    for (const body of Object.values(bodies(renderer.renderAll('maintenance-scheduled', ctx)))) {
      expect(body).toContain('Tue 14 May 2024, 23:00 UTC – Wed 15 May 2024, 01:00 UTC');
    }
  });
});

describe('a reminder', () => {
  it.each(PARTS)('the %s says when the maintenance starts, counted from the reminder', (part) => {
    expect(bodies(render('maintenance-reminder'))[part]).toContain('in 24 hours');
    expect(bodies(render('maintenance-reminder', { postedAt: '2024-05-14T01:00:00.000Z' }))[part]).toContain('in 1 hour');
  });

  it('puts it in the webhook title too', () => {
    expect(render('maintenance-reminder').webhook.title).toBe('Maintenance starts in 24 hours: Database migration');
  });
});

describe('a rescheduled maintenance', () => {
  it.each(PARTS)('the %s shows the new window and the old one', (part) => {
    const body = bodies(render('maintenance-rescheduled'))[part] ?? '';
    expect(body).toContain(NEW_WINDOW_TEXT);
    expect(body).toContain(WINDOW_TEXT);
    expect(body.indexOf(NEW_WINDOW_TEXT)).toBeLessThan(body.indexOf(WINDOW_TEXT));
  });
});

describe('a cancelled maintenance', () => {
  it.each(PARTS)('the %s says it will not take place', (part) => {
    expect(bodies(render('maintenance-cancelled'))[part]).toMatch(/will not take place/);
  });
});

describe('a started maintenance', () => {
  it.each(PARTS)('the %s says it started and when it is expected to end', (part) => {
    const body = bodies(render('maintenance-started'))[part] ?? '';
    expect(body).toMatch(/Maintenance started/);
    expect(body).toContain('04:00 UTC');
  });
});

describe('a completed maintenance', () => {
  it.each(PARTS)('the %s says it is complete', (part) => {
    expect(bodies(render('maintenance-completed'))[part]).toMatch(/Maintenance completed/);
  });

  it('says when, and how long it took, in every part but X', () => {
    const out = bodies(render('maintenance-completed'));
    for (const part of ['slack', 'email text', 'email html', 'webhook markdown', 'webhook html']) {
      expect(out[part]).toContain('Tue 14 May 2024, 03:40 UTC');
      expect(out[part]).toContain('1 h 40 min after it began');
    }
  });
});

describe('email threading', () => {
  it('every announcement of one maintenance has the first subject, later ones behind "Re: "', () => {
    const first = renderer.render('email', 'maintenance-scheduled', maintenanceContext('maintenance-scheduled')).subject;
    expect(first).toBe('[Scheduled maintenance] Database migration');
    for (const kind of MAINTENANCE_KINDS.filter((k) => k !== 'maintenance-scheduled')) {
      expect(renderer.render('email', kind, maintenanceContext(kind)).subject).toBe(`Re: ${first}`);
    }
  });
});

describe('the Slack thread root', () => {
  it('re-rendered after a later announcement shows the current status, window and the latest message', () => {
    const { text } = renderer.render('slack', 'maintenance-scheduled', maintenanceContext('maintenance-rescheduled'));
    expect(text).toContain('*Status:* Scheduled');
    expect(text).toContain(`*Window:* ${NEW_WINDOW_TEXT}`);
    expect(text).toContain(`*Previously:* ${WINDOW_TEXT}`);
    expect(text).toContain(ANNOUNCEMENTS['maintenance-scheduled'].message);
    expect(text).toContain(`*Latest update (Sun 12 May 2024, 10:00 UTC):* ${ANNOUNCEMENTS['maintenance-rescheduled'].message}`);
  });
});
