/**
 * `npm run bench`: every benchmark against a real Redis and local sinks on
 * loopback, each with its baselines measured in the same run. Prints one
 * table and writes it to bench/results/latest.json.
 *
 * Sections: fan-out (with the ceiling, one-BullMQ-job-per-POST and Apprise
 * baselines, and peak memory), API (with a bare Fastify + Redis baseline),
 * latency to the first partner, scale (1k/10k/50k, 100k queued), start-up,
 * Redis cost per delivery, and the fan-out on a Redis Cluster of 1 and 3
 * masters. BENCH_ONLY=fanout,api,latency,scale,startup,redis,cluster runs a subset.
 */
import { execFileSync } from 'node:child_process';
import { runApi } from './api.js';
import { runCluster } from './cluster.js';
import { runFanout } from './fanout.js';
import { runLatency } from './latency.js';
import { runRedisCost } from './redis-cost.js';
import { machine, printRows, writeResults } from './report.js';
import { runScale } from './scale.js';
import { runStartup } from './startup.js';
import { progress, type Row } from './support.js';

const SECTIONS: Record<string, () => Promise<Row[]>> = {
  fanout: runFanout,
  api: runApi,
  latency: runLatency,
  scale: runScale,
  startup: runStartup,
  redis: runRedisCost,
  cluster: runCluster,
};

const only = process.env.BENCH_ONLY?.split(',').map((s) => s.trim());
const startedAt = new Date().toISOString();
const started = performance.now();
const rows: Row[] = [];
for (const [name, run] of Object.entries(SECTIONS)) {
  if (only !== undefined && !only.includes(name)) continue;
  progress(`section: ${name}`);
  rows.push(...(await run()));
}
const seconds = Math.round((performance.now() - started) / 1000);
const redisVersion = execFileSync('redis-server', ['--version']).toString().match(/v=(\S+)/)?.[1] ?? 'unknown';
const about = { machine: machine(redisVersion), startedAt, seconds };
const { cpus, cpuModel, memoryGb, node, redis } = about.machine;
console.log(`Herald benchmarks — ${cpus} × ${cpuModel}, ${memoryGb} GB, Node ${node}, Redis ${redis}; ${seconds} s`);
printRows(rows);
const path = writeResults(rows, about);
const missed = rows.filter((r) => r.met === false);
console.log(`\n${missed.length === 0 ? 'every target met' : `${missed.length} target(s) not met: ${missed.map((r) => r.measure).join('; ')}`}`);
console.log(`written to ${path}`);
