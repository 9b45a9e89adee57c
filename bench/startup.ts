/**
 * Start-up: from running a start command to Herald being ready (contract
 * §1: "every start command answers /healthz within 2 seconds … any number of
 * them may start at once"), for each of the three commands:
 *   - `npm start` and `npm run start:api`: until `GET /healthz` answers 200;
 *   - `npm run start:workers` (no HTTP): until it logs "Herald workers
 *     running", the line that says start-up is over.
 * Each is also run as `node dist/src/main.js [--role …]`, without npm, with
 * the CPU time the process used until ready. Every channel is configured
 * (credentials that are never used: nothing is sent), so every client
 * library a sending process loads is loaded.
 *
 * Baselines, measured in the same rounds: Node alone (node:http and one
 * Redis PING) and a bare Fastify app with ioredis connected, each answering
 * `/healthz` (bench/baselines/startup.mjs). One unmeasured round warms the
 * file cache, as on a machine that runs Herald; then BENCH_STARTUP_RUNS
 * rounds, every command once per round, median reported. Finally three
 * `npm run start:api` at once, as many times, until the last answers.
 *
 *   npm run bench:startup
 *
 * Environment: BENCH_STARTUP_RUNS (5).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { runAsScript } from './report.js';
import { freePort, median, progress, ROOT, sleep, startRedis, type Row } from './support.js';

const RUNS = Number(process.env.BENCH_STARTUP_RUNS ?? 5);
const SECTION = 'Start-up';
const TARGET_MS = 2_000;
/** Generous: a start that takes this long is a failure to report, not a number. */
const READY_TIMEOUT_MS = 60_000;
const POLL_MS = 10;
const STOP_TIMEOUT_MS = 15_000;
const CONCURRENT = 3;

type Readiness = 'healthz' | 'workers-line';

interface Starter {
  /** How the report names it. */
  name: string;
  command: string;
  args: string[];
  ready: Readiness;
  /** A Herald process (gets Herald's environment and has its CPU time read); the baselines are not. */
  herald: boolean;
}

const npmStart = (script: string, role: string, ready: Readiness): Starter => ({
  name: `\`npm ${script === 'start' ? 'start' : `run ${script}`}\` (${role})`,
  command: 'npm',
  args: script === 'start' ? ['start'] : ['run', script],
  ready,
  herald: true,
});

const nodeStart = (role: 'all' | 'api' | 'workers', label: string, ready: Readiness): Starter => ({
  name: `node dist/src/main.js${role === 'all' ? '' : ` --role ${role}`} (${label}), without npm`,
  command: process.execPath,
  args: ['dist/src/main.js', ...(role === 'all' ? [] : ['--role', role])],
  ready,
  herald: true,
});

const STARTERS = {
  all: npmStart('start', 'API + workers', 'healthz'),
  api: npmStart('start:api', 'API', 'healthz'),
  workers: npmStart('start:workers', 'workers', 'workers-line'),
  nodeAll: nodeStart('all', 'API + workers', 'healthz'),
  nodeApi: nodeStart('api', 'API', 'healthz'),
  nodeWorkers: nodeStart('workers', 'workers', 'workers-line'),
  nodeHttp: { name: 'Node alone: node:http + one Redis PING', command: process.execPath, args: ['bench/baselines/startup.mjs', 'node-http'], ready: 'healthz', herald: false },
  fastify: { name: 'bare Fastify + ioredis (connected)', command: process.execPath, args: ['bench/baselines/startup.mjs', 'fastify-redis'], ready: 'healthz', herald: false },
} satisfies Record<string, Starter>;

type StarterKey = keyof typeof STARTERS;

interface Start {
  ms: number;
  /** CPU time (user + system) of the started process when it was ready; null when it is npm's child, not the process started. */
  cpuMs: number | null;
}

let heraldStarts = 0;

function environment(starter: Starter, redisUrl: string, port: number): NodeJS.ProcessEnv {
  const base = { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', REDIS_URL: redisUrl, PORT: String(port) };
  if (!starter.herald) return base;
  // Ports nothing listens on: the channels are enabled, and nothing is sent at start.
  const nowhere = `127.0.0.1:${port + 1}`;
  return {
    ...base,
    HERALD_PREFIX: `bench-startup-${++heraldStarts}`,
    HERALD_API_TOKENS: 'bench:bench-startup-token-0123:write',
    LOG_LEVEL: 'info',
    SLACK_BOT_TOKEN: 'xoxb-bench-startup',
    SLACK_API_URL: `http://${nowhere}/api/`,
    X_APP_KEY: 'bench',
    X_APP_SECRET: 'bench',
    X_ACCESS_TOKEN: 'bench',
    X_ACCESS_SECRET: 'bench',
    SMTP_URL: `smtp://${nowhere}`,
    EMAIL_FROM: 'Bench <bench@herald.test>',
  };
}

/** CPU time a live process has used so far, in ms (Linux /proc; null elsewhere). */
function cpuTimeMs(pid: number | undefined): number | null {
  if (pid === undefined) return null;
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    // utime and stime, fields 14 and 15 of stat(5), in clock ticks (100 per second on Linux).
    return (Number(fields[11]) + Number(fields[12])) * 10;
  } catch {
    return null;
  }
}

/** Resolves when the process is ready in the starter's sense; rejects when it exits first or takes too long. */
function whenReady(starter: Starter, child: ChildProcess, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    let settled = false;
    let output = '';
    const settle = (error?: Error) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (error) reject(error);
      else resolve();
    };
    const timer = setTimeout(() => settle(new Error(`${starter.name}: not ready within ${READY_TIMEOUT_MS} ms`)), READY_TIMEOUT_MS);
    child.once('exit', (code, signal) => settle(new Error(`${starter.name} exited (${code ?? signal}) before it was ready: ${output.slice(-500)}`)));
    child.stderr?.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.stdout?.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      if (starter.ready === 'workers-line' && /"msg":"Herald workers running/.test(output)) settle();
    });
    if (starter.ready === 'healthz') {
      void (async () => {
        while (!settled) {
          const answered = await fetch(`http://127.0.0.1:${port}/healthz`).then((r) => r.status === 200, () => false);
          if (answered) return settle();
          await sleep(POLL_MS);
        }
      })();
    }
  });
}

/** SIGTERM to the process group (npm and Herald together, as a terminal's Ctrl-C), SIGKILL if it hangs. */
async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
  const group = -child.pid;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  process.kill(group, 'SIGTERM');
  const timer = setTimeout(() => {
    try {
      process.kill(group, 'SIGKILL');
    } catch {
      // Gone already.
    }
  }, STOP_TIMEOUT_MS);
  await exited;
  clearTimeout(timer);
}

/** Runs the starter, waits until it is ready, stops it; the time from spawn to ready. */
async function startOnce(starter: Starter, redisUrl: string): Promise<Start> {
  const port = await freePort();
  const started = performance.now();
  // Its own process group, so that stopping it reaches npm's child too.
  const child = spawn(starter.command, starter.args, { cwd: ROOT, env: environment(starter, redisUrl, port), stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  try {
    await whenReady(starter, child, port);
    const ms = performance.now() - started;
    return { ms, cpuMs: starter.command === process.execPath ? cpuTimeMs(child.pid) : null };
  } finally {
    await stop(child);
  }
}

/** Starts `count` at once; the time until the last is ready. */
async function startTogether(starter: Starter, count: number, redisUrl: string): Promise<number> {
  const started = performance.now();
  await Promise.all(Array.from({ length: count }, () => startOnce(starter, redisUrl)));
  return performance.now() - started;
}

const rounded = (ms: number) => Math.round(ms);
const list = (values: readonly number[]) => values.map(rounded).join(', ');

export async function runStartup(): Promise<Row[]> {
  const redis = await startRedis();
  const loadBefore = loadavg()[0]!;
  const measured = new Map<StarterKey, Start[]>();
  const keys = Object.keys(STARTERS) as StarterKey[];
  try {
    progress(`start-up: one warm-up round, then ${RUNS} rounds of ${keys.length} starts`);
    for (const key of keys) await startOnce(STARTERS[key], redis.url);
    for (let round = 0; round < RUNS; round++) {
      for (const key of keys) {
        const start = await startOnce(STARTERS[key], redis.url);
        measured.set(key, [...(measured.get(key) ?? []), start]);
      }
      progress(`start-up: round ${round + 1} of ${RUNS}`);
    }
    progress(`start-up: ${CONCURRENT} × \`npm run start:api\` at once, ${RUNS} times`);
    const together: number[] = [];
    for (let i = 0; i < RUNS; i++) together.push(await startTogether(STARTERS.api, CONCURRENT, redis.url));
    const loadAfter = loadavg()[0]!;

    const ms = (key: StarterKey) => median(measured.get(key)!.map((s) => s.ms));
    const baselineMs = ms('fastify');
    const commandRow = (key: StarterKey): Row => {
      const starter = STARTERS[key];
      const value = ms(key);
      const readyWhen = starter.ready === 'healthz' ? '/healthz answered' : '"Herald workers running" logged';
      return {
        section: SECTION,
        measure: `${starter.name}: run → ${readyWhen} (median of ${RUNS}: ${list(measured.get(key)!.map((s) => s.ms))})`,
        value: rounded(value),
        unit: 'ms',
        compared: `×${(value / baselineMs).toFixed(1)} ${STARTERS.fastify.name}`,
        target: `≤ ${TARGET_MS.toLocaleString('en-US')} ms`,
        met: value <= TARGET_MS,
      };
    };
    const nodeRow = (key: StarterKey): Row => {
      const starts = measured.get(key)!;
      const cpu = starts.map((s) => s.cpuMs).filter((c): c is number => c !== null);
      return {
        section: SECTION,
        measure: `${STARTERS[key].name} (median of ${RUNS}: ${list(starts.map((s) => s.ms))})`,
        value: rounded(ms(key)),
        unit: 'ms',
        compared: `×${(ms(key) / baselineMs).toFixed(1)} ${STARTERS.fastify.name}`,
        ...(cpu.length > 0 && { note: `CPU until ready ${rounded(median(cpu))} ms` }),
      };
    };
    return [
      commandRow('all'),
      commandRow('api'),
      commandRow('workers'),
      nodeRow('nodeAll'),
      nodeRow('nodeApi'),
      nodeRow('nodeWorkers'),
      {
        section: SECTION,
        measure: `${CONCURRENT} × \`npm run start:api\` at once: the last answering /healthz (median of ${RUNS}: ${list(together)})`,
        value: rounded(median(together)),
        unit: 'ms',
      },
      {
        section: SECTION,
        measure: `baseline: ${STARTERS.nodeHttp.name} → /healthz (median of ${RUNS})`,
        value: rounded(ms('nodeHttp')),
        unit: 'ms',
        note: `CPU until ready ${rounded(median(measured.get('nodeHttp')!.map((s) => s.cpuMs ?? Number.NaN)))} ms`,
      },
      {
        section: SECTION,
        measure: `baseline: ${STARTERS.fastify.name} → /healthz (median of ${RUNS})`,
        value: rounded(baselineMs),
        unit: 'ms',
        note: `CPU until ready ${rounded(median(measured.get('fastify')!.map((s) => s.cpuMs ?? Number.NaN)))} ms`,
      },
      {
        section: SECTION,
        measure: `machine load (1-minute average, ${loadBefore.toFixed(1)} before and ${loadAfter.toFixed(1)} after the section)`,
        value: Math.round(((loadBefore + loadAfter) / 2) * 10) / 10,
        unit: '',
      },
    ];
  } finally {
    redis.stop();
  }
}

runAsScript(import.meta.url, runStartup);
