import { existsSync } from 'node:fs';
import { cp, mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { COMMANDER_KINDS, MAINTENANCE_KINDS, MAINTENANCE_STATUSES, UPDATE_KINDS } from '../../src/domain/incident.js';
import { Renderer } from '../../src/render/renderer.js';
import {
  BUILTIN_KINDS,
  builtinTemplatesDir,
  loadTemplates,
  onEveryChannel,
  sampleRenderContext,
  sampleRenderContexts,
  TemplateError,
} from '../../src/render/templates.js';

const BUILTIN = builtinTemplatesDir();

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'herald-templates-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function write(root: string, files: Record<string, string>): Promise<void> {
  for (const [file, source] of Object.entries(files)) {
    await mkdir(path.dirname(path.join(root, file)), { recursive: true });
    await writeFile(path.join(root, file), source);
  }
}

/** Loading with the override dir must fail with a TemplateError; returns it. */
async function loadError(overrideDir: string): Promise<TemplateError> {
  const error: unknown = await Renderer.load({ overrideDir }).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(TemplateError);
  return error as TemplateError;
}

describe('builtinTemplatesDir', () => {
  it('finds templates/ beside package.json from src/', () => {
    expect(existsSync(path.join(BUILTIN, 'slack', 'opened.hbs'))).toBe(true);
    expect(existsSync(path.join(path.dirname(BUILTIN), 'package.json'))).toBe(true);
  });

  it('finds the same directory from a module two levels deeper, as dist/src/render/ is', () => {
    const root = path.dirname(BUILTIN);
    const compiled = pathToFileURL(path.join(root, 'dist', 'src', 'render', 'templates.js'));
    expect(builtinTemplatesDir(compiled)).toBe(BUILTIN);
  });
});

describe('the operator templates directory', () => {
  it('replaces only the files it has; every other file falls back to the built-in one', async () => {
    await write(dir, { 'slack/update.hbs': 'OPERATOR {{statusLabel incident.status}}: {{update.message}}' });
    const custom = await Renderer.load({ overrideDir: dir });
    const builtin = await Renderer.load();
    const ctx = sampleRenderContext('update');

    expect(custom.render('slack', 'update', ctx).text).toBe(`OPERATOR Identified: ${ctx.update.message}`);
    expect(custom.render('slack', 'opened', ctx)).toEqual(builtin.render('slack', 'opened', ctx));
    expect(custom.render('email', 'update', ctx)).toEqual(builtin.render('email', 'update', ctx));
    expect(custom.render('webhook', 'update', ctx)).toEqual(builtin.render('webhook', 'update', ctx));
    expect(custom.overridden).toEqual(['slack/update.hbs']);
  });

  it('replaces a partial for every template that uses it', async () => {
    await write(dir, { 'email/_text-footer.hbs': 'Questions? Reply to this email.\n' });
    const custom = await Renderer.load({ overrideDir: dir });
    for (const kind of UPDATE_KINDS) {
      const { text } = custom.render('email', kind, sampleRenderContext(kind));
      expect(text).toMatch(/Questions\? Reply to this email\.\n$/);
      expect(text).not.toContain('Unsubscribe');
    }
  });

  it('may add partials of its own', async () => {
    await write(dir, { 'x/update.hbs': '{{> brand}} {{update.message}}', 'x/_brand.hbs': '[Acme status]' });
    const custom = await Renderer.load({ overrideDir: dir });
    expect(custom.render('x', 'update', sampleRenderContext('update')).text).toMatch(/^\[Acme status\] A misconfigured/);
  });

  it('reports files that nothing uses, such as a misspelt kind', async () => {
    await write(dir, { 'slack/updte.hbs': 'typo', 'slack/update.hbs': '{{update.message}}', 'slack/notes.txt': 'ignored' });
    const custom = await Renderer.load({ overrideDir: dir });
    expect(custom.unusedOverrides).toEqual(['slack/updte.hbs']);
  });

  it('must exist', async () => {
    const error = await loadError(path.join(dir, 'nope'));
    expect(error.message).toContain(path.join(dir, 'nope'));
  });
});

describe('a broken template stops startup', () => {
  it('names the file and the line of a syntax error', async () => {
    await write(dir, { 'email/holding.html.hbs': '<p>\n{{update.message}}\n{{#if nextUpdateDueAt}\n</p>' });
    const error = await loadError(dir);
    const file = path.join(dir, 'email/holding.html.hbs');
    expect(error.file).toBe(file);
    expect(error.line).toBe(3);
    expect(error.message).toContain(file);
    expect(error.message).toContain('line 3');
  });

  it('names the file and line of a block closed by the wrong name', async () => {
    await write(dir, { 'slack/opened.hbs': 'a\nb\n{{#if update}}\n{{/each}}' });
    const error = await loadError(dir);
    expect(error.file).toBe(path.join(dir, 'slack/opened.hbs'));
    expect(error.line).toBe(3);
    expect(error.message).toMatch(/line 3.*if doesn't match each/s);
  });

  it('names the partial file when the syntax error is in a partial', async () => {
    await write(dir, { 'webhook/_md-details.hbs': '- ok\n- {{broken' });
    const error = await loadError(dir);
    expect(error.file).toBe(path.join(dir, 'webhook/_md-details.hbs'));
    expect(error.line).toBe(2);
  });

  it('catches an unknown helper at load, with its line', async () => {
    await write(dir, { 'x/update.hbs': '{{update.message}}\nDue {{formatTime nextUpdateDueAt}}' });
    const error = await loadError(dir);
    expect(error.file).toBe(path.join(dir, 'x/update.hbs'));
    expect(error.line).toBe(2);
    expect(error.message).toContain('unknown helper "formatTime"');
  });

  it('catches an unknown helper in a sub-expression or a block', async () => {
    await write(dir, { 'slack/resolved.hbs': '{{#if (isResolved incident)}}yes{{/if}}' });
    expect((await loadError(dir)).message).toContain('unknown helper "isResolved"');

    await rm(dir, { recursive: true });
    await write(dir, { 'slack/resolved.hbs': '{{#repeat 3}}x{{/repeat}}' });
    expect((await loadError(dir)).message).toContain('unknown helper "repeat"');
  });

  it('catches an unknown partial at load', async () => {
    await write(dir, { 'email/opened.text.hbs': 'Hi\n{{> signature}}' });
    const error = await loadError(dir);
    expect(error.line).toBe(2);
    expect(error.message).toContain('unknown partial "signature"');
  });

  it('catches errors that only show when rendering, by a trial render at load', async () => {
    // Syntactically fine, but #each throws when called without a list.
    await write(dir, { 'webhook/resolved.title.hbs': 'Resolved {{#each}}x{{/each}}' });
    const error = await loadError(dir);
    expect(error.file).toBe(path.join(dir, 'webhook/resolved.title.hbs'));
    expect(error.message).toMatch(/trial render failed: Must pass iterator to #each/);
  });
});

describe('loadTemplates', () => {
  it('takes the kinds of each channel as data, so a new kind only needs the files of the channels that have it', async () => {
    await cp(BUILTIN, dir, { recursive: true });
    await write(dir, {
      'webhook/postmortem.title.hbs': 'Postmortem: {{incident.title}}',
      'webhook/postmortem.md.hbs': 'Postmortem',
      'webhook/postmortem.html.hbs': '<p>Postmortem</p>',
    });
    const templates = await loadTemplates({ builtinDir: dir, kinds: { ...BUILTIN_KINDS, webhook: [...UPDATE_KINDS, 'postmortem'] } });
    expect(templates.kinds.webhook).toContain('postmortem');
    expect(templates.forKind('webhook', 'postmortem')?.title(sampleRenderContext('postmortem'))).toBe('Postmortem: Email delivery delayed');
    expect(templates.forKind('slack', 'postmortem')).toBeUndefined();
    expect(templates.forKind('x', 'reminder')).toBeUndefined();
  });

  it('a missing built-in file is a TemplateError naming it', async () => {
    await cp(BUILTIN, dir, { recursive: true });
    await rm(path.join(dir, 'webhook', 'holding.md.hbs'));
    const error: unknown = await loadTemplates({ builtinDir: dir, kinds: BUILTIN_KINDS }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TemplateError);
    expect((error as TemplateError).message).toContain(path.join(dir, 'webhook', 'holding.md.hbs'));
  });

  it('a missing commander template of a channel that has the kind is a TemplateError too', async () => {
    await cp(BUILTIN, dir, { recursive: true });
    await rm(path.join(dir, 'email', 'reminder.subject.hbs'));
    const error: unknown = await loadTemplates({ builtinDir: dir, kinds: BUILTIN_KINDS }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TemplateError);
    expect((error as TemplateError).message).toContain(path.join(dir, 'email', 'reminder.subject.hbs'));
  });

  it('a kind that is not a plain name is refused, never read as a path', async () => {
    await expect(loadTemplates({ builtinDir: BUILTIN, kinds: { ...BUILTIN_KINDS, x: ['../secrets'] } })).rejects.toThrow(TemplateError);
  });

  it('loads the same kinds everywhere when asked to', async () => {
    const templates = await loadTemplates({ builtinDir: BUILTIN, kinds: onEveryChannel(['opened', 'resolved']) });
    expect(templates.kinds).toEqual({ slack: ['opened', 'resolved'], x: ['opened', 'resolved'], email: ['opened', 'resolved'], webhook: ['opened', 'resolved'] });
    expect(templates.forKind('email', 'update')).toBeUndefined();
  });
});

describe('the built-in kinds', () => {
  it('are every update kind on every channel, and the commander kinds on Slack and email only', () => {
    expect(BUILTIN_KINDS.x).toEqual(UPDATE_KINDS);
    expect(BUILTIN_KINDS.webhook).toEqual(UPDATE_KINDS);
    expect(BUILTIN_KINDS.slack).toEqual([...UPDATE_KINDS, ...COMMANDER_KINDS]);
    expect(BUILTIN_KINDS.email).toEqual([...UPDATE_KINDS, ...COMMANDER_KINDS]);
  });

  it('need no X or webhook files for the commander kinds', async () => {
    for (const kind of COMMANDER_KINDS) {
      expect(existsSync(path.join(BUILTIN, 'x', `${kind}.hbs`))).toBe(false);
      expect(existsSync(path.join(BUILTIN, 'webhook', `${kind}.title.hbs`))).toBe(false);
    }
    const renderer = await Renderer.load();
    expect(renderer.has('x', 'reminder')).toBe(false);
    expect(renderer.has('slack', 'reminder')).toBe(true);
  });

  it('an operator file for a kind its channel lacks is reported as unused', async () => {
    await write(dir, { 'x/reminder.hbs': 'Update due {{time reminder.dueAt}}' });
    const custom = await Renderer.load({ overrideDir: dir });
    expect(custom.unusedOverrides).toEqual(['x/reminder.hbs']);
    expect(custom.has('x', 'reminder')).toBe(false);
  });
});

describe('sample contexts', () => {
  it('fit each kind: a window for maintenances and no next update, a reminder or a failure for the commander', () => {
    for (const kind of MAINTENANCE_KINDS) {
      const ctx = sampleRenderContext(kind);
      expect(ctx.update.kind).toBe(kind);
      expect(MAINTENANCE_STATUSES).toContain(ctx.incident.status);
      expect(ctx.update.status).toBe(ctx.incident.status);
      expect(ctx.nextUpdateDueAt).toBeNull();
      expect(Date.parse(ctx.maintenance?.endsAt ?? '')).toBeGreaterThan(Date.parse(ctx.maintenance?.startsAt ?? ''));
      expect(ctx.maintenance?.previous !== undefined).toBe(kind === 'maintenance-rescheduled');
    }
    expect(sampleRenderContext('maintenance-started').incident.status).toBe('in_progress');
    expect(sampleRenderContext('maintenance-cancelled').incident.status).toBe('cancelled');

    const reminder = sampleRenderContext('reminder');
    expect(reminder.reminder?.curl).toContain(reminder.reminder?.updateUrl);
    expect(reminder.unsubscribeUrl).toBeUndefined();
    const failed = sampleRenderContext('delivery-failed');
    expect(failed.failure?.attempts).toBeGreaterThan(1);
    expect(failed.unsubscribeUrl).toBeUndefined();
  });

  it('come in pairs, the second without the optional fields but with what the kind is about', () => {
    const [full, bare] = sampleRenderContexts('reminder');
    expect(full?.reminder?.sentAt).toBeDefined();
    expect(bare?.reminder).toEqual({ dueAt: full?.reminder?.dueAt, updateUrl: full?.reminder?.updateUrl, curl: full?.reminder?.curl });
    expect(bare?.opening).toBeUndefined();
    const [, bareMaintenance] = sampleRenderContexts('maintenance-rescheduled');
    expect(bareMaintenance?.maintenance?.previous).toBeDefined();
    expect(bareMaintenance?.incident.components).toEqual([]);
  });
});

describe('a partial block naming no partial', () => {
  it('is refused rather than silently rendering its content', async () => {
    await write(dir, { 'email/update.html.hbs': '{{#> layuot}}\n<p>{{update.message}}</p>\n{{/layuot}}' });
    const error = await loadError(dir);
    expect(error.line).toBe(1);
    expect(error.message).toContain('unknown partial "layuot"');
  });
});
