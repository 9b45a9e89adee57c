/**
 * Baseline "one BullMQ job per POST": a bare queue and worker doing nothing
 * but the same POSTs, one job each. A pass is timed from adding the jobs to
 * the last one completed.
 */
import { Queue, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { Agent, request } from 'undici';
import { PAYLOAD, timePasses, urlsFromEnv } from './payload.js';

const urls = urlsFromEnv();
const connection = new Redis(process.env.REDIS_URL!, { maxRetriesPerRequest: null });
const prefix = `baseline-${process.pid}`;
const queue = new Queue<{ url: string }>('posts', { connection, prefix });
const agent = new Agent({ connections: 64, pipelining: 1, keepAliveTimeout: 60_000 });

let remaining = 0;
let passDone: () => void = () => {};
const worker = new Worker<{ url: string }>(
  'posts',
  async (job) => {
    const res = await request(job.data.url, { method: 'POST', body: PAYLOAD, headers: { 'content-type': 'application/json' }, dispatcher: agent });
    await res.body.dump();
  },
  { connection, prefix, concurrency: 64, removeOnComplete: { count: 0 } },
);
worker.on('completed', () => {
  if (--remaining === 0) passDone();
});

await timePasses(async () => {
  remaining = urls.length;
  const done = new Promise<void>((resolve) => {
    passDone = resolve;
  });
  for (let i = 0; i < urls.length; i += 1000) {
    await queue.addBulk(urls.slice(i, i + 1000).map((url) => ({ name: 'post', data: { url } })));
  }
  await done;
});
await worker.close();
await queue.obliterate({ force: true });
await queue.close();
await agent.close();
connection.disconnect();
