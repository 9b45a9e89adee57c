/**
 * Herald as an operator runs it: the real entry point in a child process
 * (`node --import tsx src/main.ts`), with an environment the test controls
 * and nothing leaked from the test runner's own.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { redisAnswers } from '../../src/redis/connection.js';

/** The project root: `src/main.ts` and `node_modules/tsx` are found from here. */
export const PROJECT_ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** One JSON log line from Herald's stdout (pino). */
export interface LogLine {
  level: number;
  msg: string;
  [field: string]: unknown;
}

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface HeraldProcess {
  readonly child: ChildProcess;
  stdout(): string;
  stderr(): string;
  /** stdout's JSON log lines, in order; anything else there is ignored. */
  logs(): LogLine[];
  /** Resolves with the first log line whose `msg` matches; rejects if Herald exits first or after `timeoutMs`. */
  waitForLog(msg: RegExp, timeoutMs?: number): Promise<LogLine>;
  /** Waits for the one line naming the URL Herald listens on (`Herald listening on http://…`) and returns that URL. */
  listening(timeoutMs?: number): Promise<string>;
  /** Resolves when the process has exited. */
  readonly exited: Promise<Exit>;
  /** Resolves with the exit, or rejects after `timeoutMs` (the process is then killed). */
  waitForExit(timeoutMs?: number): Promise<Exit>;
  /** SIGKILLs the process if it still runs and waits for it to be gone. */
  kill(): Promise<void>;
}

/**
 * A minimal environment: PATH and HOME, the CA bundle as this process has it
 * (the machine sets NODE_EXTRA_CA_CERTS), and what the test gives.
 */
export function processEnv(extra: Record<string, string>): Record<string, string> {
  const env: Record<string, string> = {};
  for (const name of ['PATH', 'HOME', 'NODE_EXTRA_CA_CERTS'] as const) {
    const value = process.env[name];
    if (value !== undefined) env[name] = value;
  }
  return { ...env, ...extra };
}

const running = new Set<ChildProcess>();

/**
 * Starts `node --import tsx src/main.ts ...args` with exactly `env`; with
 * `built`, the compiled `dist/src/main.js` as `npm start` runs it (Node's own
 * ESM loader, not tsx's: CommonJS interop differs between them); with `npm`,
 * that npm script itself (`npm run -s start:api`), as an operator runs it.
 */
export function spawnHerald(
  env: Record<string, string>,
  args: readonly string[] = [],
  options: { built?: boolean; npm?: 'start' | 'start:api' | 'start:workers' } = {},
): HeraldProcess {
  const entry = options.built === true ? ['dist/src/main.js'] : ['--import', 'tsx', 'src/main.ts'];
  const [command, commandArgs] =
    options.npm === undefined ? [process.execPath, [...entry, ...args]] : ['npm', ['run', '-s', options.npm, ...(args.length > 0 ? ['--', ...args] : [])]];
  const child = spawn(command, commandArgs, {
    cwd: PROJECT_ROOT,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
    // npm's Herald is its child: in a process group of their own, a kill reaches both.
    detached: options.npm !== undefined,
  });
  running.add(child);
  let out = '';
  let err = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    out += chunk;
  });
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
    err += chunk;
  });
  const exited = new Promise<Exit>((resolve) => {
    // 'close' rather than 'exit': by then stdout and stderr are fully read.
    child.once('close', (code, signal) => {
      running.delete(child);
      resolve({ code, signal });
    });
  });
  const logs = (): LogLine[] =>
    out.split('\n').flatMap((line) => {
      try {
        const parsed: unknown = JSON.parse(line);
        return typeof parsed === 'object' && parsed !== null && typeof (parsed as LogLine).msg === 'string' ? [parsed as LogLine] : [];
      } catch {
        return [];
      }
    });
  const describe = (): string => `\n--- stdout ---\n${out}\n--- stderr ---\n${err}`;

  const waitForLog = async (msg: RegExp, timeoutMs = 60_000): Promise<LogLine> => {
    const deadline = Date.now() + timeoutMs;
    let gone = false;
    void exited.then(() => {
      gone = true;
    });
    for (;;) {
      const line = logs().find((l) => msg.test(l.msg));
      if (line !== undefined) return line;
      if (gone) throw new Error(`Herald exited before logging ${msg}${describe()}`);
      if (Date.now() > deadline) throw new Error(`no log line matching ${msg} within ${timeoutMs} ms${describe()}`);
      await new Promise((r) => setTimeout(r, 25));
    }
  };

  return {
    child,
    stdout: () => out,
    stderr: () => err,
    logs,
    exited,
    waitForLog,
    async listening(timeoutMs) {
      const line = await waitForLog(/^Herald listening on /, timeoutMs);
      const url = /^Herald listening on (http:\/\/\S+)$/.exec(line.msg)?.[1];
      if (url === undefined) throw new Error(`the listening line names no URL: ${line.msg}`);
      return url;
    },
    kill: () => killChild(child),
    async waitForExit(timeoutMs = 60_000) {
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => {
          child.kill('SIGKILL');
          reject(new Error(`Herald did not exit within ${timeoutMs} ms${describe()}`));
        }, timeoutMs);
      });
      try {
        return await Promise.race([exited, timeout]);
      } finally {
        clearTimeout(timer);
      }
    },
  };
}

/** Runs Herald to its exit (a refused start), with its whole output. */
export async function runHeraldToExit(
  env: Record<string, string>,
  args: readonly string[] = [],
  timeoutMs = 60_000,
): Promise<Exit & { stdout: string; stderr: string }> {
  const herald = spawnHerald(env, args);
  const exit = await herald.waitForExit(timeoutMs);
  return { ...exit, stdout: herald.stdout(), stderr: herald.stderr() };
}

function killChild(child: ChildProcess): Promise<void> {
  return new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    child.once('exit', () => resolve());
    if (child.spawnargs[0] === 'npm' && child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
    else child.kill('SIGKILL');
  });
}

/** SIGKILLs every child this module started that is still running; for afterEach/afterAll. */
export async function killAllChildren(): Promise<void> {
  await Promise.all([...running].map(killChild));
}

/** A `redis-server` the test owns, on `port` (persisting only when asked). */
export interface OwnRedis {
  readonly url: string;
  readonly port: number;
  /** SIGKILLs it (no shutdown courtesy: as if the host vanished). */
  kill(): Promise<void>;
}

/**
 * Starts `redis-server` on `port` and waits until it answers PING. With
 * `appendOnly`, it persists with AOF into `dir` (`appendfsync everysec`, as
 * docker-compose.yml runs it); started again on the same `port` and `dir`
 * after a kill, it replays the AOF.
 */
export async function startOwnRedis(port: number, dir: string, options: { appendOnly?: boolean } = {}): Promise<OwnRedis> {
  const persistence = options.appendOnly === true ? ['--appendonly', 'yes', '--appendfsync', 'everysec'] : ['--appendonly', 'no'];
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', ...persistence, '--dir', dir], {
    stdio: 'ignore',
  });
  running.add(child);
  child.once('exit', () => running.delete(child));
  await new Promise<void>((resolve, reject) => {
    child.once('spawn', () => resolve());
    child.once('error', (e) => reject(new Error(`cannot start redis-server: ${e.message}`)));
  });
  const url = `redis://127.0.0.1:${port}`;
  const deadline = Date.now() + 10_000;
  while (!(await redisAnswers(url, 200))) {
    if (child.exitCode !== null) throw new Error(`redis-server on port ${port} exited with code ${child.exitCode}`);
    if (Date.now() > deadline) {
      await killChild(child);
      throw new Error(`redis-server did not answer at ${url}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return { url, port, kill: () => killChild(child) };
}

/**
 * The server's largest event-loop delay since the previous scrape, in
 * seconds: prom-client's measure inside Herald, read from `/metrics`.
 */
export async function maxEventLoopLag(url: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const match = /^herald_nodejs_eventloop_lag_max_seconds (\S+)$/m.exec(text);
  if (match === null) throw new Error('/metrics has no herald_nodejs_eventloop_lag_max_seconds');
  return Number(match[1]);
}
