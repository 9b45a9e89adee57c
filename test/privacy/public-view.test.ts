/**
 * What leaves Herald is public (contract §3): given an incident with a
 * commander, named audiences and an author, what reaches Slack, X, email and
 * a blog webhook carries the public view only — even when the operator's own
 * templates ask for the commander, the audiences or the author.
 */
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newWebhookSecret, type ReceivedWebhook } from '../fakes/webhook-receiver.js';
import { READ_TOKEN, startStack, WRITE_TOKEN, type Stack } from '../support/stack.js';

const PUBLIC_INCIDENT_KEYS = ['components', 'createdAt', 'id', 'nextUpdateDueAt', 'resolvedAt', 'severity', 'status', 'title', 'updatedAt', 'url'];
const PUBLIC_UPDATE_KEYS = ['id', 'incidentId', 'kind', 'message', 'postedAt', 'seq', 'status'];

/** Words that are private to Herald and must appear in nothing an audience receives. */
const COMMANDER = { name: 'Dana Kestrelworth', email: 'dana.kestrelworth@corp.example', slackUserId: 'U0KESTREL' };
const AUTHOR = 'author-osprey';
const AUDIENCES = ['partners-heron', 'bloggers-plover'];
const PRIVATE_WORDS = [COMMANDER.name, COMMANDER.email, COMMANDER.slackUserId, 'Kestrelworth', AUTHOR, ...AUDIENCES];

/** Operator templates for `opened` that ask for everything private they could find. */
const NOSY = '{{update.author}} {{incident.commander.name}} {{incident.commander.email}} {{incident.commander.slackUserId}} {{incident.audiences}} {{audiences}} {{commander.email}}';
const NOSY_TEMPLATES: Record<string, string> = {
  'slack/opened.hbs': `{{incident.title}} ${NOSY}`,
  'x/opened.hbs': `{{incident.title}} ${NOSY}`,
  'email/opened.subject.hbs': `{{incident.title}} ${NOSY}`,
  'email/opened.text.hbs': `{{incident.title}} ${NOSY}`,
  'email/opened.html.hbs': `<p>{{incident.title}} ${NOSY}</p>`,
  'webhook/opened.title.hbs': `{{incident.title}} ${NOSY}`,
  'webhook/opened.md.hbs': `{{incident.title}} ${NOSY}`,
  'webhook/opened.html.hbs': `<p>{{incident.title}} ${NOSY}</p>`,
};

describe('given an incident with a commander, named audiences and an author', () => {
  let stack: Stack;
  let templatesDir: string;
  let incidentId: string;
  const secrets = { heron: newWebhookSecret(), plover: newWebhookSecret() };

  beforeAll(async () => {
    templatesDir = mkdtempSync(join(tmpdir(), 'herald-nosy-templates-'));
    for (const [file, source] of Object.entries(NOSY_TEMPLATES)) {
      mkdirSync(join(templatesDir, file.split('/')[0]!), { recursive: true });
      writeFileSync(join(templatesDir, file), source);
    }
    stack = await startStack({
      env: {
        HERALD_API_TOKENS: `${AUTHOR}:${WRITE_TOKEN}:write,viewer:${READ_TOKEN}:read`,
        HERALD_TEMPLATES_DIR: templatesDir,
      },
    });
    const { hooks } = stack;
    for (const [name, channel, recipient, path, secret] of [
      [AUDIENCES[0]!, 'C0HERON', 'ops@heron.example', '/heron', secrets.heron],
      [AUDIENCES[1]!, 'C0PLOVER', 'ops@plover.example', '/plover', secrets.plover],
    ] as const) {
      const res = await stack.api('PUT', `/v1/audiences/${name}`, {
        slack: { channels: [channel] },
        x: { enabled: true },
        email: { recipients: [recipient] },
        webhooks: [{ url: hooks.register(path, secret), secret }],
      });
      expect(res.statusCode, res.body).toBe(200);
    }

    const opened = await stack.api('POST', '/v1/incidents', {
      title: 'Email delivery delayed',
      severity: 'major',
      status: 'investigating',
      message: 'We are investigating delays in outbound email.',
      components: ['email'],
      audiences: AUDIENCES,
      cadenceSeconds: 1800,
      commander: COMMANDER,
    });
    expect(opened.statusCode, opened.body).toBe(201);
    incidentId = opened.json().incident.id;
    await hooks.waitFor(2, 15_000);

    // The second update renders from the built-in templates.
    const update = await stack.api('POST', `/v1/incidents/${incidentId}/updates`, { message: 'A relay was misconfigured.', status: 'identified' });
    expect(update.statusCode, update.body).toBe(201);
    await Promise.all([
      hooks.waitFor(4, 15_000),
      stack.slack.waitFor((f) => f.posts().length >= 4, 15_000),
      stack.x.waitFor((f) => f.posts.length >= 2, 15_000),
      stack.smtp.waitFor(4, 15_000),
    ]);
  });

  afterAll(async () => {
    await stack?.stop();
    rmSync(templatesDir, { recursive: true, force: true });
  });

  it('each webhook payload has exactly the public keys of the incident and of the update', () => {
    const payloads = stack.hooks.received().map((r: ReceivedWebhook) => r.body as Record<string, Record<string, unknown>>);
    expect(payloads).toHaveLength(4);
    for (const payload of payloads) {
      expect(Object.keys(payload).sort()).toEqual(['incident', 'rendered', 'type', 'update']);
      expect(Object.keys(payload.incident!).sort()).toEqual(PUBLIC_INCIDENT_KEYS);
      expect(Object.keys(payload.update!).sort()).toEqual(PUBLIC_UPDATE_KEYS);
      expect(payload.incident!.id).toBe(incidentId);
      expect(payload.incident!.url).toBe(`https://status.herald.test/incidents/${incidentId}`);
      expect(payload.update!.incidentId).toBe(incidentId);
    }
    const statuses = payloads.map((p) => `${String(p.update!.seq)}:${String(p.incident!.status)}`).sort();
    expect(statuses).toEqual(['1:investigating', '1:investigating', '2:identified', '2:identified']);
  });

  /** Fails naming the wire and the word when any private word is in any text. */
  function expectNothingPrivate(crossed: ReadonlyArray<readonly [string, string]>): void {
    for (const [where, text] of crossed) {
      for (const word of PRIVATE_WORDS) {
        expect(text.includes(word), `${where} carries ${JSON.stringify(word)}`).toBe(false);
      }
    }
  }

  it('no commander, author or audience name reaches Slack, X or email, though the opening templates ask for them', () => {
    const crossed = [
      ...stack.slack.posts().map((p) => [`slack ${p.channel}`, JSON.stringify(p.params)] as const),
      ...stack.slack.updates().map((u) => [`slack edit ${u.channel}`, JSON.stringify(u)] as const),
      ...stack.x.posts.map((p) => [`x ${p.id}`, p.text] as const),
      ...stack.smtp.messages.map((m) => [`email to ${m.envelopeTo.join(',')}`, `${m.raw}\n${m.subject}\n${m.text}\n${m.html}`] as const),
    ];
    expect(crossed.length).toBeGreaterThanOrEqual(10);
    expectNothingPrivate(crossed);
  });

  it('no commander, author or audience name is in any webhook request', () => {
    const crossed = stack.hooks.received().map((r) => [`webhook ${r.path}`, JSON.stringify(r.headers) + r.rawBody] as const);
    expect(crossed).toHaveLength(4);
    expectNothingPrivate(crossed);
  });

  it('no target learns of another: a webhook payload names no other receiver or recipient', () => {
    for (const request of stack.hooks.received()) {
      expect(request.rawBody).not.toContain('heron.example');
      expect(request.rawBody).not.toContain('plover.example');
      expect(request.rawBody).not.toContain('/heron');
      expect(request.rawBody).not.toContain('/plover');
      expect(request.rawBody).not.toContain('whsec_');
    }
  });
});
