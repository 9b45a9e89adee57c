/** The benchmark report: a plain-text table on stdout and `bench/results/latest.json`. */
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import { ROOT, type Row } from './support.js';

export interface Machine {
  cpus: number;
  cpuModel: string;
  memoryGb: number;
  node: string;
  redis: string;
}

export function machine(redisVersion: string): Machine {
  return {
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model.trim() ?? 'unknown',
    memoryGb: Math.round(totalmem() / 2 ** 30),
    node: process.version,
    redis: redisVersion,
  };
}

function formatValue(row: Row): string {
  if (row.value === null) return '—';
  const value = Number.isInteger(row.value) ? row.value.toLocaleString('en-US') : row.value.toFixed(1);
  return `${value} ${row.unit}`.trim();
}

function verdict(row: Row): string {
  if (row.met === undefined) return '';
  return row.met ? 'met' : 'NOT met';
}

/** The rows as an aligned table, one section after another. */
export function formatRows(rows: readonly Row[]): string {
  const header = ['section', 'measure', 'value', 'compared', 'target', '', 'note'];
  const cells = rows.map((r) => [r.section, r.measure, formatValue(r), r.compared ?? '', r.target ?? '', verdict(r), r.note ?? '']);
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  const line = (c: string[]) => c.map((v, i) => (i === 2 ? v.padStart(widths[i]!) : v.padEnd(widths[i]!))).join('  ').trimEnd();
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...cells.map(line)].join('\n');
}

export function printRows(rows: readonly Row[]): void {
  console.log(formatRows(rows));
}

/** Writes the run to `bench/results/latest.json`; returns the path. */
export function writeResults(rows: readonly Row[], about: { machine: Machine; startedAt: string; seconds: number }): string {
  const dir = join(ROOT, 'bench', 'results');
  mkdirSync(dir, { recursive: true });
  const path = join(dir, 'latest.json');
  writeFileSync(path, `${JSON.stringify({ ...about, rows }, null, 2)}\n`);
  return path;
}

/**
 * Runs one section as a script of its own (`node --import tsx bench/<name>.ts`):
 * prints its rows and exits 0, or 1 with the error. Does nothing when the
 * module is imported (by bench/run.ts).
 */
export function runAsScript(moduleUrl: string, run: () => Promise<Row[]>): void {
  if (moduleUrl !== `file://${process.argv[1]}`) return;
  run().then(
    (rows) => {
      printRows(rows);
      process.exit(0);
    },
    (error: unknown) => {
      console.error(error);
      process.exit(1);
    },
  );
}

/** The rows as a Markdown table, for the README. */
export function formatMarkdown(rows: readonly Row[]): string {
  const cell = (text: string) => text.replace(/\|/g, '\\|');
  const lines = ['| section | measure | value | compared | target | |', '|---|---|---:|---|---|---|'];
  for (const r of rows) {
    const note = r.note === undefined ? '' : ` (${r.note})`;
    lines.push(`| ${r.section} | ${cell(r.measure + note)} | ${formatValue(r)} | ${cell(r.compared ?? '')} | ${cell(r.target ?? '')} | ${verdict(r)} |`);
  }
  return lines.join('\n');
}

// `node --import tsx bench/report.ts`: the last run (bench/results/latest.json) as Markdown.
if (import.meta.url === `file://${process.argv[1]}`) {
  const { readFileSync } = await import('node:fs');
  const last = JSON.parse(readFileSync(join(ROOT, 'bench', 'results', 'latest.json'), 'utf8')) as { machine: Machine; seconds: number; rows: Row[] };
  console.log(formatMarkdown(last.rows));
}
