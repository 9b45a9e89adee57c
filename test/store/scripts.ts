/**
 * Running Herald's Lua scripts directly in a test: the run's Redis (see
 * test/support/global-redis.ts), a fresh key prefix per suite, and each
 * script as the stores load it (`src/store/lua/<name>.lua` with its
 * libraries, through ioredis defineCommand).
 */
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, inject } from 'vitest';
import { keysFor, type Keys } from '../../src/store/keys.js';
import { RedisScript, scriptErrorCode } from '../../src/store/redis-script.js';

export interface ScriptHarness {
  redis: Redis;
  keys: Keys;
  /** Runs the script of that name. */
  run(name: string, keys: readonly string[], args: ReadonlyArray<string | number>): Promise<unknown>;
  /** The error code the script raised (NOTFOUND, STALE, …); fails when it raised none. */
  errorOf(name: string, keys: readonly string[], args: ReadonlyArray<string | number>): Promise<string | undefined>;
}

/** A harness for one `describe`: connected before its tests, under a prefix of its own, closed after. */
export function scriptHarness(label: string): ScriptHarness {
  const scripts = new Map<string, RedisScript>();
  const script = (name: string): RedisScript => {
    let found = scripts.get(name);
    if (found === undefined) scripts.set(name, (found = new RedisScript(name)));
    return found;
  };
  const harness = {
    redis: undefined as unknown as Redis,
    keys: undefined as unknown as Keys,
    run: (name: string, keys: readonly string[], args: ReadonlyArray<string | number>) => script(name).run(harness.redis, keys, args),
    async errorOf(name: string, keys: readonly string[], args: ReadonlyArray<string | number>) {
      try {
        await script(name).run(harness.redis, keys, args);
      } catch (error) {
        return scriptErrorCode(error) ?? String(error);
      }
      throw new Error(`${name} raised no error`);
    },
  };
  beforeAll(() => {
    harness.redis = new Redis(inject('redisUrl'));
    harness.keys = keysFor(`test-${label}-${randomUUID()}`);
  });
  afterAll(async () => {
    await harness.redis?.quit();
  });
  return harness;
}
