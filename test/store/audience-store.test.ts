/**
 * The audience store against a real Redis: webhook signing secrets are read
 * from the audiences once per version of them, however many delivery jobs
 * ask at the same moment (every webhook job asks as it starts, and a
 * fan-out starts 16 at once). What the store sends is recorded by its own
 * client as each command goes onto the socket (not with MONITOR: the shared
 * test Redis serves other files at the same time, and ioredis's monitor mode
 * can mistake another client's command arriving with MONITOR's OK for a reply).
 */
import { randomUUID } from 'node:crypto';
import { Redis, type Command } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it, inject } from 'vitest';
import { AudienceStore } from '../../src/store/audience-store.js';
import { keysFor, type Keys } from '../../src/store/keys.js';

const seen: string[][] = [];

/** An ioredis client that records every command it sends, as name and string arguments. */
class RecordingRedis extends Redis {
  override sendCommand(command: Command, stream?: Parameters<Redis['sendCommand']>[1]): unknown {
    seen.push([command.name, ...command.args.map(String)]);
    return super.sendCommand(command, stream);
  }
}

let redis: Redis;
let keys: Keys;
let audiences: AudienceStore;

beforeAll(() => {
  redis = new RecordingRedis(inject('redisUrl'));
  keys = keysFor(`test-audience-store-${randomUUID()}`);
  audiences = new AudienceStore(redis, keys);
});

afterAll(async () => {
  await redis?.quit();
});

/** The commands the store's client sent while `work` ran. */
async function commandsDuring(work: () => Promise<unknown>): Promise<string[][]> {
  const from = seen.length;
  await work();
  return seen.slice(from);
}

const readsOfAudiences = (commands: string[][]): number =>
  commands.filter(([command, key]) => /^hmget$|^hget$|^hgetall$|^hvals$/i.test(command ?? '') && key === keys.audiences).length;

const webhook = (i: number, secret: string) => ({ url: `https://blog${i}.example/hooks/status`, secret });

describe('webhook signing secrets', () => {
  it('sixteen jobs asking at once read the audiences once, and each gets every webhook\'s secret', async () => {
    await audiences.put('partners', { webhooks: [webhook(1, 'whsec_one'), webhook(2, 'whsec_two')] });
    await audiences.put('press', { webhooks: [webhook(3, 'whsec_three')], email: { recipients: ['desk@press.example'] } });
    await audiences.put('staff', { email: { recipients: ['ops@corp.example'] } });

    let answers: Array<ReadonlyMap<string, string>> = [];
    const commands = await commandsDuring(async () => {
      answers = await Promise.all(Array.from({ length: 16 }, () => audiences.webhookSecrets()));
    });

    expect(readsOfAudiences(commands)).toBe(1);
    for (const secrets of answers) {
      expect(Object.fromEntries(secrets)).toEqual({
        'https://blog1.example/hooks/status': 'whsec_one',
        'https://blog2.example/hooks/status': 'whsec_two',
        'https://blog3.example/hooks/status': 'whsec_three',
      });
    }
  });

  it('asked again with the audiences unchanged, reads none of them', async () => {
    await audiences.webhookSecrets();
    const commands = await commandsDuring(() => Promise.all(Array.from({ length: 4 }, () => audiences.webhookSecrets())));
    expect(readsOfAudiences(commands)).toBe(0);
  });

  it('after a secret is replaced, the jobs asking at once read the audiences once more and sign with the new secret', async () => {
    await audiences.webhookSecrets();
    await audiences.put('press', { webhooks: [webhook(3, 'whsec_rotated')] });

    let answers: Array<ReadonlyMap<string, string>> = [];
    const commands = await commandsDuring(async () => {
      answers = await Promise.all(Array.from({ length: 8 }, () => audiences.webhookSecrets()));
    });

    expect(readsOfAudiences(commands)).toBe(1);
    for (const secrets of answers) expect(secrets.get('https://blog3.example/hooks/status')).toBe('whsec_rotated');
  });

  it('a read that failed is not kept: the next job reads the audiences again', async () => {
    await audiences.put('mirrors', { webhooks: [webhook(4, 'whsec_four')] });
    const stored = await redis.hget(keys.audiences, 'mirrors');
    // Unreadable for a moment, the audiences' version unchanged.
    await redis.hset(keys.audiences, 'mirrors', '{"webhooks": [');
    await expect(audiences.webhookSecrets()).rejects.toThrow(SyntaxError);
    await redis.hset(keys.audiences, 'mirrors', stored!);

    let secrets: ReadonlyMap<string, string> = new Map();
    const commands = await commandsDuring(async () => {
      secrets = await audiences.webhookSecrets();
    });
    expect(readsOfAudiences(commands)).toBe(1);
    expect(secrets.get('https://blog4.example/hooks/status')).toBe('whsec_four');
  });
});
