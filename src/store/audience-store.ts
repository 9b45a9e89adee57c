/**
 * Audiences live in one Redis hash, name → JSON, so fan-out reads them all in
 * one round trip. Edits from outside the API (an unsubscribe, a webhook that
 * answered 410) are compare-and-set, so a concurrent PUT wins or loses whole,
 * never half. (WATCH would not do: the connection is shared by requests.)
 */
import type { Redis } from 'ioredis';
import { emailKey, type Audience } from '../domain/audience.js';
import type { Keys } from './keys.js';
import { LuaScript } from './lua-script.js';

/** KEYS: audiences hash. ARGV: name, expected JSON, new JSON. Returns 1 if swapped. */
const COMPARE_AND_SET = new LuaScript(
  'audience-cas',
  `if redis.call('HGET', KEYS[1], ARGV[1]) ~= ARGV[2] then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
return 1`,
);

export type AudienceInput = Omit<Audience, 'name' | 'createdAt' | 'updatedAt'>;

export class AudienceStore {
  constructor(
    private readonly redis: Redis,
    private readonly keys: Keys,
  ) {}

  async put(name: string, input: AudienceInput, now = new Date()): Promise<{ audience: Audience; created: boolean }> {
    const previous = await this.get(name);
    const audience: Audience = {
      name,
      ...input,
      createdAt: previous?.createdAt ?? now.toISOString(),
      updatedAt: now.toISOString(),
    };
    await this.redis.hset(this.keys.audiences, name, JSON.stringify(audience));
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
    return (await this.redis.hdel(this.keys.audiences, name)) === 1;
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

  private async edit(names: readonly string[], now: Date, change: (audience: Audience) => boolean): Promise<string[]> {
    const edited: string[] = [];
    for (const name of names) {
      for (let attempt = 0; attempt < 10; attempt++) {
        const json = await this.redis.hget(this.keys.audiences, name);
        if (json === null) break;
        const audience = JSON.parse(json) as Audience;
        if (!change(audience)) break;
        audience.updatedAt = now.toISOString();
        const swapped = await COMPARE_AND_SET.run(this.redis, [this.keys.audiences], [name, json, JSON.stringify(audience)]);
        if (swapped === 1) {
          edited.push(name);
          break;
        }
      }
    }
    return edited;
  }
}
