/**
 * Herald's Lua scripts. Each lives in its own file under `src/store/lua/`,
 * whose header documents its KEYS and ARGV, and is registered on a Redis
 * connection with ioredis `defineCommand` (run by SHA, sent again after a
 * Redis restart forgets it). Scripts are how Herald changes several keys at
 * once; each touches the keys it declares in KEYS and no others, all in one
 * hash slot, so that a Redis Cluster can run it.
 *
 * A script may start with `-- uses: <library>` lines: the library files
 * (`src/store/lua/lib/<library>.lua`) are put before it, so that helpers
 * shared by several scripts are written once.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { RedisClient } from '../redis/connection.js';
import { packageRoot } from '../package-root.js';

type Arg = string | number | Buffer;
type Command = (numberOfKeys: number, ...keysAndArgs: Arg[]) => Promise<unknown>;

/**
 * The directory holding the `.lua` files: found by walking up from this
 * module to the package root, so it is the same from `src/` (tests) and
 * `dist/src/` (compiled).
 */
export function luaDir(from: string | URL = import.meta.url): string {
  const root = packageRoot(from);
  if (root === undefined) throw new Error(`cannot find Herald's Lua scripts: no package.json above ${path.dirname(fileURLToPath(from))}`);
  return path.join(root, 'src', 'store', 'lua');
}

/** A script's source with the libraries it names in `-- uses:` lines put before it. */
export function scriptSource(name: string, dir: string = luaDir()): string {
  const own = readFileSync(path.join(dir, `${name}.lua`), 'utf8');
  const libraries = [...own.matchAll(/^-- uses: ([\w-]+)\s*$/gm)].map((m) => m[1]!);
  return [...libraries.map((lib) => readFileSync(path.join(dir, 'lib', `${lib}.lua`), 'utf8')), own].join('\n');
}

export class RedisScript {
  /** The ioredis command it is registered as (`herald:` names cannot clash with Redis's own). */
  readonly command: string;
  readonly source: string;

  constructor(readonly name: string) {
    this.source = scriptSource(name);
    this.command = `herald_${name.replace(/-/g, '_')}`;
  }

  /** Registers the script on a connection. */
  defineOn(redis: RedisClient): void {
    if (typeof (redis as unknown as Record<string, unknown>)[this.command] !== 'function') {
      redis.defineCommand(this.command, { lua: this.source });
    }
  }

  /** `args` may be bytes: a 5 MB argument is sent as it is, not converted from a string on the event loop. */
  run(redis: RedisClient, keys: readonly string[], args: readonly Arg[]): Promise<unknown> {
    this.defineOn(redis);
    return this.commandOf(redis)(keys.length, ...keys, ...args);
  }

  private commandOf(redis: RedisClient): Command {
    const command = (redis as unknown as Record<string, Command>)[this.command]!;
    return command.bind(redis);
  }
}

/** Registers scripts on a connection at once (a script also registers itself on first use). */
export function defineScripts(redis: RedisClient, scripts: readonly RedisScript[]): void {
  for (const script of scripts) script.defineOn(redis);
}

/**
 * The code a script raised with `redis.error_reply('CODE')`, or undefined for
 * any other error. Redis 7 prefixes such replies with "ERR ".
 */
export function scriptErrorCode(error: unknown): string | undefined {
  if (!(error instanceof Error)) return undefined;
  return /^(?:ERR )?([A-Z]+)$/.exec(error.message.trim())?.[1];
}
