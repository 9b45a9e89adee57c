/**
 * The compiled Herald, as `npm start` runs it: Node's own ESM loader, not
 * tsx's. Every other test runs the TypeScript sources through tsx or vitest,
 * whose CommonJS interop is more forgiving: an import that works there can
 * be undefined in dist/ (it happened with nodemailer's encoders).
 */
import { execFileSync } from 'node:child_process';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
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
  execFileSync(process.execPath, ['node_modules/typescript/bin/tsc', '-p', 'tsconfig.build.json'], { cwd: PROJECT_ROOT, stdio: 'inherit' });
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
