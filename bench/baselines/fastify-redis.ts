/**
 * Baseline for the API benchmark: a bare Fastify app with one POST route that
 * parses the JSON body, does ONE Redis write (SET of the body under a counter
 * key) and answers 201 JSON. No auth, no validation, no queue: the floor any
 * HTTP + Redis service on this stack pays per request.
 *
 *   REDIS_URL=redis://127.0.0.1:6379 PORT=8080 node --import tsx bench/baselines/fastify-redis.ts
 *
 * Prints nothing on stdout; errors go to stderr. Stops on SIGTERM/SIGINT.
 */
import Fastify from 'fastify';
import { Redis } from 'ioredis';

const redisUrl = process.env.REDIS_URL;
const port = Number(process.env.PORT);
if (redisUrl === undefined || !Number.isInteger(port) || port <= 0) {
  process.stderr.write('fastify-redis baseline: REDIS_URL and PORT are required\n');
  process.exit(2);
}

const redis = new Redis(redisUrl);
const prefix = `baseline-api-${process.pid}`;
let counter = 0;

const app = Fastify({ logger: false });

app.post('/updates', async (request, reply) => {
  const id = ++counter;
  await redis.set(`${prefix}:update:${id}`, JSON.stringify(request.body));
  reply.code(201);
  return { id };
});

await app.listen({ port, host: '127.0.0.1' });

const stop = () => {
  void app.close().finally(() => {
    redis.disconnect();
    process.exit(0);
  });
};
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
