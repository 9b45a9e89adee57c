/** A webhook body the size Herald sends (an incident event with rendered HTML and Markdown, ~2 KB). */
export const PAYLOAD = JSON.stringify({
  type: 'incident.opened',
  incident: { id: 'inc_bench', title: 'Email delivery delayed', severity: 'major', status: 'investigating', components: ['email'] },
  update: { id: 'upd_bench', seq: 1, kind: 'opened', message: 'We are investigating delays in outbound email. '.repeat(8) },
  rendered: { title: 'Email delivery delayed', html: `<p>${'We are investigating delays in outbound email. '.repeat(12)}</p>`, markdown: 'We are investigating delays. '.repeat(12) },
});

/** `BENCH_URLS` as written by the benchmark: one URL per line. */
export function urlsFromEnv(): string[] {
  return (process.env.BENCH_URLS ?? '').split('\n').filter((u) => u !== '');
}
