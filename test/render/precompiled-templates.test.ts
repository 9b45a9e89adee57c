/**
 * The built-in templates precompiled at build (`npm run build` runs
 * scripts/precompile-templates.mjs): a process uses them as built, and
 * renders exactly what compiling the sources renders; a built-in file edited
 * since the build, and every operator's file, is checked, compiled and
 * trial-rendered at load as before.
 */
import { cp, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { Renderer } from '../../src/render/renderer.js';
import { BUILTIN_KINDS, builtinTemplatesDir, CHANNELS, precompileTemplates, sampleRenderContexts, TemplateError } from '../../src/render/templates.js';

let dir: string;
let builtinDir: string;
let overrideDir: string;
beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'herald-precompiled-'));
  builtinDir = path.join(dir, 'templates');
  overrideDir = path.join(dir, 'override');
  await cp(builtinTemplatesDir(), builtinDir, { recursive: true });
  await mkdir(overrideDir);
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

let modules = 0;
/** Precompiles `builtinDir` as the build does, into a module of its own (a module is imported once per URL). */
async function precompile(): Promise<URL> {
  const module = path.join(dir, `builtin-templates-${++modules}.js`);
  await writeFile(module, await precompileTemplates({ builtinDir, kinds: BUILTIN_KINDS }));
  return pathToFileURL(module);
}

/** The TemplateError `loading` rejects with (it must reject with one). */
async function templateError(loading: Promise<unknown>): Promise<TemplateError> {
  const error: unknown = await loading.catch((e: unknown) => e);
  expect(error).toBeInstanceOf(TemplateError);
  return error as TemplateError;
}

async function write(root: string, files: Record<string, string>): Promise<void> {
  for (const [file, source] of Object.entries(files)) {
    await mkdir(path.dirname(path.join(root, file)), { recursive: true });
    await writeFile(path.join(root, file), source);
  }
}

describe('given the built-in templates precompiled at build', () => {
  it('a process uses every built-in file as built, and renders what compiling the sources renders', async () => {
    const precompiled = await precompile();
    const built = await Renderer.load({ builtinDir, precompiled });
    const compiled = await Renderer.load({ builtinDir, precompiled: null });
    expect(compiled.precompiled).toEqual([]);
    expect(built.precompiled.length).toBeGreaterThan(100);
    expect(built.precompiled).toContain('email/_layout.hbs');
    for (const channel of CHANNELS) {
      for (const kind of BUILTIN_KINDS[channel]) {
        for (const ctx of sampleRenderContexts(kind)) {
          expect(built.render(channel, kind, ctx), `${channel} ${kind}`).toEqual(compiled.render(channel, kind, ctx));
        }
      }
    }
  });

  it('a built-in file edited since the build is compiled at load, and its edit is what renders', async () => {
    const precompiled = await precompile();
    const file = path.join(builtinDir, 'slack', 'update.hbs');
    await writeFile(file, `Edited after the build.\n${await readFile(file, 'utf8')}`);
    const renderer = await Renderer.load({ builtinDir, precompiled });
    expect(renderer.precompiled).not.toContain('slack/update.hbs');
    expect(renderer.precompiled).toContain('slack/opened.hbs');
    expect(renderer.render('slack', 'update', sampleRenderContexts('update')[0]!).text).toMatch(/^Edited after the build\./);
  });

  it('a built-in file broken since the build stops startup, naming its file and line', async () => {
    const precompiled = await precompile();
    await writeFile(path.join(builtinDir, 'x', 'holding.hbs'), 'Still on it\n{{#if nextUpdateDueAt}}');
    const error = await templateError(Renderer.load({ builtinDir, precompiled }));
    expect(error.file).toBe(path.join(builtinDir, 'x', 'holding.hbs'));
    expect(error.line).toBe(2);
  });

  it("an operator's template is compiled and trial-rendered at load; the other built-in files stay as built", async () => {
    const precompiled = await precompile();
    await write(overrideDir, { 'webhook/resolved.title.hbs': 'Resolved {{#each}}x{{/each}}' });
    const error = await templateError(Renderer.load({ builtinDir, overrideDir, precompiled }));
    expect(error.message).toMatch(/trial render failed: Must pass iterator to #each/);

    await write(overrideDir, { 'webhook/resolved.title.hbs': 'Fixed: {{incident.title}}' });
    const renderer = await Renderer.load({ builtinDir, overrideDir, precompiled });
    expect(renderer.overridden).toEqual(['webhook/resolved.title.hbs']);
    expect(renderer.precompiled).not.toContain('webhook/resolved.title.hbs');
    expect(renderer.precompiled).toContain('webhook/resolved.md.hbs');
    expect(renderer.render('webhook', 'resolved', sampleRenderContexts('resolved')[0]!).title).toBe('Fixed: Email delivery delayed');
  });

  it("an operator's partial that breaks at render is caught by trial-rendering the built-in templates that include it", async () => {
    const precompiled = await precompile();
    await write(overrideDir, { 'webhook/_md-details.hbs': '{{#each}}x{{/each}}' });
    const error = await templateError(Renderer.load({ builtinDir, overrideDir, precompiled }));
    expect(error.message).toMatch(/trial render failed: Must pass iterator to #each/);
  });

  it('specs made by another compiler (another Handlebars, helpers or code) are not used', async () => {
    const module = await precompile();
    const source = await readFile(module, 'utf8');
    const other = path.join(dir, 'other-compiler.js');
    await writeFile(other, source.replace(/fingerprint: "[0-9a-f]+"/g, `fingerprint: "${'0'.repeat(64)}"`));
    const renderer = await Renderer.load({ builtinDir, precompiled: pathToFileURL(other) });
    expect(renderer.precompiled).toEqual([]);
    expect(renderer.render('x', 'opened', sampleRenderContexts('opened')[0]!).text).toContain('Email delivery delayed');
  });
});

describe('precompiling at build', () => {
  it('fails on a broken built-in template, naming its file and line', async () => {
    await writeFile(path.join(builtinDir, 'email', 'update.subject.hbs'), '[{{incident.severity}}]\n{{incident.title');
    const error = await templateError(precompileTemplates({ builtinDir, kinds: BUILTIN_KINDS }));
    expect(error.file).toBe(path.join(builtinDir, 'email', 'update.subject.hbs'));
    expect(error.line).toBe(2);
  });

  it('fails on a built-in template that only breaks when rendered (the trial render runs at build)', async () => {
    await writeFile(path.join(builtinDir, 'slack', 'holding.hbs'), 'Holding {{#each}}x{{/each}}');
    await expect(precompileTemplates({ builtinDir, kinds: BUILTIN_KINDS })).rejects.toThrow(/trial render failed/);
  });
});
