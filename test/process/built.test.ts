/**
 * The compiled Herald, as `npm start` runs it: Node's own ESM loader, not
 * tsx's. Every other test runs the TypeScript sources through tsx or vitest,
 * whose CommonJS interop is more forgiving: an import that works there can
 * be undefined in dist/ (it happened with nodemailer's encoders).
 */
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { readdirSync, readFileSync, statSync, utimesSync } from 'node:fs';
import { join, sep } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterEach, beforeAll, describe, expect, inject, it } from 'vitest';
import { freePort } from '../support/global-redis.js';
import { newWebhookSecret } from '../fakes/webhook-receiver.js';
import { killAllChildren, processEnv, PROJECT_ROOT, spawnHerald } from '../support/process.js';
import { startStack, type Stack } from '../support/stack.js';

let stack: Stack | undefined;
afterEach(async () => {
  await killAllChildren();
  await stack?.stop();
  stack = undefined;
});

beforeAll(() => {
  // What `npm run build` runs: tsc, then the built-in templates precompiled.
  execFileSync(process.execPath, ['node_modules/typescript/bin/tsc', '-p', 'tsconfig.build.json'], { cwd: PROJECT_ROOT, stdio: 'inherit' });
  execFileSync(process.execPath, ['scripts/precompile-templates.mjs'], { cwd: PROJECT_ROOT, stdio: 'inherit' });
}, 120_000);

describe('given the compiled workers (dist/) behind the API', () => {
  it('delivers an update with a non-ASCII title by email and webhook, signed and readable', async () => {
    stack = await startStack({ roles: ['api'] });
    const secret = newWebhookSecret();
    await stack.api('PUT', '/v1/audiences/partners', {
      email: { recipients: ['ops@partner.example'] },
      webhooks: [{ url: stack.hooks.register('/blog', secret), secret }],
    });
    const workers = spawnHerald(processEnv({ ...stack.env, LOG_LEVEL: 'info' }), ['--role', 'workers'], { built: true });
    await workers.waitForLog(/^Herald workers running/, 60_000);

    const res = await stack.api('POST', '/v1/incidents', { title: 'Zustellung verzögert — 邮件延迟', severity: 'major', message: 'Wir untersuchen die Verzögerung.' });
    expect(res.statusCode).toBe(201);

    const [email] = await stack.smtp.waitFor({ to: 'ops@partner.example' }, 15_000);
    expect(email?.subject).toContain('Zustellung verzögert — 邮件延迟');
    expect(email?.text).toContain('Wir untersuchen die Verzögerung.');
    expect(email?.headers['list-unsubscribe']).toMatch(/^<http/);
    const [hook] = await stack.hooks.waitFor(1, 15_000);
    expect(hook?.signatureValid).toBe(true);
  }, 60_000);
});

describe('the start commands (contract §1: nothing compiled at start, any number at once)', () => {
  const buildInfo = join(PROJECT_ROOT, 'dist', '.tsbuildinfo');
  const env = (port: number) =>
    processEnv({
      HERALD_API_TOKENS: 'ops:start-fast-token-0123:write',
      REDIS_URL: inject('redisUrl'),
      HERALD_PREFIX: `start-${randomUUID().slice(0, 8)}`,
      PORT: String(port),
    });

  it('no start script builds: each runs the build that `npm ci` made (prepare)', () => {
    const { scripts } = JSON.parse(readFileSync(join(PROJECT_ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
    expect(scripts.prepare).toMatch(/\bnpm run -s build\b/);
    for (const name of ['start', 'start:api', 'start:workers']) {
      expect(scripts[name], name).toMatch(/^exec node dist\/src\/main\.js\b/);
      expect(scripts[name], name).not.toMatch(/\btsc\b|\bbuild\b|\btsx\b/);
    }
  });

  it('the build precompiles every built-in template, and the compiled Herald uses them as built', async () => {
    const { scripts } = JSON.parse(readFileSync(join(PROJECT_ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
    expect(scripts.build).toMatch(/\bnode scripts\/precompile-templates\.mjs\b/);
    const compiled = join(PROJECT_ROOT, 'dist', 'src', 'render', 'renderer.js');
    const { Renderer } = (await import(pathToFileURL(compiled).href)) as typeof import('../../src/render/renderer.js');
    const renderer = await Renderer.load();
    const builtin = readdirSync(join(PROJECT_ROOT, 'templates'), { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.hbs'));
    expect(renderer.precompiled).toEqual(builtin.map((f) => f.split(sep).join('/')).sort());
  }, 60_000);

  it('three `npm run start:api` at once each answer /healthz, and none writes to dist/', async () => {
    const builtAt = statSync(buildInfo).mtimeMs;
    const ports = await Promise.all([freePort(), freePort(), freePort()]);
    const heralds = ports.map((port) => spawnHerald(env(port), [], { npm: 'start:api' }));
    const urls = await Promise.all(heralds.map((h) => h.listening(60_000)));
    for (const url of urls) expect((await fetch(`${url}/healthz`)).status).toBe(200);
    expect(statSync(buildInfo).mtimeMs).toBe(builtAt);
    for (const herald of heralds) {
      expect(herald.logs().some((l) => /older than the sources/.test(l.msg))).toBe(false);
    }
  }, 90_000);

  it('`npm start` with every channel enabled imports each channel\'s client from dist/ as it starts, and is up', async () => {
    const port = await freePort();
    // Credentials that are never used: nothing is sent at start, so the addresses lead nowhere.
    const nowhere = `127.0.0.1:${await freePort()}`;
    const herald = spawnHerald(
      {
        ...env(port),
        LOG_LEVEL: 'info',
        SLACK_BOT_TOKEN: 'xoxb-built-test',
        SLACK_API_URL: `http://${nowhere}/api/`,
        X_APP_KEY: 'built-test',
        X_APP_SECRET: 'built-test',
        X_ACCESS_TOKEN: 'built-test',
        X_ACCESS_SECRET: 'built-test',
        SMTP_URL: `smtp://${nowhere}`,
        EMAIL_FROM: 'Herald <herald@built.test>',
      },
      [],
      { npm: 'start' },
    );
    const url = await herald.listening(60_000);
    expect((await fetch(`${url}/healthz`)).status).toBe(200);
    const channels = herald.logs().find((l) => l.msg === 'channels')?.channels;
    expect(channels).toEqual({ slack: 'enabled', x: 'enabled', email: 'enabled', webhook: 'enabled' });
  }, 90_000);

  it('a build older than the sources starts, and says so', async () => {
    const source = join(PROJECT_ROOT, 'src', 'main.ts');
    const { atime, mtime } = statSync(source);
    // As if the source had just been edited after the build.
    utimesSync(source, atime, new Date(Date.now() + 60_000));
    try {
      const herald = spawnHerald(env(await freePort()), [], { built: true });
      const line = await herald.waitForLog(/older than the sources/, 60_000);
      expect(line.changed).toBe(join('src', 'main.ts'));
      await herald.listening(60_000);
    } finally {
      utimesSync(source, atime, mtime);
    }
  }, 90_000);
});
