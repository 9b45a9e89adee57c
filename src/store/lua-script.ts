/**
 * A Lua script run by its SHA, loaded on first use and again after a Redis
 * restart (NOSCRIPT). Scripts are how Herald changes several keys atomically.
 */
import { createHash } from 'node:crypto';
import type { Redis, ChainableCommander } from 'ioredis';

export class LuaScript {
  readonly sha: string;

  constructor(
    readonly name: string,
    readonly source: string,
  ) {
    this.sha = createHash('sha1').update(source).digest('hex');
  }

  /** `args` may be bytes: a 5 MB argument is sent as it is, not converted from a string on the event loop. */
  async run(redis: Redis, keys: readonly string[], args: readonly (string | number | Buffer)[]): Promise<unknown> {
    try {
      return await redis.evalsha(this.sha, keys.length, ...keys, ...args);
    } catch (error) {
      if (error instanceof Error && error.message.startsWith('NOSCRIPT')) {
        return redis.eval(this.source, keys.length, ...keys, ...args);
      }
      throw error;
    }
  }

  /** Queues the script on a pipeline; the caller must have loaded it with {@link ensureLoaded}. */
  queue(pipeline: ChainableCommander, keys: readonly string[], args: readonly (string | number)[]): void {
    pipeline.evalsha(this.sha, keys.length, ...keys, ...args);
  }

  async ensureLoaded(redis: Redis): Promise<void> {
    const [exists] = (await redis.script('EXISTS', this.sha)) as number[];
    if (exists !== 1) await redis.script('LOAD', this.source);
  }
}

/**
 * The code a script raised with `redis.error_reply('CODE')`, or undefined for
 * any other error. Redis 7 prefixes such replies with "ERR ".
 */
export function scriptErrorCode(error: unknown): string | undefined {
  if (!(error instanceof Error)) return undefined;
  return /^(?:ERR )?([A-Z]+)$/.exec(error.message.trim())?.[1];
}
