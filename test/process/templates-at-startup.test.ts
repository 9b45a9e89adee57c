/**
 * HERALD_TEMPLATES_DIR at startup: a broken template is refused before
 * anything is served, naming the file and the line; a valid override is
 * loaded and used, the other files falling back to the built-in ones.
 */
import { randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { freePort } from '../support/global-redis.js';
import { killAllChildren, PROJECT_ROOT, processEnv, runHeraldToExit, spawnHerald } from '../support/process.js';

const WRITE_TOKEN = 'process-write-token-01';
const READ_TOKEN = 'process-read-token-01';

const dirs: string[] = [];

/** A templates directory holding `files` (relative path → content). */
function templatesDir(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'herald-templates-'));
  dirs.push(dir);
  for (const [relative, content] of Object.entries(files)) {
    mkdirSync(join(dir, relative, '..'), { recursive: true });
    writeFileSync(join(dir, relative), content);
  }
  return dir;
}

async function heraldEnv(extra: Record<string, string>): Promise<Record<string, string>> {
  return processEnv({
    HERALD_API_TOKENS: `ops:${WRITE_TOKEN}:write,viewer:${READ_TOKEN}:read`,
    REDIS_URL: inject('redisUrl'),
    HERALD_PREFIX: `proc-${randomUUID().slice(0, 8)}`,
    PORT: String(await freePort()),
    ...extra,
  });
}

afterAll(async () => {
  await killAllChildren();
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

describe('a broken template in HERALD_TEMPLATES_DIR', () => {
  it.concurrent.for([
    {
      what: 'an {{#if}} never closed',
      // No newline at the end: the parser reports the block unclosed on the last line, 4.
      source: '*Update: {{incident.title}}*\n{{update.message}}\n{{#if nextUpdateDueAt}}\nNext update soon.',
      line: 4,
    },
    {
      what: 'an {{#each}} closed by {{/if}}',
      source: '*Update: {{incident.title}}*\n\n{{#each incident.components}}{{this}}{{/if}}\n{{update.message}}\n',
      line: 3,
    },
  ])('with $what refuses to start, naming the file and the line', async ({ source, line }, { expect }) => {
    const dir = templatesDir({ 'slack/update.hbs': source });
    const run = await runHeraldToExit(await heraldEnv({ HERALD_TEMPLATES_DIR: dir }));

    expect(run.code, run.stderr).toBe(1);
    expect(run.stdout).toBe('');
    expect(run.stderr).toMatch(/^herald: template: /);
    expect(run.stderr).toContain(`${join(dir, 'slack', 'update.hbs')}, line ${line}:`);
  });
});

describe('a valid override of one file', () => {
  it('starts, and renders that file from the override and the others from the built-in templates', async ({ onTestFinished }) => {
    const builtin = readFileSync(join(PROJECT_ROOT, 'templates', 'slack', 'update.hbs'), 'utf8');
    const dir = templatesDir({ 'slack/update.hbs': `OVERRIDDEN-MARKER\n${builtin}` });
    const herald = spawnHerald(
      await heraldEnv({
        HERALD_TEMPLATES_DIR: dir,
        // Slack enabled so the preview renders it; nothing is sent at startup or by a preview.
        SLACK_BOT_TOKEN: 'xoxb-process-test',
        SLACK_API_URL: `http://127.0.0.1:${await freePort()}/api/`,
      }),
    );
    onTestFinished(() => herald.kill());
    const url = await herald.listening();

    const preview = async (kind: string): Promise<{ slack: unknown }> => {
      const response = await fetch(`${url}/v1/preview`, {
        method: 'POST',
        headers: { authorization: `Bearer ${READ_TOKEN}`, 'content-type': 'application/json' },
        body: JSON.stringify({ title: 'Email delivery delayed', severity: 'major', status: 'identified', message: 'Relay fixed.', kind }),
      });
      expect(response.status).toBe(200);
      return (await response.json()) as { slack: unknown };
    };
    expect(JSON.stringify((await preview('update')).slack)).toContain('OVERRIDDEN-MARKER');
    const opened = JSON.stringify((await preview('opened')).slack);
    expect(opened).not.toContain('OVERRIDDEN-MARKER');
    expect(opened).toContain('Email delivery delayed');

    herald.child.kill('SIGTERM');
    expect(await herald.waitForExit(10_000)).toEqual({ code: 0, signal: null });
  });
});
