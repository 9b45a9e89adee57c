/**
 * Audiences live in one Redis hash, name → JSON, so fan-out reads them all in
 * one round trip. Edits from outside the API (an unsubscribe, a webhook that
 * answered 410) are compare-and-set, so a concurrent PUT wins or loses whole,
 * never half. (WATCH would not do: the connection is shared by requests.)
 */
import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import { emailKey, webhookSecrets, type Audience } from '../domain/audience.js';
import type { Keys } from './keys.js';
import { LuaScript, scriptErrorCode } from './lua-script.js';

/** There are as many audiences as allowed; a new one is refused (replacing one is not). */
export class AudienceLimitError extends Error {
  constructor(readonly limit: number) {
    super(`there are already ${limit} audiences, the most allowed; delete one or raise the limit`);
    this.name = 'AudienceLimitError';
  }
}

/**
 * KEYS: audiences hash, version. ARGV: name, JSON, new version, most audiences.
 * Stores the audience unless it is a new one beyond the limit (error LIMIT):
 * counting and adding in one script, so concurrent PUTs cannot overshoot.
 */
const PUT = new LuaScript(
  'audience-put',
  `if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 and redis.call('HLEN', KEYS[1]) >= tonumber(ARGV[4]) then
  return redis.error_reply('LIMIT')
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('SET', KEYS[2], ARGV[3])
return 1`,
);

/** KEYS: audiences hash, version. ARGV: name, expected JSON, new JSON, new version. Returns 1 if swapped. */
const COMPARE_AND_SET = new LuaScript(
  'audience-cas',
  `if redis.call('HGET', KEYS[1], ARGV[1]) ~= ARGV[2] then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
redis.call('SET', KEYS[2], ARGV[4])
return 1`,
);

/** Every audience as of one version of the hash. */
export interface AudienceSnapshot {
  readonly version: string;
  /** By name. Shared by every caller until the next change: never modify. */
  readonly audiences: ReadonlyMap<string, Readonly<Audience>>;
}

export type AudienceInput = Omit<Audience, 'name' | 'createdAt' | 'updatedAt'>;

export class AudienceStore {
  #snapshot: AudienceSnapshot | undefined;
  #secrets: { version: string; secrets: ReadonlyMap<string, string> } | undefined;

  constructor(
    private readonly redis: Redis,
    private readonly keys: Keys,
  ) {}

  /**
   * Every audience, parsed once per process and change: planning a
   * broadcast and answering a posted update read the audiences every time,
   * and an audience of 10,000 addresses is a megabyte of JSON. Asking
   * whether anything changed is one small read.
   */
  async snapshot(): Promise<AudienceSnapshot> {
    let version = await this.redis.get(this.keys.audiencesVersion);
    if (version === null) {
      // Audiences from before versions existed, or a Redis emptied under us: a version of their own.
      await this.redis.set(this.keys.audiencesVersion, randomUUID(), 'NX');
      version = await this.redis.get(this.keys.audiencesVersion);
    }
    if (this.#snapshot !== undefined && this.#snapshot.version === version) return this.#snapshot;
    const [[, current], [, all]] = (await this.redis.multi().get(this.keys.audiencesVersion).hgetall(this.keys.audiences).exec()) as [
      [unknown, string | null],
      [unknown, Record<string, string>],
    ];
    const audiences = new Map(Object.entries(all).map(([name, json]) => [name, JSON.parse(json) as Audience]));
    this.#snapshot = { version: current ?? '', audiences };
    return this.#snapshot;
  }

  /**
   * Stores an audience whole, replacing one of that name.
   *
   * @param maxAudiences - most audiences that may exist; a new one beyond it is refused
   * @throws {@link AudienceLimitError} when the audience is new and there are `maxAudiences` already
   */
  async put(name: string, input: AudienceInput, maxAudiences = Number.MAX_SAFE_INTEGER, now = new Date()): Promise<{ audience: Audience; created: boolean }> {
    const previous = await this.get(name);
    const audience: Audience = {
      name,
      ...input,
      createdAt: previous?.createdAt ?? now.toISOString(),
      updatedAt: now.toISOString(),
    };
    try {
      await PUT.run(this.redis, [this.keys.audiences, this.keys.audiencesVersion], [name, JSON.stringify(audience), randomUUID(), maxAudiences]);
    } catch (error) {
      if (scriptErrorCode(error) === 'LIMIT') throw new AudienceLimitError(maxAudiences);
      throw error;
    }
    return { audience, created: previous === null };
  }

  async get(name: string): Promise<Audience | null> {
    const json = await this.redis.hget(this.keys.audiences, name);
    return json === null ? null : (JSON.parse(json) as Audience);
  }

  /** The named audiences that exist, in the order named. */
  async getMany(names: readonly string[]): Promise<Audience[]> {
    if (names.length === 0) return [];
    const values = await this.redis.hmget(this.keys.audiences, ...names);
    return values.filter((v): v is string => v !== null).map((v) => JSON.parse(v) as Audience);
  }

  /** Every audience, sorted by name. */
  async list(): Promise<Audience[]> {
    const all = await this.redis.hvals(this.keys.audiences);
    return all.map((v) => JSON.parse(v) as Audience).sort((a, b) => a.name.localeCompare(b.name));
  }

  async delete(name: string): Promise<boolean> {
    const [[, removed]] = (await this.redis.multi().hdel(this.keys.audiences, name).set(this.keys.audiencesVersion, randomUUID()).exec()) as [[unknown, number]];
    return removed === 1;
  }

  /** Removes an email recipient from the named audiences; returns those it was removed from. */
  async removeRecipient(names: readonly string[], address: string, now = new Date()): Promise<string[]> {
    const key = emailKey(address);
    return this.edit(names, now, (audience) => {
      const before = audience.email?.recipients ?? [];
      const after = before.filter((r) => emailKey(r) !== key);
      if (after.length === before.length || audience.email === undefined) return false;
      audience.email = { ...audience.email, recipients: after };
      return true;
    });
  }

  /** Marks a webhook URL disabled (it answered 410 Gone) in every audience that has it. */
  async disableWebhook(url: string, now = new Date()): Promise<string[]> {
    const names = await this.redis.hkeys(this.keys.audiences);
    return this.edit(names, now, (audience) => {
      let changed = false;
      for (const hook of audience.webhooks ?? []) {
        if (hook.url === url && hook.disabledAt === undefined) {
          hook.disabledAt = now.toISOString();
          changed = true;
        }
      }
      return changed;
    });
  }

  /**
   * Each webhook URL's signing secret, from the audiences alone (delivery
   * records carry none). Kept per process and change like {@link snapshot},
   * but only the URL → secret pairs: a worker need not hold every audience.
   */
  async webhookSecrets(): Promise<ReadonlyMap<string, string>> {
    const version = await this.redis.get(this.keys.audiencesVersion);
    const cached = this.#secrets;
    if (cached !== undefined && version !== null && cached.version === version) return cached.secrets;
    const [[, current], [, all]] = (await this.redis.multi().get(this.keys.audiencesVersion).hvals(this.keys.audiences).exec()) as [
      [unknown, string | null],
      [unknown, string[]],
    ];
    const secrets = webhookSecrets(all.map((json) => JSON.parse(json) as Pick<Audience, 'webhooks'>));
    if (current !== null) this.#secrets = { version: current, secrets };
    return secrets;
  }

  private async edit(names: readonly string[], now: Date, change: (audience: Audience) => boolean): Promise<string[]> {
    const edited: string[] = [];
    for (const name of names) {
      for (let attempt = 0; attempt < 10; attempt++) {
        const json = await this.redis.hget(this.keys.audiences, name);
        if (json === null) break;
        const audience = JSON.parse(json) as Audience;
        if (!change(audience)) break;
        audience.updatedAt = now.toISOString();
        const swapped = await COMPARE_AND_SET.run(this.redis, [this.keys.audiences, this.keys.audiencesVersion], [name, json, JSON.stringify(audience), randomUUID()]);
        if (swapped === 1) {
          edited.push(name);
          break;
        }
      }
    }
    return edited;
  }
}
