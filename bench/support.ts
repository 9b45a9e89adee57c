/**
 * What the benchmarks share: a private redis-server, free ports, local sinks
 * that count what arrives (webhook receiver, SMTP server, Slack Web API), and
 * peak memory of a child process. Everything listens on 127.0.0.1 only.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer as createHttpServer, type Server } from 'node:http';
import { Socket, createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SMTPServer } from 'smtp-server';

export const ROOT = fileURLToPath(new URL('..', import.meta.url));

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

/** Peak resident memory of a live process, in MB (Linux VmHWM). */
export function peakRssMb(pid: number | undefined): number | null {
  if (pid === undefined) return null;
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = /VmHWM:\s+(\d+) kB/.exec(status)?.[1];
    return kb === undefined ? null : Math.round(Number(kb) / 1024);
  } catch {
    return null;
  }
}

export interface OwnRedis {
  url: string;
  stop(): void;
}

export async function startRedis(): Promise<OwnRedis> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'herald-bench-redis-'));
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir], {
    stdio: 'ignore',
  });
  const url = `redis://127.0.0.1:${port}`;
  for (let i = 0; i < 100 && !(await portAnswers(port)); i++) await sleep(50);
  return {
    url,
    stop() {
      child.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Whether something accepts connections on the port (127.0.0.1). */
export function portAnswers(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = new Socket();
    socket.once('error', () => resolve(false));
    socket.connect(port, '127.0.0.1', () => {
      socket.end();
      resolve(true);
    });
  });
}

/** Counts arrivals: how many, when the first and last came, and per key. */
export class ArrivalCounter {
  count = 0;
  first = 0;
  last = 0;
  readonly times: number[] = [];
  private waiters: Array<{ n: number; resolve: () => void }> = [];

  hit(keepTimes = false): void {
    const now = performance.timeOrigin + performance.now();
    if (this.count === 0) this.first = now;
    this.last = now;
    this.count++;
    if (keepTimes) this.times.push(now);
    for (const w of this.waiters) if (this.count >= w.n) w.resolve();
    this.waiters = this.waiters.filter((w) => this.count < w.n);
  }

  reset(): void {
    this.count = 0;
    this.first = 0;
    this.last = 0;
    this.times.length = 0;
  }

  /** Resolves once `n` arrived; rejects after `timeoutMs`. */
  waitFor(n: number, timeoutMs: number): Promise<void> {
    if (this.count >= n) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`only ${this.count} of ${n} arrived within ${timeoutMs} ms`)), timeoutMs);
      this.waiters.push({
        n,
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
      });
    });
  }
}

export interface Sinks {
  webhookUrl(i: number): string;
  /** Every webhook URL is this base + `/<i>`. */
  webhookBase: string;
  webhooks: ArrivalCounter;
  emails: ArrivalCounter;
  slack: ArrivalCounter;
  smtpUrl: string;
  slackApiUrl: string;
  close(): Promise<void>;
}

/** A webhook receiver, an SMTP server and a Slack Web API, each only counting (no parsing beyond the minimum). */
export async function startSinks(options: { keepWebhookTimes?: boolean } = {}): Promise<Sinks> {
  const webhooks = new ArrivalCounter();
  const emails = new ArrivalCounter();
  const slack = new ArrivalCounter();

  const hookServer: Server = createHttpServer((req, res) => {
    req.on('data', () => {});
    req.on('end', () => {
      webhooks.hit(options.keepWebhookTimes);
      res.writeHead(200, { 'content-length': '0' }).end();
    });
  });
  hookServer.keepAliveTimeout = 120_000;
  hookServer.headersTimeout = 130_000;
  await new Promise<void>((r) => hookServer.listen(0, '127.0.0.1', r));
  const hookPort = (hookServer.address() as AddressInfo).port;

  let ts = 1_700_000_000_000_000;
  const slackServer: Server = createHttpServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const params = new URLSearchParams(Buffer.concat(chunks).toString());
      const channel = params.get('channel') ?? 'C0';
      ts += 100;
      const stamp = `${Math.floor(ts / 1_000_000)}.${String(ts % 1_000_000).padStart(6, '0')}`;
      if (req.url?.includes('chat.postMessage')) slack.hit();
      const body = JSON.stringify({ ok: true, channel, ts: stamp, message: { ts: stamp } });
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) }).end(body);
    });
  });
  slackServer.keepAliveTimeout = 120_000;
  await new Promise<void>((r) => slackServer.listen(0, '127.0.0.1', r));
  const slackPort = (slackServer.address() as AddressInfo).port;

  const smtp = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS', 'AUTH'],
    logger: false,
    size: 1024 * 1024,
    onData(stream, _session, callback) {
      stream.on('data', () => {});
      stream.on('end', () => {
        emails.hit();
        callback();
      });
    },
  });
  await new Promise<void>((r) => smtp.listen(0, '127.0.0.1', r));
  const smtpPort = (smtp.server.address() as AddressInfo).port;

  return {
    webhookUrl: (i) => `http://127.0.0.1:${hookPort}/hook/${i}`,
    webhookBase: `http://127.0.0.1:${hookPort}/hook`,
    webhooks,
    emails,
    slack,
    smtpUrl: `smtp://127.0.0.1:${smtpPort}`,
    slackApiUrl: `http://127.0.0.1:${slackPort}/api/`,
    async close() {
      hookServer.closeAllConnections();
      slackServer.closeAllConnections();
      await Promise.all([
        new Promise((r) => hookServer.close(r)),
        new Promise((r) => slackServer.close(r)),
        new Promise((r) => smtp.close(() => r(undefined))),
      ]);
    },
  };
}

/** Runs a child to completion and returns its wall time (ms), exit code and output. */
export function runChild(
  command: string,
  args: string[],
  env: NodeJS.ProcessEnv,
  cwd = ROOT,
): Promise<{ ms: number; code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child: ChildProcess = spawn(command, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (c: Buffer) => {
      stdout += c.toString();
    });
    child.stderr?.on('data', (c: Buffer) => {
      stderr += c.toString();
    });
    child.once('error', reject);
    child.once('exit', (code) => resolve({ ms: performance.now() - started, code, stdout, stderr }));
  });
}

export function median(values: readonly number[]): number {
  return percentile([...values].sort((a, b) => a - b), 50);
}

/** Deliveries per second: `count` in `ms`. */
export function perSecond(count: number, ms: number): number {
  return Math.round((count / ms) * 1000);
}

/** Progress for whoever watches the run; the report itself goes to stdout. */
export const progress = (line: string): void => {
  process.stderr.write(`… ${line}\n`);
};

export const BENCH_WEBHOOK_SECRET = 'whsec_YmVuY2gtc2VjcmV0LWJlbmNoLXNlY3JldA==';

/** Most webhooks one audience may hold (the API's limit). */
const WEBHOOKS_PER_AUDIENCE = 10_000;

/**
 * Stores webhook targets `from` … `from + count - 1` of the sink as
 * audiences named `<name>-0`, `<name>-1`, … (an audience holds at most
 * 10,000 webhooks); returns their names.
 */
export async function putWebhookAudiences(herald: RunningHerald, sinks: Sinks, name: string, count: number, from = 0): Promise<string[]> {
  const names: string[] = [];
  for (let start = 0; start < count; start += WEBHOOKS_PER_AUDIENCE) {
    const size = Math.min(WEBHOOKS_PER_AUDIENCE, count - start);
    const audience = `${name}-${names.length}`;
    await herald.call('PUT', `/v1/audiences/${audience}`, {
      webhooks: Array.from({ length: size }, (_, i) => ({ url: sinks.webhookUrl(from + start + i), secret: BENCH_WEBHOOK_SECRET })),
    });
    names.push(audience);
  }
  return names;
}

/** Opens an incident for these audiences; returns its id. */
export async function openIncident(herald: RunningHerald, audiences: readonly string[], title = 'Email delivery delayed'): Promise<string> {
  const incident = (await herald.call('POST', '/v1/incidents', {
    title,
    severity: 'major',
    message: 'We are investigating delays in outbound email.',
    audiences,
  })) as { incident: { id: string } };
  return incident.incident.id;
}

export const now = (): number => performance.timeOrigin + performance.now();

/** One line of the report: a measurement, what it is compared with, and the target it answers to. */
export interface Row {
  section: string;
  measure: string;
  value: number | null;
  unit: string;
  /** e.g. "×0.52 of the ceiling" */
  compared?: string;
  /** e.g. "≥ 50% of the ceiling" */
  target?: string;
  /** Whether the target holds (absent when the row has none). */
  met?: boolean;
  note?: string;
}

export const BENCH_TOKEN = 'bench-write-token-123';


export interface HeraldProcess {
  role: 'all' | 'api' | 'workers';
  child: ChildProcess;
  peakRssMb(): number | null;
}

export interface RunningHerald {
  api: string;
  processes: HeraldProcess[];
  /** Calls the API with the bench's write token; throws on a non-2xx answer. */
  call(method: string, path: string, body?: unknown): Promise<unknown>;
  stop(): Promise<void>;
}

/**
 * Starts Herald from `dist/` as separate processes, the way it is deployed:
 * `roles` lists them (default one `all`). Environment HERALD_* of the bench
 * passes through, so operator knobs can be tried (pool sizes, etc.).
 */
export async function startHerald(options: {
  redisUrl: string;
  sinks?: Sinks;
  roles?: Array<'all' | 'api' | 'workers'>;
  env?: NodeJS.ProcessEnv;
  /** Directory for --cpu-prof output (BENCH_CPU_PROF). */
  cpuProfileDir?: string;
  /** Node options for every Herald process (BENCH_NODE_ARGS, space-separated). */
  nodeArgs?: string[];
}): Promise<RunningHerald> {
  const port = await freePort();
  const { sinks } = options;
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH ?? '',
    HOME: process.env.HOME ?? '',
    REDIS_URL: options.redisUrl,
    PORT: String(port),
    HERALD_PREFIX: 'bench',
    HERALD_API_TOKENS: `bench:${BENCH_TOKEN}:write`,
    HERALD_WEBHOOK_ALLOW_PRIVATE: 'true',
    LOG_LEVEL: 'warn',
    // One token drives hundreds of requests a second: limits high enough never
    // to refuse, yet checked on every request, so their cost is measured.
    HERALD_RATE_LIMIT_API: '1000000',
    HERALD_RATE_LIMIT_PUBLIC: '1000000',
    ...(sinks && {
      SLACK_BOT_TOKEN: 'xoxb-bench',
      SLACK_API_URL: sinks.slackApiUrl,
      SMTP_URL: sinks.smtpUrl,
      EMAIL_FROM: 'Bench <bench@herald.test>',
    }),
    ...Object.fromEntries(Object.entries(process.env).filter(([k]) => k.startsWith('HERALD_'))),
    ...options.env,
  };
  const profile = options.cpuProfileDir === undefined ? [] : ['--cpu-prof', `--cpu-prof-dir=${options.cpuProfileDir}`];
  const processes: HeraldProcess[] = (options.roles ?? ['all']).map((role) => {
    const nodeArgs = options.nodeArgs ?? process.env.BENCH_NODE_ARGS?.split(' ').filter((a) => a !== '') ?? [];
    const child = spawn(process.execPath, [...nodeArgs, ...profile, 'dist/src/main.js', '--role', role], { cwd: ROOT, env, stdio: ['ignore', 'ignore', 'inherit'] });
    return { role, child, peakRssMb: () => peakRssMb(child.pid) };
  });
  const api = `http://127.0.0.1:${port}`;
  const call = async (method: string, path: string, body?: unknown): Promise<unknown> => {
    const res = await fetch(`${api}${path}`, {
      method,
      headers: { authorization: `Bearer ${BENCH_TOKEN}`, ...(body !== undefined && { 'content-type': 'application/json' }) },
      ...(body !== undefined && { body: JSON.stringify(body) }),
    });
    if (!res.ok) throw new Error(`${method} ${path} → ${res.status} ${(await res.text()).slice(0, 300)}`);
    return res.json();
  };
  let ready = false;
  for (let i = 0; i < 300 && !ready; i++) {
    ready = await fetch(`${api}/readyz`).then((r) => r.ok, () => false);
    if (!ready) await sleep(100);
  }
  if (!ready) {
    for (const { child } of processes) child.kill('SIGKILL');
    throw new Error('Herald did not become ready within 30 s');
  }
  // Workers connect on their own; give them a moment to be listening on their queues.
  await sleep(1000);
  return {
    api,
    processes,
    call,
    async stop() {
      await Promise.all(
        processes.map(
          ({ child }) =>
            new Promise<void>((resolve) => {
              if (child.exitCode !== null || child.signalCode !== null) return resolve();
              child.once('exit', () => resolve());
              child.kill('SIGTERM');
            }),
        ),
      );
    },
  };
}
