/**
 * Baselines for the start-up benchmark (bench/startup.ts): the least a
 * process on this stack does before it answers `GET /healthz`. Plain
 * JavaScript, run by `node` itself, so nothing is compiled at start either.
 *
 *   node bench/baselines/startup.mjs node-http       Node's http module and one Redis PING over a socket
 *   node bench/baselines/startup.mjs fastify-redis   Fastify and ioredis, connected (PING answered)
 *
 * Needs REDIS_URL and PORT. Serves until SIGTERM/SIGINT.
 */
import { createServer } from 'node:http';
import { connect } from 'node:net';

const kind = process.argv[2];
const redisUrl = new URL(process.env.REDIS_URL ?? '');
const port = Number(process.env.PORT);

/** One PING over a plain socket, answered +PONG. */
function ping() {
  return new Promise((resolve, reject) => {
    const socket = connect(Number(redisUrl.port || 6379), redisUrl.hostname, () => socket.write('PING\r\n'));
    socket.once('data', (data) => {
      socket.end();
      if (data.toString().startsWith('+PONG')) resolve(undefined);
      else reject(new Error(`Redis answered ${data.toString().trim()}`));
    });
    socket.once('error', reject);
  });
}

let stop;
if (kind === 'node-http') {
  await ping();
  const server = createServer((_request, response) => response.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}'));
  await new Promise((resolve) => server.listen(port, '127.0.0.1', resolve));
  stop = () => server.close(() => process.exit(0));
} else if (kind === 'fastify-redis') {
  const [{ default: Fastify }, { Redis }] = await Promise.all([import('fastify'), import('ioredis')]);
  const redis = new Redis(redisUrl.href);
  await redis.ping();
  const app = Fastify({ logger: false });
  app.get('/healthz', async () => ({ ok: true }));
  await app.listen({ port, host: '127.0.0.1' });
  stop = () =>
    void app.close().finally(() => {
      redis.disconnect();
      process.exit(0);
    });
} else {
  process.stderr.write('startup baseline: node-http or fastify-redis\n');
  process.exit(2);
}
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
