/**
 * Which job failures are Redis being away (tried again until it is back,
 * never given up) and which are the job's own (given up after a bounded
 * number of tries). Real errors where a test can make them: a Redis that
 * refuses connections, a script that raises on a record it cannot decode.
 */
import { Redis } from 'ioredis';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { isRedisUnavailable } from '../../src/redis/errors.js';
import { freePort } from '../support/global-redis.js';

describe('isRedisUnavailable', () => {
  const clients: Redis[] = [];
  afterAll(() => {
    for (const client of clients) client.disconnect();
  });

  it('a Redis nobody listens on is an outage', async () => {
    const client = new Redis({ port: await freePort(), lazyConnect: true, enableOfflineQueue: false, maxRetriesPerRequest: 0, retryStrategy: () => null });
    clients.push(client);
    // Its failures are asserted below, not logged as unhandled.
    client.on('error', () => {});
    const refused = await client.connect().then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(isRedisUnavailable(refused), String(refused)).toBe(true);
    const unwritable = await client.get('any').then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(isRedisUnavailable(unwritable), String(unwritable)).toBe(true);
  });

  it('a script raising on a record it cannot decode is not', async () => {
    const client = new Redis(inject('redisUrl'));
    clients.push(client);
    const raised = await client.eval('return cjson.decode(ARGV[1])', 0, '{"message":"\\ud800"}').then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(raised).toBeInstanceOf(Error);
    expect(isRedisUnavailable(raised), String(raised)).toBe(false);
  });

  it.each([
    ['LOADING Redis is loading the dataset in memory', true],
    ["READONLY You can't write against a read only replica.", true],
    ["OOM command not allowed when used memory > 'maxmemory'.", true],
    ['MISCONF Redis is configured to save RDB snapshots, but it is currently not able to persist on disk.', true],
    ['CLUSTERDOWN The cluster is down', true],
    ['TRYAGAIN Multiple keys request during rehashing of slot', true],
    ['UNBLOCKED force unblock from blocking operation, instance state changed (master -> replica?)', true],
    ['NOREPLICAS 0 of 1 replicas acknowledged the write within 1000 ms', true],
    ['ERR WAIT cannot be used with replica instances. Please also note that …', true],
    ['Too many Cluster redirections. Last error: ReplyError: CLUSTERDOWN The cluster is down', true],
    ['Connection is closed.', true],
    ['Command timed out', true],
    ['Reached the max retries per request limit (which is 20). Refer to "maxRetriesPerRequest" option for details.', true],
    ['write EPIPE', true],
    ["Cannot read properties of undefined (reading 'key')", false],
    ['Unexpected token o in JSON at position 1', false],
    ['the stored record of update upd_1 of incident inc_1 cannot be read: not an update in JSON', false],
    ['a room is busy', false],
  ])('%s → outage: %s', (message, outage) => {
    expect(isRedisUnavailable(new Error(message))).toBe(outage);
  });
});
