/**
 * `Idempotency-Key` results. A key is claimed before the request runs, so two
 * concurrent requests with one key cannot both broadcast; the stored result
 * outlives restarts because it is in Redis.
 */
import type { RedisClient } from '../redis/connection.js';
import type { Keys } from './keys.js';

/** How long a stored result is replayed. */
const RESULT_TTL_SECONDS = 24 * 60 * 60;
/** How long a claim survives a process that died mid-request. */
const CLAIM_TTL_SECONDS = 60;
/** Default of HERALD_IDEMPOTENCY_MAX_BYTES: see `Config.idempotencyMaxBytes`. */
const DEFAULT_MAX_BYTES = 64 * 1024;

export interface StoredResponse {
  statusCode: number;
  body: unknown;
}

/** An answer too large to keep: the request was done, only how it ended is known. */
export interface UnkeptResponse {
  statusCode: number;
  /** Size of the answer that was not kept. */
  bytes: number;
}

export type Claim =
  | { outcome: 'claimed' }
  | { outcome: 'replay'; response: StoredResponse }
  | { outcome: 'not-kept'; response: UnkeptResponse }
  | { outcome: 'mismatch' }
  | { outcome: 'in-progress' };

interface Entry {
  fingerprint: string;
  response?: StoredResponse;
  unkept?: UnkeptResponse;
}

export class IdempotencyStore {
  /**
   * @param maxBytes - most bytes of an answer kept per key (and, checked by
   * the API before any work, of a request sent with a key)
   */
  constructor(
    private readonly redis: RedisClient,
    private readonly keys: Keys,
    readonly maxBytes = DEFAULT_MAX_BYTES,
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
    if (existing.unkept !== undefined) return { outcome: 'not-kept', response: existing.unkept };
    if (existing.response === undefined) return { outcome: 'in-progress' };
    return { outcome: 'replay', response: existing.response };
  }

  /**
   * Keeps the answer for replay. One larger than `maxBytes` (its JSON) is
   * not kept: the key then remembers that the request was done and how it
   * ended, so a retry is told so instead of running it again.
   */
  async complete(tokenName: string, key: string, fingerprint: string, response: StoredResponse): Promise<void> {
    const bytes = Buffer.byteLength(JSON.stringify(response.body ?? null));
    const entry: Entry =
      bytes > this.maxBytes ? { fingerprint, unkept: { statusCode: response.statusCode, bytes } } : { fingerprint, response };
    await this.redis.set(this.keys.idempotency(tokenName, key), JSON.stringify(entry), 'EX', RESULT_TTL_SECONDS);
  }

  /** Frees a claim whose request failed, so the caller may retry with the same key. */
  async release(tokenName: string, key: string): Promise<void> {
    await this.redis.del(this.keys.idempotency(tokenName, key));
  }
}
