/**
 * What the Sentinel and Cluster tests share: a writer that keeps posting
 * updates through failovers as a careful client does (an Idempotency-Key
 * per update, the same key again after a 503), keeping every answer it got,
 * and the checks of what crossed the wire afterwards.
 */
import { expect } from 'vitest';
import { httpApi, sleep, updatesInArrivalOrder, type HttpApi } from '../faults/support.js';
import type { ReceivedWebhook, WebhookReceiver } from '../fakes/webhook-receiver.js';
import { processEnv, spawnHerald, type HeraldProcess } from '../support/process.js';

/** How long one update may keep answering 503 before the test gives up on it. */
const ACKNOWLEDGE_WITHIN_MS = 60_000;
/** A commander's pace, fast: about ten updates a second. */
const BETWEEN_UPDATES_MS = 100;

export class UpdateWriter {
  /** Every answer's status (or `error` for a request that got none), counted. */
  readonly statuses = new Map<number | 'error', number>();
  /** Updates acknowledged with 201, in the order they were posted. */
  readonly acknowledged: string[] = [];

  /** Tries answered with anything but 201 (each may have stored its update anyway). */
  get unacknowledgedTries(): number {
    let n = 0;
    for (const [status, count] of this.statuses) if (status !== 201) n += count;
    return n;
  }
  #posted = 0;

  constructor(
    private readonly api: HttpApi,
    private readonly incidentId: string,
    private readonly label: string,
  ) {}

  /** Posts one update, again under the same key until it is acknowledged; returns its id. */
  async post(): Promise<string> {
    const n = ++this.#posted;
    const key = `${this.label}-${n}`;
    const deadline = Date.now() + ACKNOWLEDGE_WITHIN_MS;
    for (;;) {
      let status: number | 'error';
      let text = '';
      try {
        const res = await this.api.call('POST', `/v1/incidents/${this.incidentId}/updates`, { message: `${this.label} update ${n}` }, 10_000, {
          'idempotency-key': key,
        });
        status = res.status;
        text = res.text;
      } catch {
        status = 'error';
      }
      this.statuses.set(status, (this.statuses.get(status) ?? 0) + 1);
      if (status === 201) {
        const id = (JSON.parse(text) as { update: { id: string } }).update.id;
        if (!this.acknowledged.includes(id)) this.acknowledged.push(id);
        return id;
      }
      // 409 idempotency_key_in_use: an earlier try with this key is still being processed (or its claim still being freed).
      const retry = status === 503 || status === 'error' || (status === 409 && text.includes('idempotency_key_in_use'));
      if (!retry) throw new Error(`update ${key} answered ${status}: ${text}`);
      if (Date.now() > deadline) throw new Error(`update ${key} was not acknowledged within ${ACKNOWLEDGE_WITHIN_MS} ms`);
      await sleep(200);
    }
  }

  /** Posts one update after another until `event` is over, then `after` more. */
  async throughout(event: Promise<unknown>, after = 3): Promise<void> {
    let over = false;
    const done = event.finally(() => {
      over = true;
    });
    while (!over) {
      await this.post();
      await sleep(BETWEEN_UPDATES_MS);
    }
    await done;
    for (let i = 0; i < after; i++) await this.post();
  }
}

/** Polls `/readyz` until stopped, counting its answers. */
export function watchReadiness(api: HttpApi): { statuses: Map<number | 'error', number>; stop(): Promise<void> } {
  const statuses = new Map<number | 'error', number>();
  let stopped = false;
  const loop = (async () => {
    while (!stopped) {
      const status = await api.call('GET', '/readyz', undefined, 5_000).then(
        (res) => res.status,
        () => 'error' as const,
      );
      statuses.set(status, (statuses.get(status) ?? 0) + 1);
      await sleep(100);
    }
  })();
  return {
    statuses,
    async stop() {
      stopped = true;
      await loop;
    },
  };
}

/**
 * Every acknowledged update is stored, in the order acknowledged; anything
 * else stored is a try the caller was told failed (503: its retry under the
 * same key may then store the update twice — at least once, never lost);
 * and every target received every stored update, in order, a re-send only
 * under the update's first webhook-id.
 */
export async function expectEveryUpdateEverywhere(
  api: HttpApi,
  hooks: WebhookReceiver,
  incidentId: string,
  paths: readonly string[],
  acknowledged: readonly string[],
  unacknowledgedTries: number,
  /** Only the requests about this incident count, when targets hear of several. */
  onlyIncident?: string,
): Promise<void> {
  const res = await api.call('GET', `/v1/incidents/${incidentId}`);
  expect(res.status, res.text).toBe(200);
  const stored = res.json<{ updates: Array<{ id: string }> }>().updates.map((u) => u.id);
  const lost = acknowledged.filter((id) => !stored.includes(id));
  expect(lost, `acknowledged with 201 but not stored (of ${acknowledged.length})`).toEqual([]);
  expect(stored.filter((id) => acknowledged.includes(id)), 'the acknowledged updates, in the order stored').toEqual(acknowledged);
  const extra = stored.filter((id) => !acknowledged.includes(id));
  expect(extra.length, `stored but never acknowledged: ${extra.join(', ')}`).toBeLessThanOrEqual(unacknowledgedTries);
  const about = (r: ReceivedWebhook): boolean => onlyIncident === undefined || (r.body as { incident?: { id?: string } }).incident?.id === onlyIncident;
  for (const path of paths) {
    await hooks.waitFor({ path, where: (r) => JSON.stringify(r.body).includes(stored.at(-1)!) }, 60_000);
    const received = hooks.received(path).filter(about);
    expect(updatesInArrivalOrder(received), path).toEqual(stored);
    for (const r of received) expect(r.signatureValid, r.verification).toBe(true);
  }
}

/** Herald's warnings and errors, printed when a test fails: what it saw of the failover. */
export function printWarnings(...processes: Array<HeraldProcess | undefined>): void {
  for (const line of processes.flatMap((p) => p?.logs() ?? []).filter((l) => l.level >= 40)) console.error(JSON.stringify(line).slice(0, 2000));
}

/** Herald as it is deployed for these tests: one process serving the API and working, one only working. */
export async function startHeraldPair(env: Record<string, string>): Promise<{ herald: HeraldProcess; workers: HeraldProcess; api: HttpApi }> {
  const herald = spawnHerald(processEnv(env));
  const workers = spawnHerald(processEnv({ ...env, PORT: '0' }), ['--role', 'workers']);
  const api = httpApi(await herald.listening(30_000));
  await workers.waitForLog(/Herald workers running/, 30_000);
  return { herald, workers, api };
}

/**
 * After the failovers: no write answered anything but 201, 503 or 409 (a
 * retry while its first try was still held) — never 500; readiness only
 * 200 or 503, and 200 now; both processes still running (no restart).
 */
export async function expectCarriedOn(
  writes: ReadonlyMap<number | 'error', number>,
  readiness: ReadonlyMap<number | 'error', number>,
  api: HttpApi,
  processes: readonly HeraldProcess[],
): Promise<void> {
  expect([...writes.keys()].filter((s) => ![201, 503, 409, 'error'].includes(s)), JSON.stringify([...writes])).toEqual([]);
  expect([...readiness.keys()].filter((s) => s !== 200 && s !== 503 && s !== 'error'), JSON.stringify([...readiness])).toEqual([]);
  expect((await api.call('GET', '/readyz')).status).toBe(200);
  for (const p of processes) expect(p.child.exitCode).toBeNull();
}

/** A failover is expected: nothing in it is logged as an error. */
export function expectNoErrorLogged(processes: readonly HeraldProcess[]): void {
  const errors = processes.flatMap((p) => p.logs()).filter((l) => l.level >= 50);
  expect(errors.map((l) => JSON.stringify(l))).toEqual([]);
}
