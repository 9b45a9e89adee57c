/**
 * Cadence benchmark: N open incidents with a few-second cadence, kept by two
 * worker processes for a few minutes. Prints the lateness of holding
 * statements (p50/p99/max) and counts missed and duplicated ones.
 *
 *   npm run build && node --import tsx bench/cadence.ts
 *
 * Environment: BENCH_INCIDENTS (1000), BENCH_CADENCE_SECONDS (3),
 * BENCH_DURATION_SECONDS (120), BENCH_WORKERS (2).
 *
 * Everything runs on this machine: a private redis-server on a free port,
 * Herald as real processes (one API, BENCH_WORKERS workers, from dist/), and
 * a webhook sink. Nothing else is touched.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, percentile, ROOT, sleep } from './support.js';

const INCIDENTS = Number(process.env.BENCH_INCIDENTS ?? 1000);
const CADENCE_S = Number(process.env.BENCH_CADENCE_SECONDS ?? 3);
const DURATION_S = Number(process.env.BENCH_DURATION_SECONDS ?? 120);
const WORKERS = Number(process.env.BENCH_WORKERS ?? 2);
const TOKEN = 'bench-write-token-123';
/** A statement counts as missed when a gap between broadcasts exceeds the cadence by more than this. */
const MISSED_AFTER_MS = 1000;

interface Update {
  id: string;
  seq: number;
  kind: string;
  postedAt: string;
}

async function waitFor(check: () => Promise<boolean>, what: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check().catch(() => false)) return;
    await sleep(100);
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** A webhook sink that records when each update arrived (and how often). */
async function startSink(): Promise<{ url: string; arrivals: Map<string, number[]>; close: () => void }> {
  const arrivals = new Map<string, number[]>();
  const server = createHttpServer((req: IncomingMessage, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const at = Date.now();
      try {
        const body = JSON.parse(Buffer.concat(chunks).toString()) as { update: { id: string } };
        const list = arrivals.get(body.update.id);
        if (list === undefined) arrivals.set(body.update.id, [at]);
        else list.push(at);
      } catch {
        // not ours
      }
      res.writeHead(200).end();
    });
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}/hook`, arrivals, close: () => server.close() };
}

async function main(): Promise<void> {
  const children: ChildProcess[] = [];
  const dir = mkdtempSync(join(tmpdir(), 'herald-bench-cadence-'));
  const stopAll = () => {
    for (const c of children) c.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  };
  process.on('exit', stopAll);

  const redisPort = await freePort();
  children.push(spawn('redis-server', ['--port', String(redisPort), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir], { stdio: 'ignore' }));
  const apiPort = await freePort();
  const sink = await startSink();
  const env = {
    PATH: process.env.PATH ?? '',
    HOME: process.env.HOME ?? '',
    REDIS_URL: `redis://127.0.0.1:${redisPort}`,
    HERALD_PREFIX: 'bench',
    HERALD_API_TOKENS: `bench:${TOKEN}:write`,
    HERALD_MIN_CADENCE_SECONDS: '1',
    HERALD_REMINDER_LEAD_SECONDS: '0',
    HERALD_WEBHOOK_ALLOW_PRIVATE: 'true',
    PORT: String(apiPort),
    LOG_LEVEL: 'warn',
  };
  await sleep(300);
  const start = (args: string[]) => {
    const child = spawn(process.execPath, ['dist/src/main.js', ...args], { cwd: ROOT, env, stdio: ['ignore', 'ignore', 'inherit'] });
    children.push(child);
  };
  start(['--role', 'api']);
  for (let i = 0; i < WORKERS; i++) start(['--role', 'workers']);
  const api = `http://127.0.0.1:${apiPort}`;
  const call = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(`${api}${path}`, {
      method,
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      ...(body !== undefined && { body: JSON.stringify(body) }),
    });
    if (!res.ok) throw new Error(`${method} ${path} → ${res.status} ${await res.text()}`);
    return res.json() as Promise<Record<string, unknown>>;
  };
  await waitFor(async () => (await fetch(`${api}/readyz`)).ok, 'the API');
  await sleep(1500); // the workers' startup

  await call('PUT', '/v1/audiences/bench', { webhooks: [{ url: sink.url, secret: 'whsec_YmVuY2gtc2VjcmV0LWJlbmNoLXNlY3JldA==' }] });
  console.log(`opening ${INCIDENTS} incidents (cadence ${CADENCE_S} s), ${WORKERS} worker processes, ${DURATION_S} s…`);
  const ids: string[] = [];
  for (let i = 0; i < INCIDENTS; i += 50) {
    const batch = await Promise.all(
      Array.from({ length: Math.min(50, INCIDENTS - i) }, (_, j) =>
        call('POST', '/v1/incidents', { title: `Bench ${i + j}`, severity: 'minor', message: 'bench', cadenceSeconds: CADENCE_S }),
      ),
    );
    for (const res of batch) ids.push((res.incident as { id: string }).id);
  }
  const openedAt = Date.now();
  await sleep(DURATION_S * 1000);
  const endAt = Date.now();
  // Let deliveries of what was posted until endAt arrive.
  await sleep(2000);

  const cadenceMs = CADENCE_S * 1000;
  const lateness: number[] = [];
  const arrivalLateness: number[] = [];
  let statements = 0;
  let missed = 0;
  let duplicated = 0;
  let undelivered = 0;
  let deliveredTwice = 0;
  for (let i = 0; i < ids.length; i += 50) {
    const incidents = await Promise.all(ids.slice(i, i + 50).map((id) => call('GET', `/v1/incidents/${id}`)));
    for (const incident of incidents) {
      const updates = (incident.updates as Update[]).filter((u) => Date.parse(u.postedAt) <= endAt);
      for (let k = 1; k < updates.length; k++) {
        const due = Date.parse(updates[k - 1]!.postedAt) + cadenceMs;
        const u = updates[k]!;
        if (u.kind !== 'holding') continue;
        statements++;
        const late = Date.parse(u.postedAt) - due;
        // Posted before it was due means a second statement for one due time.
        if (late < 0) duplicated++;
        lateness.push(late);
        const arrived = sink.arrivals.get(u.id);
        if (arrived === undefined) undelivered++;
        else {
          arrivalLateness.push(arrived[0]! - due);
          if (arrived.length > 1) deliveredTwice++;
        }
        if (Date.parse(u.postedAt) - Date.parse(updates[k - 1]!.postedAt) > cadenceMs + MISSED_AFTER_MS) missed++;
      }
      const last = updates.at(-1)!;
      if (endAt - Date.parse(last.postedAt) > cadenceMs + MISSED_AFTER_MS) missed++;
    }
  }
  lateness.sort((a, b) => a - b);
  arrivalLateness.sort((a, b) => a - b);
  const row = (name: string, xs: number[]) =>
    `${name.padEnd(34)} ${String(percentile(xs, 50)).padStart(6)} ${String(percentile(xs, 99)).padStart(6)} ${String(xs.at(-1) ?? NaN).padStart(6)}`;
  const result = {
    machine: { cpus: cpus().length, model: cpus()[0]?.model ?? 'unknown', node: process.version },
    incidents: INCIDENTS,
    cadenceSeconds: CADENCE_S,
    durationSeconds: Math.round((endAt - openedAt) / 1000),
    workerProcesses: WORKERS,
    holdingStatements: statements,
    postedLatenessMs: { p50: percentile(lateness, 50), p99: percentile(lateness, 99), max: lateness.at(-1) ?? null },
    arrivalLatenessMs: { p50: percentile(arrivalLateness, 50), p99: percentile(arrivalLateness, 99), max: arrivalLateness.at(-1) ?? null },
    missed,
    duplicated,
    undelivered,
    deliveredTwice,
  };
  console.log('');
  console.log(`${INCIDENTS} incidents × ${CADENCE_S} s cadence for ${result.durationSeconds} s, ${WORKERS} worker processes: ${statements} holding statements`);
  console.log(`${'lateness after due (ms)'.padEnd(34)} ${'p50'.padStart(6)} ${'p99'.padStart(6)} ${'max'.padStart(6)}`);
  console.log(row('  posted (stored postedAt)', lateness));
  console.log(row('  arrived at the webhook sink', arrivalLateness));
  console.log(`missed: ${missed}   duplicated: ${duplicated}   not delivered: ${undelivered}   delivered twice: ${deliveredTwice}`);
  mkdirSync(join(ROOT, 'bench/results'), { recursive: true });
  writeFileSync(join(ROOT, 'bench/results/cadence.json'), `${JSON.stringify(result, null, 2)}\n`);
  sink.close();
  stopAll();
  process.exit(0);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
