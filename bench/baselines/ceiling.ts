/**
 * Baseline "the ceiling": a plain pool of keep-alive HTTP POSTs to the same
 * URLs, no queue, no state — as fast as this machine sends them.
 */
import { Agent, request } from 'undici';
import { PAYLOAD, timePasses, urlsFromEnv } from './payload.js';

const urls = urlsFromEnv();
const agent = new Agent({ connections: 64, pipelining: 1, keepAliveTimeout: 60_000 });
const IN_FLIGHT = 256;

await timePasses(async () => {
  let next = 0;
  const runner = async (): Promise<void> => {
    while (next < urls.length) {
      const url = urls[next++]!;
      const res = await request(url, { method: 'POST', body: PAYLOAD, headers: { 'content-type': 'application/json' }, dispatcher: agent });
      await res.body.dump();
    }
  };
  await Promise.all(Array.from({ length: IN_FLIGHT }, runner));
});
await agent.close();
