/**
 * A Redis connection's writes, one system call per tick: what a peer reads
 * when several writes are made in one tick, and an ioredis connection made
 * by `connectRedis` against the real Redis, before and after it reconnects.
 */
import { once } from 'node:events';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it, inject } from 'vitest';
import { coalesceWritesPerTick } from '../../src/redis/coalesced-writes.js';
import { connectRedis } from '../../src/redis/connection.js';

describe('a socket whose writes are coalesced per tick', () => {
  let server: Server;
  let chunks: string[];
  let received: string;
  let client: Socket;

  beforeAll(async () => {
    server = createServer((peer) => {
      peer.setEncoding('utf8');
      peer.on('data', (chunk: string) => {
        chunks.push(chunk);
        received += chunk;
      });
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
  });

  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  afterEach(() => {
    client?.destroy();
  });

  async function connected(): Promise<Socket> {
    chunks = [];
    received = '';
    const address = server.address();
    if (address === null || typeof address === 'string') throw new Error('no port');
    const socket = connect(address.port, '127.0.0.1');
    await once(socket, 'connect');
    coalesceWritesPerTick(socket);
    return socket;
  }

  async function until(text: string): Promise<void> {
    for (let i = 0; i < 500 && received.length < text.length; i++) await new Promise((r) => setTimeout(r, 10));
    expect(received).toBe(text);
  }

  it('sends what one tick wrote, strings and bytes alike, as one chunk, in order', async () => {
    client = await connected();
    client.write('*1\r\n$4\r\nPING\r\n');
    client.write(Buffer.from('*2\r\n$3\r\nGET\r\n$1\r\na\r\n'));
    client.write('*2\r\n$3\r\nGET\r\n$1\r\nb\r\n');
    expect(client.writableCorked).toBe(1);

    await until('*1\r\n$4\r\nPING\r\n*2\r\n$3\r\nGET\r\n$1\r\na\r\n*2\r\n$3\r\nGET\r\n$1\r\nb\r\n');
    expect(chunks).toHaveLength(1);
    expect(client.writableCorked).toBe(0);
  });

  it('sends each tick\'s writes by the end of that tick, and keeps the order across ticks', async () => {
    client = await connected();
    client.write('one,');
    client.write('two,');
    await new Promise((r) => setImmediate(r));
    expect(client.writableCorked).toBe(0);
    client.write('three');
    await until('one,two,three');
  });

  it('coalesces a socket once, however often it is asked to', async () => {
    client = await connected();
    coalesceWritesPerTick(client);
    coalesceWritesPerTick(client);
    client.write('x');
    expect(client.writableCorked).toBe(1);
    await until('x');
  });
});

describe('a Redis connection from connectRedis', () => {
  let redis: Redis;
  let admin: Redis;
  const key = `test-coalesced-writes-${process.pid}-${Date.now()}`;

  beforeAll(async () => {
    redis = (await connectRedis({ kind: 'single', url: inject('redisUrl') }, 'worker', 'test-coalesced-writes')) as Redis;
    admin = new Redis(inject('redisUrl'));
  });

  afterAll(async () => {
    await redis?.del(key).catch(() => undefined);
    redis?.disconnect();
    await admin?.quit();
  });

  /** Resolves once the connection's current socket is the coalescing kind, i.e. ioredis announced it. */
  async function coalescing(): Promise<void> {
    for (let i = 0; i < 500; i++) {
      if (redis.status === 'ready') {
        void redis.ping();
        if (redis.stream.writableCorked === 1) return;
      }
      await new Promise((r) => setTimeout(r, 10));
    }
    throw new Error('the connection never coalesced its writes');
  }

  async function answersEverything(): Promise<void> {
    const count = 500;
    const answers = await Promise.all(Array.from({ length: count }, (_, i) => redis.rpush(key, String(i))));
    expect(answers).toEqual(Array.from({ length: count }, (_, i) => i + 1));
    expect(await redis.lrange(key, 0, -1)).toEqual(Array.from({ length: count }, (_, i) => String(i)));
    const piped = await redis.pipeline().llen(key).lindex(key, -1).del(key).exec();
    expect(piped).toEqual([[null, count], [null, String(count - 1)], [null, 1]]);
  }

  it('answers every command issued in one tick, in order, pipelines included', async () => {
    await coalescing();
    await answersEverything();
  });

  it('coalesces again on the socket it reconnects with, and loses nothing', async () => {
    const id = await redis.client('ID');
    const before = redis.stream;
    await admin.client('KILL', 'ID', String(id));
    for (let i = 0; i < 500 && (redis.stream === before || redis.status !== 'ready'); i++) await new Promise((r) => setTimeout(r, 10));
    expect(redis.stream).not.toBe(before);
    await coalescing();
    await answersEverything();
  });
});
