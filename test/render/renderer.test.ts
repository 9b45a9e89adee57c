import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';

import twitterText from 'twitter-text';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { INCIDENT_KINDS, type IncidentKind, type IncidentStatus } from '../../src/domain/incident.js';
import { ZERO_WIDTH_SPACE as ZWSP } from '../../src/render/escape.js';
import { Renderer } from '../../src/render/renderer.js';
import type { RenderContext, RenderedByChannel } from '../../src/render/types.js';

const URL = 'https://status.example.com/incidents/01HZXINCIDENT';
const UNSUBSCRIBE = 'https://status.example.com/v1/unsubscribe?token=t0k3n';

const MESSAGES: Record<IncidentKind, string> = {
  opened: 'Outbound mail is queued behind a slow relay',
  update: 'The relay was misconfigured and a fix is rolling out',
  holding: 'The relay was misconfigured and a fix is rolling out',
  resolved: 'Queued mail has been delivered and latency is normal',
};
const STATUS: Record<IncidentKind, IncidentStatus> = {
  opened: 'investigating',
  update: 'identified',
  holding: 'identified',
  resolved: 'resolved',
};

/** Given a critical incident on api-gateway and email, the context of an update of `kind`. */
function contextFor(kind: IncidentKind, message = MESSAGES[kind]): RenderContext {
  const resolved = kind === 'resolved';
  const opening: RenderContext['update'] = {
    id: 'u1',
    seq: 1,
    kind: 'opened',
    status: 'investigating',
    message: MESSAGES.opened,
    postedAt: '2024-05-14T12:50:00.000Z',
  };
  return {
    incident: {
      id: '01HZXINCIDENT',
      title: 'Email delivery delayed',
      severity: 'critical',
      status: STATUS[kind],
      components: ['api-gateway', 'email'],
      createdAt: opening.postedAt,
      resolvedAt: resolved ? '2024-05-14T15:05:00.000Z' : null,
      url: URL,
    },
    update:
      kind === 'opened'
        ? { ...opening, message }
        : {
            id: 'u2',
            seq: 2,
            kind,
            status: STATUS[kind],
            message,
            postedAt: resolved ? '2024-05-14T15:05:00.000Z' : '2024-05-14T14:00:00.000Z',
          },
    nextUpdateDueAt: resolved ? null : '2024-05-14T14:30:00.000Z',
    opening,
    unsubscribeUrl: UNSUBSCRIBE,
  };
}

const STATUS_LABEL: Record<IncidentStatus, string> = {
  investigating: 'Investigating',
  identified: 'Identified',
  monitoring: 'Monitoring',
  resolved: 'Resolved',
};

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

let renderer: Renderer;
beforeAll(async () => {
  renderer = await Renderer.load();
});

describe('built-in templates', () => {
  describe.each(INCIDENT_KINDS)('an update of kind %s', (kind) => {
    const render = (): RenderedByChannel => renderer.renderAll(kind, contextFor(kind));

    it.each(['slack', 'x', 'email text', 'email html', 'webhook markdown', 'webhook html'])(
      'the %s says the status, what is affected, what we know, and links the incident',
      (part) => {
        const body = bodies(render())[part] ?? '';
        expect(body).toContain(STATUS_LABEL[STATUS[kind]]);
        expect(body).toContain('api-gateway, email');
        expect(body).toContain(MESSAGES[kind]);
        expect(body).toContain(URL);
      },
    );

    it.each(['slack', 'x', 'email text', 'email html', 'webhook markdown', 'webhook html'])(
      kind === 'resolved' ? 'the %s says since when it is resolved, and promises no next update' : 'the %s says when the next update is due',
      (part) => {
        const body = bodies(render())[part] ?? '';
        if (kind === 'resolved') {
          expect(body).toContain('15:05 UTC');
          expect(body).not.toMatch(/next update/i);
        } else {
          expect(body).toContain('14:30 UTC');
        }
      },
    );

    it('the email subject and the webhook title name the incident, on one line', () => {
      const out = render();
      expect(out.email.subject).toContain('Email delivery delayed');
      expect(out.webhook.title).toContain('Email delivery delayed');
      expect(out.email.subject).not.toMatch(/\n/);
      expect(out.webhook.title).not.toMatch(/\n/);
    });

    it('the X post fits, and its weighted length is what twitter-text measures', () => {
      const { x } = render();
      expect(x.weightedLength).toBe(twitterText.parseTweet(x.text).weightedLength);
      expect(x.weightedLength).toBeLessThanOrEqual(280);
      expect(x.text.endsWith(URL)).toBe(true);
    });

    it('the email HTML is a whole document with the unsubscribe link in its footer', () => {
      const { html } = render().email;
      expect(html).toMatch(/^<!DOCTYPE html>/);
      expect(html).toContain('<html lang="en">');
      expect(html).toContain(`<a href="${UNSUBSCRIBE.replace('=', '&#x3D;')}"`);
      expect(html).toMatch(/>Unsubscribe<\/a>/);
    });

    it('the email text part carries the unsubscribe link too', () => {
      expect(render().email.text).toContain(`Unsubscribe: ${UNSUBSCRIBE}`);
    });
  });

  it('the email has no unsubscribe link when the recipient has none', () => {
    const { unsubscribeUrl: _omitted, ...ctx } = contextFor('update');
    const { email } = renderer.renderAll('update', ctx);
    expect(email.html).not.toContain('Unsubscribe');
    expect(email.text).not.toContain('Unsubscribe');
  });

  it('every later email keeps the first subject behind "Re: ", so mail clients thread them', () => {
    const first = renderer.render('email', 'opened', contextFor('opened')).subject;
    expect(first).toBe('[Critical incident] Email delivery delayed');
    for (const kind of ['update', 'holding', 'resolved'] as const) {
      expect(renderer.render('email', kind, contextFor(kind)).subject).toBe(`Re: ${first}`);
    }
  });

  it('a holding statement says there is nothing new and repeats the last message', () => {
    for (const body of Object.values(bodies(renderer.renderAll('holding', contextFor('holding'))))) {
      expect(body).toMatch(/no new information/i);
      expect(body).toContain(MESSAGES.holding);
    }
  });

  it('the Slack opening message, re-rendered after an update, shows the current status and the latest update', () => {
    const { text } = renderer.render('slack', 'opened', contextFor('update'));
    expect(text).toContain('*Status:* Identified');
    expect(text).toContain(MESSAGES.opened);
    expect(text).toContain(`*Latest update (14:00 UTC):* ${MESSAGES.update}`);
  });

  it('renders an incident with no components, no commander and no opening', () => {
    const ctx = contextFor('update');
    const bare: RenderContext = {
      incident: { ...ctx.incident, components: [] },
      update: ctx.update,
      nextUpdateDueAt: ctx.nextUpdateDueAt,
    };
    const out = renderer.renderAll('update', bare);
    for (const body of Object.values(bodies(out))) {
      expect(body).toContain(MESSAGES.update);
      expect(body).not.toContain('Affected');
    }
  });

  it('cuts a long message on X and still ends with the link', () => {
    const long = 'The relay is throttling outbound mail while the queue drains. '.repeat(10);
    const { x } = renderer.renderAll('update', contextFor('update', long));
    expect(x.weightedLength).toBeLessThanOrEqual(280);
    expect(x.weightedLength).toBe(twitterText.parseTweet(x.text).weightedLength);
    expect(x.text.endsWith(`… ${URL}`)).toBe(true);
  });

  it('refuses a kind it has no templates for, naming the channel and what it has', () => {
    expect(() => renderer.render('slack', 'postmortem', contextFor('update'))).toThrow(
      /no slack templates loaded for kind "postmortem" \(slack has: opened, update, holding, resolved, maintenance-scheduled, .*reminder, delivery-failed\)/,
    );
  });
});

const HOSTILE = '<script>alert(1)</script> {{x}} *bold* <!channel> & < >';

describe('escaping, per channel', () => {
  let dir: string;
  let echo: Renderer;

  beforeAll(async () => {
    // Operator templates that print the message and nothing else, so the
    // escaping of each channel's environment is visible exactly.
    dir = await mkdtemp(path.join(tmpdir(), 'herald-escape-'));
    const files: Record<string, string> = {
      'slack/update.hbs': '{{update.message}}',
      'x/update.hbs': '{{update.message}}',
      'email/update.subject.hbs': '{{update.message}}',
      'email/update.text.hbs': '{{update.message}}',
      'email/update.html.hbs': '{{update.message}}',
      'webhook/update.title.hbs': '{{update.message}}',
      'webhook/update.md.hbs': '{{update.message}}',
      'webhook/update.html.hbs': '{{update.message}}',
      // Blocks, partials and helpers go through the same escaping; triple-stash opts out.
      'slack/holding.hbs': '{{#if update.message}}{{update.message}}{{/if}}|{{#each incident.components}}{{this}};{{/each}}|{{> echo}}|{{join incident.components}}|{{{update.message}}}',
      'slack/_echo.hbs': '{{update.message}}',
      'webhook/holding.md.hbs': '{{#with update}}{{message}}{{/with}}|{{> echo}}|{{{update.message}}}',
      'webhook/_echo.hbs': '{{update.message}}',
    };
    for (const [file, source] of Object.entries(files)) {
      await mkdir(path.dirname(path.join(dir, file)), { recursive: true });
      await writeFile(path.join(dir, file), source);
    }
    echo = await Renderer.load({ overrideDir: dir });
  });

  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('shows the hostile message exactly as each format needs', () => {
    const out = echo.renderAll('update', contextFor('update', HOSTILE));
    const html = '&lt;script&gt;alert(1)&lt;/script&gt; {{x}} *bold* &lt;!channel&gt; &amp; &lt; &gt;';
    expect(out.slack.text).toBe(`&lt;script&gt;alert(1)&lt;/script&gt; {{x}} ${ZWSP}*bold${ZWSP}* &lt;!channel&gt; &amp; &lt; &gt;`);
    expect(out.x.text).toBe(HOSTILE);
    expect(out.email.subject).toBe(HOSTILE);
    expect(out.email.text).toBe(HOSTILE);
    expect(out.email.html).toBe(html);
    expect(out.webhook.title).toBe(HOSTILE);
    expect(out.webhook.markdown).toBe('\\<script\\>alert(1)\\</script\\> {{x}} \\*bold\\* \\<!channel\\> \\& \\< \\>');
    expect(out.webhook.html).toBe(html);
  });

  it('escapes inside blocks, partials and helper output, and lets {{{triple-stash}}} through raw', () => {
    const ctx = contextFor('holding', '*hi* <!here>');
    ctx.incident.components = ['_ab', '<c>'];
    const slack = echo.render('slack', 'holding', ctx).text;
    const msg = `${ZWSP}*hi${ZWSP}* &lt;!here&gt;`;
    expect(slack).toBe(`${msg}|${ZWSP}_ab;&lt;c&gt;;|${msg}|${ZWSP}_ab, &lt;c&gt;|*hi* <!here>`);
    const markdown = echo.render('webhook', 'holding', ctx).markdown;
    expect(markdown).toBe('\\*hi\\* \\<!here\\>|\\*hi\\* \\<!here\\>|*hi* <!here>');
  });

  it('never evaluates {{…}} that arrives in data', () => {
    const out = echo.renderAll('update', contextFor('update', '{{incident.id}} {{> echo}} {{#each x}}'));
    expect(out.x.text).toBe('{{incident.id}} {{> echo}} {{#each x}}');
    expect(out.email.html).toBe('{{incident.id}} {{&gt; echo}} {{#each x}}');
  });

  it('the built-in templates escape the commander message too', () => {
    const out = renderer.renderAll('update', contextFor('update', HOSTILE));
    expect(out.slack.text).toContain(`&lt;!channel&gt;`);
    expect(out.slack.text).not.toContain('<!channel>');
    expect(out.slack.text).toContain(`${ZWSP}*bold${ZWSP}*`);
    expect(out.email.html).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
    expect(out.email.html).not.toContain('<script>');
    expect(out.webhook.html).not.toContain('<script>');
    expect(out.webhook.markdown).toContain('\\<script\\>alert(1)\\</script\\>');
    expect(out.email.text).toContain(HOSTILE);
  });

  it('keeps the lines of a multi-line message in HTML', () => {
    const out = renderer.renderAll('update', contextFor('update', 'first line\nsecond <line>'));
    expect(out.email.html).toContain('first line<br>\nsecond &lt;line&gt;');
    expect(out.webhook.html).toContain('first line<br>\nsecond &lt;line&gt;');
  });
});
