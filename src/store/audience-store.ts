/**
 * Audiences live in one Redis hash, name → JSON, so fan-out reads them all in
 * one round trip. Beside it, a hash of each audience's summary (its
 * components and target counts), written by the same script: the API
 * chooses audiences and counts a broadcast's reach from summaries, never
 * parsing 100,000 addresses per request. Edits from outside the API (an
 * unsubscribe, a webhook that answered 410) are compare-and-set, so a
 * concurrent PUT wins or loses whole, never half. (WATCH would not do: the
 * connection is shared by requests.)
 *
 * A large audience takes longer to parse, resolve and summarise than any
 * request may hold the event loop (contract §3: 100 ms), so that work is done
 * an audience and a slice at a time, letting the loop turn in between.
 */
import { randomUUID } from 'node:crypto';
import type { RedisClient } from '../redis/connection.js';
import { emailKey, summarizeInSteps, webhookSecrets, type Audience, type AudienceSummary, type Steps } from '../domain/audience.js';
import { inTurns, nextTurn } from '../event-loop.js';
import type { Keys } from './keys.js';
import { RedisScript, scriptErrorCode } from './redis-script.js';

/** An audience this small is read or written in well under a millisecond: no turns of its own (they would add latency, not save any). */
const SMALL_AUDIENCE_BYTES = 64 * 1024;

/**
 * An audience's stored bytes, decoded and parsed in turns of their own (each
 * takes milliseconds for 5 MB), then the loop turns again. Bytes, not
 * strings, from Redis: ioredis turns a 5 MB reply into a string in one go,
 * holding the loop five times as long as decoding the bytes here does.
 */
async function parseInTurns(json: Buffer): Promise<Audience> {
  if (json.length < SMALL_AUDIENCE_BYTES) return JSON.parse(json.toString('utf8')) as Audience;
  await nextTurn();
  const text = json.toString('utf8');
  await nextTurn();
  const audience = JSON.parse(text) as Audience;
  await nextTurn();
  return audience;
}

/** An audience as the bytes to store, written and encoded in turns of their own; bytes go to Redis as they are. */
async function inTurnsToBytes(audience: Audience): Promise<Buffer> {
  const text = JSON.stringify(audience);
  if (text.length < SMALL_AUDIENCE_BYTES) return Buffer.from(text);
  await nextTurn();
  const bytes = Buffer.from(text);
  await nextTurn();
  return bytes;
}

/** The hash of audience summaries, beside the audiences hash. */
const summariesKey = (keys: Keys): string => `${keys.audiences}:summaries`;

/** There are as many audiences as allowed; a new one is refused (replacing one is not). */
export class AudienceLimitError extends Error {
  constructor(readonly limit: number) {
    super(`there are already ${limit} audiences, the most allowed; delete one or raise the limit`);
    this.name = 'AudienceLimitError';
  }
}

const PUT = new RedisScript('put-audience');
const COMPARE_AND_SET = new RedisScript('swap-audience');

/** Every audience's summary as of one version of the audiences. */
export interface AudienceSummaries {
  readonly version: string;
  /** By name. Shared by every caller until the next change: never modify. */
  readonly summaries: ReadonlyMap<string, Readonly<AudienceSummary>>;
}

export type AudienceInput = Omit<Audience, 'name' | 'createdAt' | 'updatedAt'>;

export class AudienceStore {
  #summaries: AudienceSummaries | undefined;
  #secrets: { version: string; secrets: Promise<ReadonlyMap<string, string>> } | undefined;

  constructor(
    private readonly redis: RedisClient,
    private readonly keys: Keys,
  ) {}

  /**
   * Every audience's summary, read once per process and change: choosing
   * audiences and counting a posted update's reach read them every time.
   * Asking whether anything changed is one small read. An audience stored
   * before summaries existed is summarised here (not stored: its next
   * write stores one).
   */
  async summaries(): Promise<AudienceSummaries> {
    let version = await this.redis.get(this.keys.audiencesVersion);
    if (version === null) {
      // Audiences from before versions existed, or a Redis emptied under us: a version of their own.
      await this.redis.set(this.keys.audiencesVersion, randomUUID(), 'NX');
      version = await this.redis.get(this.keys.audiencesVersion);
    }
    if (this.#summaries !== undefined && this.#summaries.version === version) return this.#summaries;
    const [[, current], [, names], [, stored]] = (await this.redis
      .multi()
      .get(this.keys.audiencesVersion)
      .hkeys(this.keys.audiences)
      .hgetall(summariesKey(this.keys))
      .exec()) as [[unknown, string | null], [unknown, string[]], [unknown, Record<string, string>]];
    const summaries = new Map<string, AudienceSummary>();
    for (const name of names) {
      const json = stored[name];
      if (json !== undefined) {
        summaries.set(name, JSON.parse(json) as AudienceSummary);
        continue;
      }
      const audience = await this.get(name);
      if (audience !== null) summaries.set(name, await inTurns(summarizeInSteps(audience)));
      await nextTurn();
    }
    this.#summaries = { version: current ?? '', summaries };
    return this.#summaries;
  }

  /**
   * Stores an audience whole, replacing one of that name.
   *
   * @param maxAudiences - most audiences that may exist; a new one beyond it is refused
   * @throws {@link AudienceLimitError} when the audience is new and there are `maxAudiences` already
   */
  async put(name: string, input: AudienceInput, maxAudiences = Number.MAX_SAFE_INTEGER, now = new Date()): Promise<{ audience: Audience; created: boolean }> {
    const createdAt = await this.createdAt(name);
    const audience: Audience = {
      name,
      ...input,
      createdAt: createdAt ?? now.toISOString(),
      updatedAt: now.toISOString(),
    };
    const summary = await inTurns(summarizeInSteps(audience));
    await nextTurn();
    const json = await inTurnsToBytes(audience);
    try {
      await PUT.run(
        this.redis,
        [this.keys.audiences, this.keys.audiencesVersion, summariesKey(this.keys)],
        [name, json, randomUUID(), maxAudiences, JSON.stringify(summary)],
      );
    } catch (error) {
      if (scriptErrorCode(error) === 'LIMIT') throw new AudienceLimitError(maxAudiences);
      throw error;
    }
    return { audience, created: createdAt === null };
  }

  /** When the named audience was created, from its summary (the audience itself only if it has none); null if it does not exist. */
  private async createdAt(name: string): Promise<string | null> {
    const summary = await this.redis.hget(summariesKey(this.keys), name);
    if (summary !== null) return (JSON.parse(summary) as AudienceSummary).createdAt;
    return (await this.get(name))?.createdAt ?? null;
  }

  async get(name: string): Promise<Audience | null> {
    const json = await this.redis.hgetBuffer(this.keys.audiences, name);
    return json === null ? null : parseInTurns(json);
  }

  /** The named audiences that exist, in the order named; parsed one at a time, the event loop turning in between. */
  async getMany(names: readonly string[]): Promise<Audience[]> {
    if (names.length === 0) return [];
    return this.parseEach(await this.redis.hmgetBuffer(this.keys.audiences, ...names));
  }

  /** Every audience, sorted by name. */
  async list(): Promise<Audience[]> {
    return (await this.parseEach(await this.redis.hvalsBuffer(this.keys.audiences))).sort((a, b) => a.name.localeCompare(b.name));
  }

  /** Parses audiences read as bytes, one at a time. */
  private async parseEach(values: ReadonlyArray<Buffer | null>): Promise<Audience[]> {
    const audiences: Audience[] = [];
    for (const json of values) {
      if (json === null) continue;
      audiences.push(await parseInTurns(json));
    }
    return audiences;
  }

  async delete(name: string): Promise<boolean> {
    const [[, removed]] = (await this.redis
      .multi()
      .hdel(this.keys.audiences, name)
      .hdel(summariesKey(this.keys), name)
      .set(this.keys.audiencesVersion, randomUUID())
      .exec()) as [[unknown, number]];
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
    const { summaries } = await this.summaries();
    const names = [...summaries].filter(([, s]) => s.targets.webhook > 0).map(([name]) => name);
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
   * records carry none). Kept per process and change like {@link summaries},
   * but only the URL → secret pairs: a worker need not hold every audience.
   * Read once per version however many jobs ask at once: every webhook job
   * asks as it starts, and the 16 that start a fan-out together each read
   * and parsed every audience (bench:scale, 160,000 webhooks: 16 replies of
   * 15 MB, the workers' RSS at 420–450 MB instead of 260–280).
   */
  async webhookSecrets(): Promise<ReadonlyMap<string, string>> {
    const { version, summaries } = await this.summaries();
    const cached = this.#secrets;
    if (cached !== undefined && cached.version === version) return cached.secrets;
    // Only audiences with webhooks are read, one at a time: most are lists of addresses.
    const names = [...summaries].filter(([, s]) => s.targets.webhook + s.disabledWebhooks > 0).map(([name]) => name);
    const secrets = this.getMany(names).then(webhookSecrets);
    // Stored for the version the summaries were read at: a change meanwhile shows as a new version next time.
    const reading = { version, secrets };
    this.#secrets = reading;
    // A failed read is not kept: the next job reads again.
    secrets.catch(() => {
      if (this.#secrets === reading) this.#secrets = undefined;
    });
    return secrets;
  }

  private async edit(names: readonly string[], now: Date, change: (audience: Audience) => boolean): Promise<string[]> {
    const edited: string[] = [];
    for (const name of names) {
      for (let attempt = 0; attempt < 10; attempt++) {
        const json = await this.redis.hgetBuffer(this.keys.audiences, name);
        if (json === null) break;
        const audience = await parseInTurns(json);
        if (!change(audience)) break;
        audience.updatedAt = now.toISOString();
        const summary = await inTurns(summarizeInSteps(audience));
        await nextTurn();
        const swapped = await COMPARE_AND_SET.run(
          this.redis,
          [this.keys.audiences, this.keys.audiencesVersion, summariesKey(this.keys)],
          [name, json, await inTurnsToBytes(audience), randomUUID(), JSON.stringify(summary)],
        );
        if (swapped === 1) {
          edited.push(name);
          break;
        }
      }
    }
    return edited;
  }
}
