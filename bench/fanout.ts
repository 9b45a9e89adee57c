/**
 * Fan-out benchmark: one update to an audience of 10,000 email recipients,
 * 2,000 webhook targets and 100 Slack channels, delivered to local sinks; and
 * in the same run, three baselines on the same sinks, each from a process of
 * its own as Herald is:
 *   - the ceiling: a plain pool of keep-alive POSTs to the 2,000 webhook URLs;
 *   - one BullMQ job per POST: a bare queue + worker doing only those POSTs;
 *   - Apprise (if installed): one CLI call posting to the same URLs (json://).
 *
 *   npm run build && node --import tsx bench/fanout.ts
 *
 * Environment: BENCH_EMAILS (10000), BENCH_WEBHOOKS (2000), BENCH_SLACK (100).
 */
import { spawn } from 'node:child_process';
import { cpus } from 'node:os';
import { peakRssMb, ROOT, runChild, sleep, startRedis, startSinks, freePort, type Sinks } from './support.js';

const EMAILS = Number(process.env.BENCH_EMAILS ?? 10_000);
const WEBHOOKS = Number(process.env.BENCH_WEBHOOKS ?? 2_000);
const SLACK = Number(process.env.BENCH_SLACK ?? 100);
const TOKEN = 'bench-write-token-123';
const WAIT_MS = 180_000;

export interface Rate {
  count: number;
  ms: number;
  perSecond: number;
}

function rate(count: number, ms: number): Rate {
  return { count, ms: Math.round(ms), perSecond: Math.round((count / ms) * 1000) };
}

const progress = (line: string) => process.stderr.write(`… ${line}\n`);

async function baseline(name: string, script: string, sinks: Sinks, env: NodeJS.ProcessEnv): Promise<Rate & { name: string }> {
  progress(name);
  sinks.webhooks.reset();
  const urls = Array.from({ length: WEBHOOKS }, (_, i) => sinks.webhookUrl(i)).join('\n');
  const started = performance.timeOrigin + performance.now();
  const run = await runChild(process.execPath, ['--import', 'tsx', script], { ...env, BENCH_URLS: urls });
  if (run.code !== 0) throw new Error(`${name} failed: ${run.stderr}`);
  await sinks.webhooks.waitFor(WEBHOOKS, 10_000);
  // From the first arrival: the process's own startup is not the work being measured.
  return { name, ...rate(sinks.webhooks.count, sinks.webhooks.last - Math.max(started, sinks.webhooks.first)) };
}

async function apprise(sinks: Sinks): Promise<(Rate & { name: string }) | { name: string; skipped: string }> {
  const found = await runChild('sh', ['-c', 'command -v apprise'], process.env);
  if (found.code !== 0) return { name: 'Apprise CLI (json://)', skipped: 'apprise is not installed (apt-get install apprise)' };
  progress('Apprise');
  sinks.webhooks.reset();
  const urls = Array.from({ length: WEBHOOKS }, (_, i) => sinks.webhookUrl(i).replace('http://', 'json://'));
  const started = performance.timeOrigin + performance.now();
  const run = await runChild('apprise', ['-t', 'Email delivery delayed', '-b', 'We are investigating delays in outbound email.', ...urls], process.env);
  if (run.code !== 0) throw new Error(`apprise failed: ${run.stderr.slice(0, 500)}`);
  await sinks.webhooks.waitFor(WEBHOOKS, 10_000);
  return { name: 'Apprise CLI (json://)', ...rate(sinks.webhooks.count, sinks.webhooks.last - Math.max(started, sinks.webhooks.first)) };
}

export interface FanoutResult {
  herald: { webhook: Rate; email: Rate; slack: Rate; all: Rate; arrived: number; expected: number; peakRssMb: number | null };
  baselines: Array<(Rate & { name: string }) | { name: string; skipped: string }>;
}

export async function runFanout(): Promise<FanoutResult> {
  const redis = await startRedis();
  const sinks = await startSinks();
  const env = { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', REDIS_URL: redis.url };
  try {
    const baselines = [
      await baseline('ceiling: keep-alive POST pool', 'bench/baselines/ceiling.ts', sinks, env),
      await baseline('one BullMQ job per POST', 'bench/baselines/bullmq-per-post.ts', sinks, env),
      await apprise(sinks),
    ];
    sinks.webhooks.reset();

    const port = await freePort();
    const profile = process.env.BENCH_CPU_PROF === undefined ? [] : ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_CPU_PROF}`];
    const herald = spawn(process.execPath, [...profile, 'dist/src/main.js'], {
      cwd: ROOT,
      env: {
        ...env,
        PORT: String(port),
        HERALD_PREFIX: 'bench',
        HERALD_API_TOKENS: `bench:${TOKEN}:write`,
        HERALD_WEBHOOK_ALLOW_PRIVATE: 'true',
        SLACK_BOT_TOKEN: 'xoxb-bench',
        SLACK_API_URL: sinks.slackApiUrl,
        SMTP_URL: sinks.smtpUrl,
        EMAIL_FROM: 'Bench <bench@herald.test>',
        LOG_LEVEL: 'warn',
        // Operator knobs under test pass through (pool sizes, etc.).
        ...Object.fromEntries(Object.entries(process.env).filter(([k]) => k.startsWith('HERALD_'))),
      },
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    const api = `http://127.0.0.1:${port}`;
    const call = async (method: string, path: string, body: unknown) => {
      const res = await fetch(`${api}${path}`, {
        method,
        headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
      if (!res.ok) throw new Error(`${method} ${path} → ${res.status} ${(await res.text()).slice(0, 300)}`);
      return res.json();
    };
    for (let i = 0; i < 200; i++) {
      if (await fetch(`${api}/readyz`).then((r) => r.ok, () => false)) break;
      await sleep(100);
    }
    await sleep(1000);
    await call('PUT', '/v1/audiences/everyone', {
      slack: { channels: Array.from({ length: SLACK }, (_, i) => `C${String(i).padStart(8, '0')}`) },
      email: { recipients: Array.from({ length: EMAILS }, (_, i) => `r${i}@partner${i % 50}.example`) },
      webhooks: Array.from({ length: WEBHOOKS }, (_, i) => ({ url: sinks.webhookUrl(i), secret: 'whsec_YmVuY2gtc2VjcmV0LWJlbmNoLXNlY3JldA==' })),
    });
    progress(`Herald: fan-out to ${WEBHOOKS} webhooks, ${EMAILS} emails, ${SLACK} Slack channels`);
    const started = performance.timeOrigin + performance.now();
    await call('POST', '/v1/incidents', { title: 'Email delivery delayed', severity: 'major', message: 'We are investigating delays.' });
    const expected = EMAILS + WEBHOOKS + SLACK;
    const ticker = setInterval(() => progress(`arrived: webhooks ${sinks.webhooks.count}, emails ${sinks.emails.count}, Slack ${sinks.slack.count}`), 5000);
    await Promise.all([
      sinks.webhooks.waitFor(WEBHOOKS, WAIT_MS),
      sinks.emails.waitFor(EMAILS, WAIT_MS),
      sinks.slack.waitFor(SLACK, WAIT_MS),
    ]);
    clearInterval(ticker);
    const peak = peakRssMb(herald.pid);
    herald.kill('SIGTERM');
    const last = Math.max(sinks.webhooks.last, sinks.emails.last, sinks.slack.last);
    return {
      herald: {
        webhook: rate(sinks.webhooks.count, sinks.webhooks.last - started),
        email: rate(sinks.emails.count, sinks.emails.last - started),
        slack: rate(sinks.slack.count, sinks.slack.last - started),
        all: rate(expected, last - started),
        arrived: sinks.webhooks.count + sinks.emails.count + sinks.slack.count,
        expected,
        peakRssMb: peak,
      },
      baselines,
    };
  } finally {
    await sinks.close();
    redis.stop();
  }
}

function print(result: FanoutResult): void {
  const { herald, baselines } = result;
  console.log(`machine: ${cpus().length} × ${cpus()[0]?.model ?? '?'}, Node ${process.version}`);
  console.log(`fan-out of one update: ${herald.arrived}/${herald.expected} arrived; Herald peak RSS ${herald.peakRssMb} MB`);
  console.log(`${'channel'.padEnd(36)} ${'count'.padStart(7)} ${'ms'.padStart(7)} ${'per s'.padStart(8)}`);
  for (const [name, r] of [['Herald webhooks', herald.webhook], ['Herald email', herald.email], ['Herald Slack', herald.slack], ['Herald all', herald.all]] as const) {
    console.log(`${name.padEnd(36)} ${String(r.count).padStart(7)} ${String(r.ms).padStart(7)} ${String(r.perSecond).padStart(8)}`);
  }
  for (const b of baselines) {
    if ('skipped' in b) console.log(`${b.name.padEnd(36)} skipped: ${b.skipped}`);
    else console.log(`${b.name.padEnd(36)} ${String(b.count).padStart(7)} ${String(b.ms).padStart(7)} ${String(b.perSecond).padStart(8)}  Herald webhooks ×${(herald.webhook.perSecond / b.perSecond).toFixed(2)}`);
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  runFanout().then(
    (result) => {
      print(result);
      process.exit(0);
    },
    (error: unknown) => {
      console.error(error);
      process.exit(1);
    },
  );
}
