/**
 * `Idempotency-Key` results. A key is claimed before the request runs, so two
 * concurrent requests with one key cannot both broadcast; the stored result
 * outlives restarts because it is in Redis.
 */
import type { Redis } from 'ioredis';
import type { Keys } from './keys.js';

/** How long a stored result is replayed. */
const RESULT_TTL_SECONDS = 24 * 60 * 60;
/** How long a claim survives a process that died mid-request. */
const CLAIM_TTL_SECONDS = 60;

export interface StoredResponse {
  statusCode: number;
  body: unknown;
}

export type Claim =
  | { outcome: 'claimed' }
  | { outcome: 'replay'; response: StoredResponse }
  | { outcome: 'mismatch' }
  | { outcome: 'in-progress' };

interface Entry {
  fingerprint: string;
  response?: StoredResponse;
}

export class IdempotencyStore {
  constructor(
    private readonly redis: Redis,
    private readonly keys: Keys,
  ) {}

  /** `fingerprint` identifies the request (route + body). */
  async claim(tokenName: string, key: string, fingerprint: string): Promise<Claim> {
    const redisKey = this.keys.idempotency(tokenName, key);
    const entry: Entry = { fingerprint };
    const set = await this.redis.set(redisKey, JSON.stringify(entry), 'EX', CLAIM_TTL_SECONDS, 'NX');
    if (set === 'OK') return { outcome: 'claimed' };
    const json = await this.redis.get(redisKey);
    if (json === null) return this.claim(tokenName, key, fingerprint);
    const existing = JSON.parse(json) as Entry;
    if (existing.fingerprint !== fingerprint) return { outcome: 'mismatch' };
    if (existing.response === undefined) return { outcome: 'in-progress' };
    return { outcome: 'replay', response: existing.response };
  }

  async complete(tokenName: string, key: string, fingerprint: string, response: StoredResponse): Promise<void> {
    const entry: Entry = { fingerprint, response };
    await this.redis.set(this.keys.idempotency(tokenName, key), JSON.stringify(entry), 'EX', RESULT_TTL_SECONDS);
  }

  /** Frees a claim whose request failed, so the caller may retry with the same key. */
  async release(tokenName: string, key: string): Promise<void> {
    await this.redis.del(this.keys.idempotency(tokenName, key));
  }
}
