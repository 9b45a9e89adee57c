/**
 * Herald refuses to start on a bad environment: exit code 1, one line on
 * stderr naming the variable and what is wrong, nothing on stdout, and never
 * a secret — whichever variable was at fault.
 */
import { randomUUID } from 'node:crypto';
import { createServer } from 'node:net';
import { afterAll, describe, expect, inject, it, onTestFinished } from 'vitest';
import { freePort } from '../support/global-redis.js';
import { killAllChildren, processEnv, runHeraldToExit } from '../support/process.js';

const API_TOKEN = 'api-secret-token-4f1c9a';
const SMTP_PASSWORD = 'smtp-secret-pass-8d2e';
const REDIS_PASSWORD = 'redis-secret-pass-77aa';
const X_SECRET = 'x-app-secret-3b9d';

/** Every secret any case below puts in the environment: none may ever be printed. */
const SECRETS = [API_TOKEN, SMTP_PASSWORD, REDIS_PASSWORD, X_SECRET];

const X_COMPLETE = {
  X_APP_KEY: 'x-app-key',
  X_APP_SECRET: X_SECRET,
  X_ACCESS_TOKEN: 'x-access-token',
  X_ACCESS_SECRET: 'x-access-secret',
};

interface RefusalCase {
  name: string;
  env: Record<string, string>;
  /** Variables removed from the otherwise valid base environment. */
  unset?: string[];
  variable: string;
  problem: RegExp;
}

const CASES: RefusalCase[] = [
  { name: 'HERALD_API_TOKENS missing', env: {}, unset: ['HERALD_API_TOKENS'], variable: 'HERALD_API_TOKENS', problem: /is required/ },
  {
    name: 'a token entry with a bad scope',
    env: { HERALD_API_TOKENS: `ops:${API_TOKEN}:admin` },
    variable: 'HERALD_API_TOKENS',
    problem: /scope "admin"; expected read or write/,
  },
  {
    name: 'a token entry without a scope',
    env: { HERALD_API_TOKENS: `ops:${API_TOKEN}` },
    variable: 'HERALD_API_TOKENS',
    problem: /must look like name:token:scope/,
  },
  { name: 'PORT=abc', env: { PORT: 'abc' }, variable: 'PORT', problem: /expected a whole number, got "abc"/ },
  { name: 'PORT=70000', env: { PORT: '70000' }, variable: 'PORT', problem: /between 0 and 65535/ },
  { name: 'HERALD_MIN_CADENCE_SECONDS=0', env: { HERALD_MIN_CADENCE_SECONDS: '0' }, variable: 'HERALD_MIN_CADENCE_SECONDS', problem: /between 1 and/ },
  {
    name: 'HERALD_DEFAULT_CADENCE_SECONDS below the default minimum',
    env: { HERALD_DEFAULT_CADENCE_SECONDS: '30' },
    variable: 'HERALD_DEFAULT_CADENCE_SECONDS',
    problem: /30 is below HERALD_MIN_CADENCE_SECONDS \(60\)/,
  },
  {
    name: 'HERALD_DEFAULT_CADENCE_SECONDS below a configured minimum',
    env: { HERALD_MIN_CADENCE_SECONDS: '600', HERALD_DEFAULT_CADENCE_SECONDS: '300' },
    variable: 'HERALD_DEFAULT_CADENCE_SECONDS',
    problem: /300 is below HERALD_MIN_CADENCE_SECONDS \(600\)/,
  },
  { name: 'SMTP_URL=not-a-url', env: { SMTP_URL: 'not-a-url', EMAIL_FROM: 'status@example.com' }, variable: 'SMTP_URL', problem: /is not a valid URL/ },
  {
    name: 'an unparsable SMTP_URL carrying a password',
    env: { SMTP_URL: `smtp://mailer:${SMTP_PASSWORD}@mail.example:99999`, EMAIL_FROM: 'status@example.com' },
    variable: 'SMTP_URL',
    problem: /is not a valid URL/,
  },
  {
    name: 'an SMTP_URL carrying a password with the wrong scheme',
    env: { SMTP_URL: `https://mailer:${SMTP_PASSWORD}@mail.example`, EMAIL_FROM: 'status@example.com' },
    variable: 'SMTP_URL',
    problem: /must use smtp: or smtps:, got https:/,
  },
  {
    name: 'SMTP_URL (with a password) set without EMAIL_FROM',
    env: { SMTP_URL: `smtp://mailer:${SMTP_PASSWORD}@mail.example:587` },
    variable: 'EMAIL_FROM',
    problem: /is required when SMTP_URL is set/,
  },
  {
    name: 'only some of the X_* variables',
    env: { X_APP_KEY: 'x-app-key', X_APP_SECRET: X_SECRET },
    variable: 'X_ACCESS_TOKEN',
    problem: /is missing; the X channel needs all of X_APP_KEY, X_APP_SECRET, X_ACCESS_TOKEN, X_ACCESS_SECRET/,
  },
  {
    name: 'X_API_URL with http:',
    env: { ...X_COMPLETE, X_API_URL: 'http://api.x.example/2/' },
    variable: 'X_API_URL',
    problem: /must use https:, got http:/,
  },
  { name: 'REDIS_URL=http://x', env: { REDIS_URL: 'http://x' }, variable: 'REDIS_URL', problem: /must use redis: or rediss:, got http:/ },
  {
    name: 'a REDIS_URL carrying a password with the wrong scheme',
    env: { REDIS_URL: `http://default:${REDIS_PASSWORD}@redis.internal:6379` },
    variable: 'REDIS_URL',
    problem: /must use redis: or rediss:, got http:/,
  },
  {
    name: 'HERALD_WEBHOOK_ALLOW_PRIVATE=maybe',
    env: { HERALD_WEBHOOK_ALLOW_PRIVATE: 'maybe' },
    variable: 'HERALD_WEBHOOK_ALLOW_PRIVATE',
    problem: /expected true or false, got "maybe"/,
  },
];

afterAll(killAllChildren);

describe('a bad environment is refused at startup', () => {
  it.concurrent.for(CASES)('$name', async (c, { expect }) => {
    // Valid apart from the case's variable. REDIS_URL names a port where
    // nothing listens: a case that slipped through validation would then
    // fail on Redis with another message, not start.
    const base: Record<string, string> = {
      HERALD_API_TOKENS: `ops:${API_TOKEN}:write`,
      REDIS_URL: `redis://default:${REDIS_PASSWORD}@127.0.0.1:${await freePort()}`,
      PORT: String(await freePort()),
    };
    for (const name of c.unset ?? []) delete base[name];
    const run = await runHeraldToExit(processEnv({ ...base, ...c.env }));

    expect(run.code, run.stderr).toBe(1);
    expect(run.stdout).toBe('');
    // One line: which variable, and what is wrong with it.
    const lines = run.stderr.trimEnd().split('\n');
    expect(lines, run.stderr).toHaveLength(1);
    expect(lines[0]).toMatch(new RegExp(`^herald: configuration: ${c.variable}: `));
    expect(lines[0]).toMatch(c.problem);
    for (const secret of SECRETS) expect(run.stderr).not.toContain(secret);
  });
});

describe('a Redis that cannot be reached at startup', () => {
  it.concurrent.for([{ role: 'all' }, { role: 'api' }, { role: 'workers' }])('is refused in one line naming REDIS_URL, password masked (role $role)', async ({ role }, { expect }) => {
    const port = await freePort();
    const run = await runHeraldToExit(
      processEnv({
        HERALD_API_TOKENS: `ops:${API_TOKEN}:write`,
        REDIS_URL: `redis://default:${REDIS_PASSWORD}@127.0.0.1:${port}`,
        PORT: String(await freePort()),
      }),
      role === 'all' ? [] : ['--role', role],
    );
    expect(run.code, run.stderr).toBe(1);
    const lines = run.stderr.trimEnd().split('\n');
    expect(lines, run.stderr).toHaveLength(1);
    expect(lines[0]).toBe(
      `herald: cannot connect to Redis at redis://default:***@127.0.0.1:${port} (connect ECONNREFUSED 127.0.0.1:${port}); check REDIS_URL and that Redis is running`,
    );
    expect(`${run.stdout}${run.stderr}`).not.toContain(REDIS_PASSWORD);
  });
});

describe('a port already taken', () => {
  it('is refused in one line after Redis was reached, with exit code 1', async () => {
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', () => resolve()));
    onTestFinished(() => new Promise<void>((resolve) => taken.close(() => resolve())));
    const address = taken.address();
    const port = typeof address === 'object' && address !== null ? address.port : 0;

    const run = await runHeraldToExit(
      processEnv({
        HERALD_API_TOKENS: `ops:${API_TOKEN}:write`,
        REDIS_URL: inject('redisUrl'),
        HERALD_PREFIX: `proc-${randomUUID().slice(0, 8)}`,
        PORT: String(port),
      }),
    );
    expect(run.code, run.stderr).toBe(1);
    const lines = run.stderr.trimEnd().split('\n');
    expect(lines, run.stderr).toHaveLength(1);
    expect(lines[0]).toMatch(new RegExp(`^herald: cannot listen: .*EADDRINUSE.*127\\.0\\.0\\.1:${port}`));
  });
});

describe('bad command-line arguments', () => {
  it.concurrent.for([
    { args: ['--role', 'scheduler'], line: 'herald: --role must be api, workers or all, got "scheduler"' },
    { args: ['--role'], line: "herald: Option '--role <value>' argument missing" },
    { args: ['--rol', 'api'], line: "herald: Unknown option '--rol'" },
  ])('$args are refused with exit code 1 and one line', async ({ args, line }, { expect }) => {
    const run = await runHeraldToExit(
      processEnv({ HERALD_API_TOKENS: `ops:${API_TOKEN}:write`, REDIS_URL: `redis://127.0.0.1:${await freePort()}` }),
      args,
    );
    expect(run.code, run.stderr).toBe(1);
    expect(run.stdout).toBe('');
    expect(run.stderr.trimEnd()).toBe(line);
  });
});
