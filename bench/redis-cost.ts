/**
 * Redis cost per delivery (issue 10): what one delivery costs Redis in CPU
 * and memory, where that CPU goes, whether the memory is given back once
 * HERALD_RETENTION_SECONDS has passed, and whether it stays flat over many
 * incidents.
 *
 * One Herald process (API + workers, as `npm start` runs it) on a private
 * Redis, BENCH_REDIS_TARGETS (10,000) webhook targets on a local sink:
 *   1. baseline: one bare BullMQ job per POST (bench/baselines/bullmq-per-post.ts)
 *      on the same Redis and sink: Redis CPU per POST;
 *   2. warm-up: one incident opened to every target (JIT, connections,
 *      scripts loaded, BullMQ's kept jobs at their bound), then Herald idle
 *      for a few seconds: what its own polling costs Redis, and
 *      `redis-cli --latency` meanwhile;
 *   3. an incident opened and 3 updates posted, each once the previous one
 *      arrived everywhere (4 broadcasts, 40,000 deliveries), until every
 *      delivery is final and every job done: Redis CPU (INFO cpu), commands
 *      (INFO commandstats), memory (MEMORY STATS; MEMORY USAGE per kind of
 *      key) per delivery; `redis-cli --latency` during the first fan-outs;
 *   4. that incident resolved, HERALD_RETENTION_SECONDS being
 *      BENCH_RETENTION_SECONDS (10): memory once its delivery records are
 *      gone, against before it was opened;
 *   5. the same 40,000 deliveries again with SLOWLOG recording every command:
 *      each script's share of the command time (SHA → src/store/lua name;
 *      any other SHA is BullMQ's);
 *   6. a soak: BENCH_SOAK_INCIDENTS (30) incidents (opened, 2 updates at
 *      once, resolved once those arrived) to BENCH_SOAK_TARGETS (2,000)
 *      targets each, BENCH_SOAK_AT_ONCE (5) at a time; memory sampled once
 *      each such wave's records were removed.
 *
 *   npm run bench:redis
 */
import { createHash } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { loadavg } from 'node:os';
import { Redis } from 'ioredis';
import { CHANNEL_NAMES } from '../src/channels/channel.js';
import { COMPLETED_JOBS_KEPT, EVENTS_KEPT } from '../src/queue/queues.js';
import { BROADCAST_QUEUE, deliveryQueueName } from '../src/queue/jobs.js';
import { luaDir, RedisScript } from '../src/store/redis-script.js';
import { runAsScript } from './report.js';
import { now, openIncident, progress, putWebhookAudiences, runChild, sleep, startHerald, startRedis, startSinks, type Row, type RunningHerald, type Sinks } from './support.js';

const TARGETS = Number(process.env.BENCH_REDIS_TARGETS ?? 10_000);
const RETENTION_SECONDS = Number(process.env.BENCH_RETENTION_SECONDS ?? 10);
const SOAK_INCIDENTS = Number(process.env.BENCH_SOAK_INCIDENTS ?? 30);
const SOAK_TARGETS = Number(process.env.BENCH_SOAK_TARGETS ?? 2_000);
const SOAK_AT_ONCE = Number(process.env.BENCH_SOAK_AT_ONCE ?? 5);
/** Opened + 3 updates. */
const BROADCASTS = 4;
const DELIVERIES = TARGETS * BROADCASTS;
/** Seconds `redis-cli --latency` samples, idle and during the fan-out. */
const LATENCY_WINDOW_S = 5;
const WAIT_MS = 300_000;
/** Longest wait for records to be removed: the retention, then one look of the workers (every 10 s), on a busy machine. */
const EXPIRY_WAIT_MS = 60_000 + RETENTION_SECONDS * 1000;
/** Herald's key prefix in the bench (bench/support.ts). */
const PREFIX = 'bench';
const SECTION = 'Redis';

/** Issue 10's starting point (/work/shared/MEASUREMENTS.md, code at 72b3980). */
const WAS_CPU_US = 89;
const WAS_MEMORY_B = 990;

/** What Redis holds, from MEMORY STATS. */
interface Memory {
  /** used_memory less the clients' buffers, which swing by tens of KB with whatever the connections just did. */
  held: number;
  /** Scripts' bodies: grows once per script first run, never per delivery. */
  scripts: number;
}

/** A connection of the bench's own, named so that SLOWLOG can leave it out. */
class Probe {
  readonly redis: Redis;

  constructor(url: string) {
    this.redis = new Redis(url, { connectionName: 'bench-probe', maxRetriesPerRequest: null });
  }

  /** Redis's CPU time so far (user + system, every thread), µs. */
  async cpuUs(): Promise<number> {
    const info = await this.redis.info('cpu');
    const field = (name: string) => Number(new RegExp(`^${name}:([\\d.]+)`, 'm').exec(info)?.[1] ?? Number.NaN);
    return Math.round((field('used_cpu_sys') + field('used_cpu_user')) * 1e6);
  }

  /** Memory once Redis is quiet: a moment for buffers of the last commands to go. */
  async memory(): Promise<Memory> {
    await sleep(2000);
    const stats = (await this.redis.call('MEMORY', 'STATS')) as unknown[];
    const field = (name: string) => Number(stats[stats.indexOf(name) + 1]);
    return { held: field('total.allocated') - field('clients.normal'), scripts: field('lua.caches') };
  }

  /** INFO commandstats: calls per command (a script's inner calls count under their own command too). */
  async commandCalls(): Promise<Map<string, number>> {
    const calls = new Map<string, number>();
    for (const m of (await this.redis.info('commandstats')).matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) calls.set(m[1]!, Number(m[2]));
    return calls;
  }

  /** Every key matching `pattern` with its MEMORY USAGE (bytes, every element counted). */
  async keyMemory(pattern = '*'): Promise<Map<string, number>> {
    const sizes = new Map<string, number>();
    let cursor = '0';
    do {
      const [next, keys] = await this.redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
      cursor = next;
      if (keys.length === 0) continue;
      const pipeline = this.redis.pipeline();
      for (const key of keys) pipeline.memory('USAGE', key, 'SAMPLES', 0);
      const results = (await pipeline.exec()) ?? [];
      keys.forEach((key, i) => {
        const [error, bytes] = results[i]!;
        // A key removed between SCAN and MEMORY USAGE answers null.
        if (error === null && typeof bytes === 'number') sizes.set(key, bytes);
      });
    } while (cursor !== '0');
    return sizes;
  }

  /** Jobs of Herald's queues not finished yet (waiting, active, delayed, prioritized, paused). */
  async unfinishedJobs(): Promise<number> {
    const pipeline = this.redis.pipeline();
    for (const queue of [BROADCAST_QUEUE, ...CHANNEL_NAMES.map(deliveryQueueName)]) {
      const key = (part: string) => `${PREFIX}:${queue}:${part}`;
      pipeline.llen(key('wait')).llen(key('active')).llen(key('paused')).zcard(key('delayed')).zcard(key('prioritized'));
    }
    const results = (await pipeline.exec()) ?? [];
    return results.reduce((sum, [error, n]) => sum + (error === null ? Number(n) : 0), 0);
  }

  close(): void {
    this.redis.disconnect();
  }
}

/** What a key holds, for the memory breakdown. */
type KeyKind = 'delivery records' | 'lanes' | 'threads' | 'totals' | 'incidents and updates' | 'BullMQ' | 'other';

const TAGGED_KINDS = { deliveries: 'delivery records', lanes: 'lanes', threads: 'threads', totals: 'totals' } as const;

function kindOf(key: string): KeyKind {
  const tagged = /^[^:]+:\{[^}]+\}:(deliveries|lanes|threads|totals)(?::|$)/.exec(key);
  if (tagged !== null) return TAGGED_KINDS[tagged[1] as keyof typeof TAGGED_KINDS];
  if (key.startsWith(`${PREFIX}:${BROADCAST_QUEUE}:`) || key.startsWith(`${PREFIX}:deliver-`)) return 'BullMQ';
  if (key.startsWith(`${PREFIX}:incident:`)) return 'incidents and updates';
  return 'other';
}

function byKind(sizes: ReadonlyMap<string, number>): Map<KeyKind, number> {
  const sums = new Map<KeyKind, number>();
  for (const [key, bytes] of sizes) sums.set(kindOf(key), (sums.get(kindOf(key)) ?? 0) + bytes);
  return sums;
}

/** Bytes of the keys whose name contains one of `ids`. */
function bytesOf(sizes: ReadonlyMap<string, number>, ids: readonly string[]): number {
  return [...sizes].filter(([key]) => ids.some((id) => key.includes(id))).reduce((sum, [, bytes]) => sum + bytes, 0);
}

/** Herald's scripts by the SHA1 ioredis runs them under (EVALSHA of the exact source). */
function heraldScripts(): Map<string, string> {
  const names = readdirSync(luaDir())
    .filter((f) => f.endsWith('.lua'))
    .map((f) => f.slice(0, -'.lua'.length));
  return new Map(names.map((name) => [createHash('sha1').update(new RedisScript(name).source).digest('hex'), name]));
}

/** One script's or command's SLOWLOG entries. */
interface Tallied {
  calls: number;
  us: number;
  durations: number[];
}

/**
 * SLOWLOG entries summed per script or command sent by a client. Redis 7
 * also logs each command a script runs, from the address `?:0`: those are
 * only counted (their time is inside their script's).
 */
class SlowlogTally {
  readonly byWhat = new Map<string, Tallied>();
  inner = 0;

  constructor(private readonly scripts: ReadonlyMap<string, string>) {}

  add(entries: unknown[]): void {
    for (const [, , us, args, address, client] of entries as Array<[number, number, number, string[], string, string]>) {
      if (client === 'bench-probe') continue;
      if (address === '?:0') {
        this.inner++;
        continue;
      }
      const what = this.name(args);
      const t = this.byWhat.get(what) ?? { calls: 0, us: 0, durations: [] };
      t.calls++;
      t.us += us;
      t.durations.push(us);
      this.byWhat.set(what, t);
    }
  }

  private name(args: readonly string[]): string {
    const command = (args[0] ?? '').toLowerCase();
    if (command === 'evalsha') return this.scripts.get(args[1] ?? '') ?? 'BullMQ scripts';
    if (command === 'eval') return 'EVAL (a script sent in full once)';
    // BullMQ's own plain commands (its markers, job hashes, events) name its queue keys.
    if (args.slice(1).some((a) => kindOf(a) === 'BullMQ')) return 'BullMQ commands';
    return command;
  }
}

/** Drains SLOWLOG atomically (GET and RESET in one MULTI) every second until stopped. */
function drainSlowlog(probe: Probe, tally: SlowlogTally): { stop(): Promise<void> } {
  let running = true;
  const drain = async () => {
    const [got] = (await probe.redis.multi().call('SLOWLOG', 'GET', '-1').call('SLOWLOG', 'RESET').exec()) ?? [];
    if (got === undefined || got[0] !== null) throw got?.[0] ?? new Error('SLOWLOG GET answered nothing');
    tally.add(got[1] as unknown[]);
  };
  const loop = (async () => {
    while (running) {
      await drain();
      await sleep(1000);
    }
    await drain();
  })();
  return {
    async stop() {
      running = false;
      await loop;
    },
  };
}

/** `redis-cli --latency` for `seconds`: round trips of PING every 10 ms, in ms. */
async function latency(url: string, seconds: number): Promise<{ avg: number; max: number; samples: number }> {
  const run = await runChild('redis-cli', ['-u', url, '--latency', '--raw', '-i', String(seconds)], process.env);
  const [, max, avg, samples] = run.stdout.trim().split(/\s+/).map(Number);
  if (run.code !== 0 || avg === undefined || Number.isNaN(avg)) throw new Error(`redis-cli --latency failed: ${run.stderr || run.stdout}`);
  return { avg, max: max!, samples: samples! };
}

/** The bench's Redis, sinks and Herald, and what drives Herald through its API. */
class Run {
  constructor(
    readonly redisUrl: string,
    readonly probe: Probe,
    readonly sinks: Sinks,
    readonly herald: RunningHerald,
  ) {}

  /** Posts (an update, a resolution…) and waits for `expected` more webhooks to arrive. */
  async broadcast(expected: number, post: () => Promise<unknown>): Promise<void> {
    const target = this.sinks.webhooks.count + expected;
    await post();
    await this.sinks.webhooks.waitFor(target, WAIT_MS);
  }

  update(incidentId: string, n: number): Promise<unknown> {
    return this.herald.call('POST', `/v1/incidents/${incidentId}/updates`, { message: `Update ${n}: a relay was misconfigured; the fix is rolling out.`, status: 'identified' });
  }

  /** Opens an incident to `audiences` and posts 3 updates, each once the previous broadcast arrived everywhere; returns its id. */
  async fourBroadcasts(audiences: string[], title: string): Promise<string> {
    let id = '';
    await this.broadcast(TARGETS, async () => {
      id = await openIncident(this.herald, audiences, title);
    });
    for (let n = 1; n < BROADCASTS; n++) await this.broadcast(TARGETS, () => this.update(id, n));
    return id;
  }

  /** Waits until every update of the incident has `perUpdate` final deliveries (Herald's totals) and no job is left. */
  async settle(incidentId: string, updates: number, perUpdate: number): Promise<void> {
    const deadline = Date.now() + WAIT_MS;
    for (;;) {
      const incident = (await this.herald.call('GET', `/v1/incidents/${incidentId}`)) as {
        updates: Array<{ deliveries?: Record<string, { sent: number; dead: number }> }>;
      };
      const final = incident.updates.map((u) => Object.values(u.deliveries ?? {}).reduce((n, t) => n + t.sent + t.dead, 0));
      if (final.length === updates && final.every((n) => n === perUpdate) && (await this.probe.unfinishedJobs()) === 0) return;
      if (Date.now() > deadline) throw new Error(`incident ${incidentId} did not settle: ${final.join(', ')} final of ${perUpdate} per update`);
      await sleep(200);
    }
  }

  /**
   * Resolves incidents (each `updates` updates long with its resolution) and
   * waits until the resolution arrived everywhere and every delivery is
   * final. Returns how many of its deliveries never arrived: records that
   * retention removes while they are still being sent are lost, and the
   * bench reports that rather than hang on it.
   */
  async resolve(ids: readonly string[], updates: number, perIncident: number): Promise<number> {
    const { sinks, probe } = this;
    const target = sinks.webhooks.count + ids.length * perIncident;
    await Promise.all(ids.map((id) => this.herald.call('POST', `/v1/incidents/${id}/resolve`, { message: 'Email delivery is back to normal.' })));
    for (;;) {
      const before = sinks.webhooks.count;
      try {
        await sinks.webhooks.waitFor(target, 30_000);
        break;
      } catch {
        if (sinks.webhooks.count > before) continue;
        const deadline = Date.now() + 60_000;
        while ((await probe.unfinishedJobs()) > 0 && Date.now() < deadline) await sleep(500);
        return target - sinks.webhooks.count;
      }
    }
    for (const id of ids) await this.settle(id, updates, perIncident);
    return 0;
  }

  /** Polls until the incidents' delivery keys (all but totals) are gone; returns those left at the deadline. */
  async expired(incidentIds: readonly string[]): Promise<string[]> {
    const deadline = Date.now() + EXPIRY_WAIT_MS;
    for (;;) {
      const left: string[] = [];
      for (const id of incidentIds) {
        left.push(...[...(await this.probe.keyMemory(`${PREFIX}:{${id}}:*`)).keys()].filter((k) => kindOf(k) !== 'totals'));
      }
      const pending = await this.probe.redis.zcard(`${PREFIX}:retention:deliveries`);
      if ((left.length === 0 && pending === 0) || Date.now() > deadline) return left;
      await sleep(500);
    }
  }
}

/** Least-squares slope of y over x. */
function slope(points: ReadonlyArray<readonly [number, number]>): number {
  const n = points.length;
  const mx = points.reduce((s, [x]) => s + x, 0) / n;
  const my = points.reduce((s, [, y]) => s + y, 0) / n;
  const sxy = points.reduce((s, [x, y]) => s + (x - mx) * (y - my), 0);
  const sxx = points.reduce((s, [x]) => s + (x - mx) ** 2, 0);
  return sxx === 0 ? 0 : sxy / sxx;
}

const round1 = (v: number) => Math.round(v * 10) / 10 || 0;
const kb = (bytes: number) => `${(bytes / 1024).toFixed(0)} KB`;
const signed = (bytes: number) => `${bytes >= 0 ? '+' : '−'}${Math.abs(Math.round(bytes)).toLocaleString('en-US')} B`;
const perDelivery = (bytes: number) => `${Math.round(bytes / DELIVERIES)} B`;
const load = () => loadavg()[0]!.toFixed(1);

/** Keys that retention left behind, by kind ("2 delivery records"), or '' for none. */
function leftBehind(keys: readonly string[]): string {
  const kinds = new Map<KeyKind, number>();
  for (const key of keys) kinds.set(kindOf(key), (kinds.get(kindOf(key)) ?? 0) + 1);
  return [...kinds].map(([kind, n]) => `${n} ${kind}`).join(', ');
}

/** The row of delivery keys found after retention (none is the target), naming what kinds were left. */
function keysLeftRow(measure: string, left: readonly string[]): Row {
  return {
    section: SECTION,
    measure,
    value: left.length,
    unit: '',
    target: '0',
    met: left.length === 0,
    ...(left.length > 0 && { note: leftBehind(left) }),
  };
}

/** 1. Redis CPU per POST of a bare BullMQ job per POST, on the same Redis and sink. */
async function bareBullmq(redisUrl: string, probe: Probe, sinks: Sinks): Promise<{ usPerPost: number; posts: number }> {
  const posts = TARGETS * 2;
  progress(`redis: baseline, one BullMQ job per POST, ${TARGETS} POSTs × 2 passes`);
  const before = await probe.cpuUs();
  const run = await runChild(process.execPath, ['--import', 'tsx', 'bench/baselines/bullmq-per-post.ts'], {
    PATH: process.env.PATH ?? '',
    HOME: process.env.HOME ?? '',
    REDIS_URL: redisUrl,
    BENCH_URL_BASE: sinks.webhookBase,
    BENCH_TARGETS: String(TARGETS),
    BENCH_PASSES: '1',
  });
  if (run.code !== 0) throw new Error(`baseline failed: ${run.stderr.slice(0, 1000)}`);
  await sinks.webhooks.waitFor(posts, 10_000);
  const usPerPost = ((await probe.cpuUs()) - before) / posts;
  sinks.webhooks.reset();
  return { usPerPost, posts };
}

/** 3. and 4.: 40,000 deliveries, then the incident's resolution and retention. */
async function deliveryCost(run: Run, audiences: string[], baseline: { usPerPost: number; posts: number }): Promise<{ rows: Row[]; cpuPerDelivery: number; lost: number }> {
  const { probe } = run;
  progress(`redis: Herald idle for ${2 * LATENCY_WINDOW_S} s`);
  // Apart: redis-cli's PINGs (100 a second) cost Redis CPU too.
  const idleCpu = await probe.cpuUs();
  const idleStarted = now();
  await sleep(LATENCY_WINDOW_S * 1000);
  const idleUsPerS = ((await probe.cpuUs()) - idleCpu) / ((now() - idleStarted) / 1000);
  const idleLatency = await latency(run.redisUrl, LATENCY_WINDOW_S);

  progress(`redis: ${BROADCASTS} broadcasts to ${TARGETS} (${DELIVERIES} deliveries)`);
  const memoryBefore = await probe.memory();
  const kindsBefore = byKind(await probe.keyMemory());
  const loadBefore = load();
  await probe.redis.config('RESETSTAT');
  const cpu0 = await probe.cpuUs();
  const started = now();
  const [fanoutLatency, incidentId] = await Promise.all([latency(run.redisUrl, LATENCY_WINDOW_S), run.fourBroadcasts(audiences, 'Email delivery delayed')]);
  await run.settle(incidentId, BROADCASTS, TARGETS);
  const cpuUs = (await probe.cpuUs()) - cpu0;
  const seconds = (now() - started) / 1000;
  const calls = await probe.commandCalls();
  const memoryAfter = await probe.memory();
  const kindsAfter = byKind(await probe.keyMemory());

  const cpuPerDelivery = cpuUs / DELIVERIES;
  const grew = (kind: KeyKind) => (kindsAfter.get(kind) ?? 0) - (kindsBefore.get(kind) ?? 0);
  const retained = memoryAfter.held - memoryBefore.held;
  const count = (name: string) => calls.get(name) ?? 0;
  const inner = ['hget', 'hset', 'hsetnx', 'hdel', 'hincrby'];
  const rows: Row[] = [
    {
      section: SECTION,
      measure: `Redis CPU per delivery (INFO cpu; ${BROADCASTS} broadcasts to ${TARGETS.toLocaleString('en-US')} webhooks)`,
      value: round1(cpuPerDelivery),
      unit: 'µs',
      compared: `×${(cpuPerDelivery / baseline.usPerPost).toFixed(2)} of a bare BullMQ job per POST; was ${WAS_CPU_US} µs`,
      target: '≤ 25 µs',
      met: cpuPerDelivery <= 25,
      note: `${(cpuUs / 1e6).toFixed(2)} s of Redis CPU over ${seconds.toFixed(1)} s; of it, Herald's polling while idle ≈ ${round1((idleUsPerS * seconds) / DELIVERIES)} µs per delivery (${Math.round(idleUsPerS)} µs/s); load average ${loadBefore} → ${load()}`,
    },
    {
      section: SECTION,
      measure: `baseline: Redis CPU per POST, one bare BullMQ job per POST (${baseline.posts.toLocaleString('en-US')})`,
      value: round1(baseline.usPerPost),
      unit: 'µs',
    },
    {
      section: SECTION,
      measure: 'Redis commands per delivery (INFO commandstats, scripts’ inner calls included)',
      value: round1([...calls.values()].reduce((s, n) => s + n, 0) / DELIVERIES),
      unit: '',
      note: `scripts ${(count('evalsha') / DELIVERIES).toFixed(3)}; inside them ${inner.map((c) => `${c.toUpperCase()} ${(count(c) / DELIVERIES).toFixed(2)}`).join(', ')}`,
    },
    {
      section: SECTION,
      measure: 'Redis memory per delivery, retained (used_memory less client buffers, once every job is done)',
      value: Math.round(retained / DELIVERIES),
      unit: 'B',
      compared: `was ${WAS_MEMORY_B} B, kept forever`,
      target: '≤ 200 B while retained, then freed',
      met: retained / DELIVERIES <= 200,
      note: `${kb(retained)} in all; by MEMORY USAGE: delivery records ${perDelivery(grew('delivery records'))}, lanes ${perDelivery(grew('lanes'))}, totals ${perDelivery(grew('totals'))}, incident and updates ${perDelivery(grew('incidents and updates'))}, BullMQ ${perDelivery(grew('BullMQ'))} (bounded: ${COMPLETED_JOBS_KEPT} completed jobs and ≈ ${EVENTS_KEPT} events per queue)`,
    },
    {
      section: SECTION,
      measure: `redis-cli --latency during the fan-out (its first ${LATENCY_WINDOW_S} s)`,
      value: fanoutLatency.max,
      unit: 'ms max',
      note: `avg ${fanoutLatency.avg.toFixed(2)} ms over ${fanoutLatency.samples} PINGs; Herald idle: avg ${idleLatency.avg.toFixed(2)} ms, max ${idleLatency.max} ms`,
    },
  ];

  progress(`redis: resolving, retention ${RETENTION_SECONDS} s`);
  const lost = await run.resolve([incidentId], BROADCASTS + 1, TARGETS);
  const resolved = await probe.memory();
  const resolvedAt = now();
  const left = await run.expired([incidentId]);
  const expiredAfter = (now() - resolvedAt) / 1000;
  const memoryExpired = await probe.memory();
  const keysExpired = await probe.keyMemory();
  const updates = BROADCASTS + 1;
  const keptByDesign = bytesOf(keysExpired, [incidentId]);
  const totals = [...keysExpired].filter(([k]) => k.includes(incidentId) && kindOf(k) === 'totals').reduce((sum, [, b]) => sum + b, 0);
  const bullmq = (byKind(keysExpired).get('BullMQ') ?? 0) - (kindsBefore.get('BullMQ') ?? 0);
  const scripts = memoryExpired.scripts - memoryBefore.scripts;
  const sinceBefore = memoryExpired.held - memoryBefore.held;
  // BullMQ's keep moves by tens of KB with the size of the last jobs (their target lists): bounded, not per delivery.
  const rest = sinceBefore - keptByDesign - bullmq - scripts;
  rows.push(
    {
      section: SECTION,
      measure: `after retention: memory against before the incident (${updates} updates, ${(updates * TARGETS).toLocaleString('en-US')} deliveries)`,
      value: sinceBefore,
      unit: 'B',
      compared: `${kb(resolved.held - memoryBefore.held)} before the records were removed`,
      note: `removed ${expiredAfter.toFixed(0)} s after the resolution settled; kept by design: the incident, its updates and their totals ${keptByDesign} B (totals ${Math.round(totals / updates)} B per update); BullMQ ${signed(bullmq)}; scripts ${signed(scripts)}`,
    },
    {
      section: SECTION,
      measure: 'after retention: left per delivery, beyond what is kept by design and BullMQ’s bounded keep',
      value: round1(rest / (updates * TARGETS)),
      unit: 'B',
      compared: `${signed(rest)} in all`,
      target: 'freed (|…| ≤ 1 B)',
      met: Math.abs(rest / (updates * TARGETS)) <= 1,
    },
    keysLeftRow('after retention: delivery keys left (records, lanes, threads)', left),
  );
  return { rows, cpuPerDelivery, lost };
}

/** 5. The same 40,000 deliveries with SLOWLOG recording every command: each script's share of the time. */
async function whereTheTimeGoes(run: Run, audiences: string[], cpuPerDelivery: number): Promise<{ rows: Row[]; lost: number; incidentId: string }> {
  const { probe } = run;
  progress('redis: again, with SLOWLOG recording every command');
  const tally = new SlowlogTally(heraldScripts());
  await probe.redis.config('SET', 'slowlog-max-len', '1000000');
  await probe.redis.config('SET', 'slowlog-log-slower-than', '0');
  await probe.redis.slowlog('RESET');
  const cpu0 = await probe.cpuUs();
  const drainer = drainSlowlog(probe, tally);
  const incidentId = await run.fourBroadcasts(audiences, 'Email delivery delayed again');
  await run.settle(incidentId, BROADCASTS, TARGETS);
  await drainer.stop();
  const cpuWithSlowlog = ((await probe.cpuUs()) - cpu0) / DELIVERIES;
  await probe.redis.config('SET', 'slowlog-log-slower-than', '-1');
  await probe.redis.config('SET', 'slowlog-max-len', '128');
  await probe.redis.slowlog('RESET');

  // SLOWLOG times are wall clock, and Redis shares two busy cores here: each
  // script's share of the logged time is applied to the Redis CPU per
  // delivery measured without SLOWLOG.
  const tallied = [...tally.byWhat].sort((a, b) => b[1].us - a[1].us);
  const total = tallied.reduce((s, [, t]) => s + t.us, 0);
  const shown = tallied.slice(0, 6);
  const rest = tallied.slice(shown.length);
  const restUs = rest.reduce((s, [, t]) => s + t.us, 0);
  const rows: Row[] = shown.map(([what, t]) => {
    const sorted = [...t.durations].sort((a, b) => a - b);
    return {
      section: SECTION,
      measure: `CPU per delivery: ${what}`,
      value: round1((t.us / total) * cpuPerDelivery),
      unit: 'µs',
      compared: `${Math.round((t.us / total) * 100)}% of command time`,
      note: `${t.calls.toLocaleString('en-US')} calls (${(t.calls / DELIVERIES).toFixed(3)} per delivery); per call median ${sorted[sorted.length >> 1]} µs, max ${sorted.at(-1)} µs (wall clock)`,
    };
  });
  rows.push(
    {
      section: SECTION,
      measure: 'CPU per delivery: everything else',
      value: round1((restUs / total) * cpuPerDelivery),
      unit: 'µs',
      compared: `${Math.round((restUs / total) * 100)}% of command time`,
      note: rest.map(([what, t]) => `${what} ${t.calls}`).join(', ') || 'nothing',
    },
    {
      section: SECTION,
      measure: 'SLOWLOG: command time per delivery (wall clock)',
      value: round1(total / DELIVERIES),
      unit: 'µs',
      note: `${round1(tally.inner / DELIVERIES)} commands per delivery run inside scripts; Redis CPU per delivery with SLOWLOG on: ${round1(cpuWithSlowlog)} µs`,
    },
  );
  const lost = await run.resolve([incidentId], BROADCASTS + 1, TARGETS);
  return { rows, lost, incidentId };
}

/** 6. Many incidents; memory once each wave's records were removed. */
async function soak(run: Run, audiences: string[], earlier: string[]): Promise<{ rows: Row[]; lost: number }> {
  const { probe } = run;
  progress(`redis: soak, ${SOAK_INCIDENTS} incidents to ${SOAK_TARGETS}, ${SOAK_AT_ONCE} at a time`);
  const left = await run.expired(earlier);
  let lost = 0;
  const samples: Array<{ incidents: number; memory: Memory; bullmq: number }> = [];
  const sample = async (incidents: number) => {
    const memory = await probe.memory();
    samples.push({ incidents, memory, bullmq: byKind(await probe.keyMemory()).get('BullMQ') ?? 0 });
  };
  await sample(0);
  const ids: string[] = [];
  for (let done = 0; done < SOAK_INCIDENTS; done += SOAK_AT_ONCE) {
    const size = Math.min(SOAK_AT_ONCE, SOAK_INCIDENTS - done);
    const wave = await Promise.all(Array.from({ length: size }, (_, i) => openIncident(run.herald, audiences, `Soak ${done + i}`)));
    // Two updates at once, as a commander in a hurry posts them: lanes hold several updates.
    await run.broadcast(size * SOAK_TARGETS * 3, async () => {
      for (const id of wave) {
        await run.update(id, 1);
        await run.update(id, 2);
      }
    });
    lost += await run.resolve(wave, 4, SOAK_TARGETS);
    left.push(...(await run.expired(wave)));
    ids.push(...wave);
    await sample(done + size);
    progress(`redis: soak, ${done + size} incidents, ${kb(samples.at(-1)!.memory.held)}`);
  }
  const held = samples.map((s) => s.memory.held);
  const growth = slope(samples.map((s) => [s.incidents, s.memory.held] as const));
  // BullMQ's keep fills up to its bounds and the script cache once: what is left grows with incidents.
  const herald = slope(samples.map((s) => [s.incidents, s.memory.held - s.bullmq - s.memory.scripts] as const));
  const keptByDesign = bytesOf(await probe.keyMemory(), ids) / ids.length;
  const first = samples[0]!;
  const last = samples.at(-1)!;
  return {
    lost,
    rows: [
      {
        section: SECTION,
        measure: `soak: memory over ${SOAK_INCIDENTS} incidents (opened, 2 updates, resolved; ${SOAK_TARGETS.toLocaleString('en-US')} webhooks each), last`,
        value: Math.round(held.at(-1)! / 1024),
        unit: 'KB',
        note: `first ${kb(held[0]!)}, max ${kb(Math.max(...held))}; ${samples.length} samples, each once a wave's records were removed; ${(SOAK_INCIDENTS * 4 * SOAK_TARGETS).toLocaleString('en-US')} deliveries`,
      },
      {
        section: SECTION,
        measure: 'soak: growth per incident (least squares)',
        value: Math.round(growth),
        unit: 'B',
        note: `of it BullMQ ${signed((last.bullmq - first.bullmq) / ids.length)} (filling its bounds: ${COMPLETED_JOBS_KEPT} completed jobs, ≈ ${EVENTS_KEPT} events per queue), scripts loaded once ${signed((last.memory.scripts - first.memory.scripts) / ids.length)}`,
      },
      {
        section: SECTION,
        measure: 'soak: growth per incident, less BullMQ’s keep and the script cache',
        value: Math.round(herald),
        unit: 'B',
        compared: `kept by design per incident (its hash, 4 updates, their totals; MEMORY USAGE): ${Math.round(keptByDesign)} B`,
        target: 'flat: ≤ kept by design + 1 KB',
        met: herald <= keptByDesign + 1024,
      },
      keysLeftRow('soak: delivery keys left after retention', left),
    ],
  };
}

export async function runRedisCost(): Promise<Row[]> {
  const redis = await startRedis();
  const sinks = await startSinks();
  const probe = new Probe(redis.url);
  try {
    // Memory the bench itself would move is left out: the slowlog's entries
    // (off, but while it is read on purpose), and Redis 7's per-command
    // latency histograms (about 25 KB each, made at a command's first call,
    // freed by RESETSTAT; those already made are freed here).
    await probe.redis.config('SET', 'slowlog-log-slower-than', '-1');
    await probe.redis.config('SET', 'latency-tracking', 'no');
    await probe.redis.config('RESETSTAT');
    const baseline = await bareBullmq(redis.url, probe, sinks);

    const herald = await startHerald({
      redisUrl: redis.url,
      sinks,
      roles: ['all'],
      env: {
        HERALD_RETENTION_SECONDS: String(RETENTION_SECONDS),
        // Every target shares the sink's origin here; see bench/fanout.ts.
        HERALD_WEBHOOK_CONNECTIONS_PER_ORIGIN: process.env.HERALD_WEBHOOK_CONNECTIONS_PER_ORIGIN ?? '64',
      },
    });
    try {
      const run = new Run(redis.url, probe, sinks, herald);
      const audiences = await putWebhookAudiences(herald, sinks, 'redis', TARGETS);
      const soakAudiences = await putWebhookAudiences(herald, sinks, 'soak', SOAK_TARGETS);
      progress(`redis: warm-up, one incident to ${TARGETS}`);
      let warmUp = '';
      await run.broadcast(TARGETS, async () => {
        warmUp = await openIncident(herald, audiences, 'Warm-up');
      });
      await run.settle(warmUp, 1, TARGETS);

      const cost = await deliveryCost(run, audiences, baseline);
      const time = await whereTheTimeGoes(run, audiences, cost.cpuPerDelivery);
      // The soak starts once the second incident's records are gone too.
      const soaked = await soak(run, soakAudiences, [time.incidentId]);
      const lost = cost.lost + time.lost + soaked.lost;
      return [
        ...cost.rows,
        ...time.rows,
        ...soaked.rows,
        {
          section: SECTION,
          measure: `resolutions not delivered (records removed while still being sent; retention ${RETENTION_SECONDS} s)`,
          value: lost,
          unit: '',
          target: '0',
          met: lost === 0,
        },
      ];
    } finally {
      await herald.stop();
    }
  } finally {
    probe.close();
    await sinks.close();
    redis.stop();
  }
}

runAsScript(import.meta.url, runRedisCost);
