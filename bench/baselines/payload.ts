/**
 * What the webhook baselines share: the body they send, the targets the
 * benchmark names, and how a baseline reports its passes.
 */

/** A webhook body the size Herald sends (an incident event with rendered HTML and Markdown, ~2 KB). */
export const PAYLOAD = JSON.stringify({
  type: 'incident.opened',
  incident: { id: 'inc_bench', title: 'Email delivery delayed', severity: 'major', status: 'investigating', components: ['email'] },
  update: { id: 'upd_bench', seq: 1, kind: 'opened', message: 'We are investigating delays in outbound email. '.repeat(8) },
  rendered: { title: 'Email delivery delayed', html: `<p>${'We are investigating delays in outbound email. '.repeat(12)}</p>`, markdown: 'We are investigating delays. '.repeat(12) },
});

/** The targets, as the benchmark names them: `BENCH_URL_BASE` + `/0` … `/<BENCH_TARGETS - 1>`. */
export function urlsFromEnv(): string[] {
  const base = process.env.BENCH_URL_BASE ?? '';
  return Array.from({ length: Number(process.env.BENCH_TARGETS ?? 0) }, (_, i) => `${base}/${i}`);
}

/**
 * Runs one unmeasured warm-up pass (a long-running sender is warm: JIT,
 * connections) and then `BENCH_PASSES` measured ones, and prints the
 * measured durations as JSON on stdout for the benchmark to read.
 */
export async function timePasses(pass: () => Promise<void>): Promise<void> {
  if (urlsFromEnv().length === 0) throw new Error('no targets: set BENCH_URL_BASE and BENCH_TARGETS');
  await pass();
  const ms: number[] = [];
  for (let i = 0; i < Number(process.env.BENCH_PASSES ?? 5); i++) {
    const started = performance.now();
    await pass();
    ms.push(performance.now() - started);
  }
  process.stdout.write(`${JSON.stringify({ ms })}\n`);
}
