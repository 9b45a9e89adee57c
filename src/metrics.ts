/**
 * Prometheus metrics. Delivery totals are kept in Redis, so any API process
 * reports what every worker process did; queue depths are read at scrape.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { HeraldQueues } from './queue/queues.js';
import type { DeliveryStore } from './store/delivery-store.js';

export class Metrics {
  readonly registry = new Registry();
  readonly httpDuration: Histogram<'method' | 'route' | 'status'>;

  constructor(deliveries: DeliveryStore, queues: HeraldQueues) {
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
            for (const [state, n] of Object.entries(counts)) this.set({ queue: queue.name, state }, n);
          }),
        );
      },
    });
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  render(): Promise<string> {
    return this.registry.metrics();
  }
}
