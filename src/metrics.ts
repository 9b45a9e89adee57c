/**
 * Prometheus metrics. Delivery totals and the cadence's counts are kept in
 * Redis, so any API process reports what every worker process did; queue
 * depths and the longest silence are read at scrape.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { HeraldQueues } from './queue/queues.js';
import type { DeliveryStore } from './store/delivery-store.js';
import type { CadenceSnapshot, ScheduleStore } from './store/schedule-store.js';

/** Herald's Prometheus registry, rendered by `GET /metrics`. */
export class Metrics {
  readonly registry = new Registry();
  readonly httpDuration: Histogram<'method' | 'route' | 'status'>;
  /** The cadence's numbers for the scrape in progress: one Redis read feeds its four metrics. */
  private cadenceScrape: Promise<CadenceSnapshot> | undefined;

  /**
   * @param schedule - the cadence's counts and open incidents; without it
   *   (an embedder that keeps no schedule) those metrics are not shown.
   */
  constructor(deliveries: DeliveryStore, queues: HeraldQueues, schedule?: ScheduleStore) {
    collectDefaultMetrics({ register: this.registry, prefix: 'herald_' });
    this.httpDuration = new Histogram({
      name: 'herald_http_request_duration_seconds',
      help: 'API request latency',
      labelNames: ['method', 'route', 'status'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers: [this.registry],
    });
    new Counter({
      name: 'herald_deliveries_total',
      help: 'Deliveries that reached a state (sent, failed attempt, dead), by channel, across all processes',
      labelNames: ['channel', 'state'],
      registers: [this.registry],
      async collect() {
        this.reset();
        for (const [key, value] of Object.entries(await deliveries.counts())) {
          const [channel, state] = key.split(':');
          this.inc({ channel, state }, Number(value));
        }
      },
    });
    if (schedule !== undefined) this.cadence(schedule);
    new Gauge({
      name: 'herald_queue_jobs',
      help: 'Jobs in each queue by state',
      labelNames: ['queue', 'state'],
      registers: [this.registry],
      async collect() {
        this.reset();
        await Promise.all(
          queues.all().map(async (queue) => {
            const counts = await queue.getJobCounts('waiting', 'active', 'delayed', 'failed');
            // A queue of each name in every shard: one series per name, added up.
            for (const [state, n] of Object.entries(counts)) this.inc({ queue: queue.name, state }, n);
          }),
        );
      },
    });
  }

  private cadence(schedule: ScheduleStore): void {
    const snapshot = (): Promise<CadenceSnapshot> => (this.cadenceScrape ??= schedule.snapshot(new Date()));
    new Counter({
      name: 'herald_holding_statements_total',
      help: 'Holding statements posted because an update was due and none came, across all processes',
      registers: [this.registry],
      async collect() {
        this.reset();
        this.inc((await snapshot()).holdingStatements);
      },
    });
    new Counter({
      name: 'herald_commander_reminders_total',
      help: 'Reminders to incident commanders that an update is due, across all processes',
      registers: [this.registry],
      async collect() {
        this.reset();
        this.inc((await snapshot()).reminders);
      },
    });
    new Gauge({
      name: 'herald_open_incidents',
      help: 'Incidents open now',
      registers: [this.registry],
      async collect() {
        this.set((await snapshot()).openIncidents);
      },
    });
    new Gauge({
      name: 'herald_longest_silence_seconds',
      help: 'Longest time any open incident has gone without a broadcast (0 when none is open)',
      registers: [this.registry],
      async collect() {
        this.set((await snapshot()).longestSilenceMs / 1000);
      },
    });
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  /** The metrics in Prometheus's text format, read fresh. */
  render(): Promise<string> {
    this.cadenceScrape = undefined;
    return this.registry.metrics();
  }
}
