import { existsSync } from 'node:fs';
import { cp, mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { UPDATE_KINDS } from '../../src/domain/incident.js';
import { Renderer } from '../../src/render/renderer.js';
import {
  builtinTemplatesDir,
  loadTemplates,
  sampleRenderContext,
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
  it('takes the kinds as data, so new kinds only need new files', async () => {
    await cp(BUILTIN, dir, { recursive: true });
    const reminder: Record<string, string> = {
      'slack/reminder.hbs': 'Reminder: {{incident.title}}',
      'x/reminder.hbs': 'Reminder: {{incident.title}}',
      'email/reminder.subject.hbs': 'Reminder',
      'email/reminder.text.hbs': 'Reminder',
      'email/reminder.html.hbs': '<p>Reminder</p>',
      'webhook/reminder.title.hbs': 'Reminder',
      'webhook/reminder.md.hbs': 'Reminder',
      'webhook/reminder.html.hbs': '<p>Reminder</p>',
    };
    await write(dir, reminder);
    const templates = await loadTemplates({ builtinDir: dir, kinds: [...UPDATE_KINDS, 'reminder'] });
    expect(templates.kinds).toContain('reminder');
    expect(templates.forKind('reminder')?.slack.text(sampleRenderContext('reminder'))).toBe('Reminder: Email delivery delayed');
  });

  it('a missing built-in file is a TemplateError naming it', async () => {
    await cp(BUILTIN, dir, { recursive: true });
    await rm(path.join(dir, 'webhook', 'holding.md.hbs'));
    const error: unknown = await loadTemplates({ builtinDir: dir, kinds: UPDATE_KINDS }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TemplateError);
    expect((error as TemplateError).message).toContain(path.join(dir, 'webhook', 'holding.md.hbs'));
  });

  it('a kind that is not a plain name is refused, never read as a path', async () => {
    await expect(loadTemplates({ builtinDir: BUILTIN, kinds: ['../secrets'] })).rejects.toThrow(TemplateError);
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
