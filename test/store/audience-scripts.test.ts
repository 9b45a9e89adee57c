/**
 * The audience store's scripts, run directly against a real Redis: the
 * audience, its summary and the audiences' version change together; a new
 * audience beyond the limit is refused, and a compare-and-set loses whole.
 */
import { describe, expect, it } from 'vitest';
import { scriptHarness } from './scripts.js';

const h = scriptHarness('audience-scripts');
const summaries = () => `${h.keys.audiences}:summaries`;
const keys = () => [h.keys.audiences, h.keys.audiencesVersion, summaries()];

async function stored() {
  return {
    audiences: await h.redis.hgetall(h.keys.audiences),
    summaries: await h.redis.hgetall(summaries()),
    version: await h.redis.get(h.keys.audiencesVersion),
  };
}

describe('put-audience', () => {
  it('stores the audience, its summary and the new version; replacing one at the limit is allowed, a new one beyond it is LIMIT', async () => {
    expect(await h.run('put-audience', keys(), ['partners', '{"name":"partners"}', 'v1', 2, '{"s":1}'])).toBe(1);
    expect(await h.run('put-audience', keys(), ['press', '{"name":"press"}', 'v2', 2, '{"s":2}'])).toBe(1);
    expect(await stored()).toEqual({
      audiences: { partners: '{"name":"partners"}', press: '{"name":"press"}' },
      summaries: { partners: '{"s":1}', press: '{"s":2}' },
      version: 'v2',
    });
    expect(await h.run('put-audience', keys(), ['partners', '{"name":"partners","x":1}', 'v3', 2, '{"s":3}'])).toBe(1);
    const before = await stored();
    expect(before.version).toBe('v3');
    expect(await h.errorOf('put-audience', keys(), ['staff', '{"name":"staff"}', 'v4', 2, '{"s":4}'])).toBe('LIMIT');
    expect(await stored()).toEqual(before);
  });
});

describe('swap-audience', () => {
  it('swaps when the audience is still what was read (once: the same swap again finds it changed), and changes nothing otherwise', async () => {
    await h.run('put-audience', keys(), ['ops', '{"r":["a","b"]}', 'v10', 100, '{"n":2}']);
    expect(await h.run('swap-audience', keys(), ['ops', '{"r":["a","b"]}', '{"r":["a"]}', 'v11', '{"n":1}'])).toBe(1);
    expect(await h.redis.hget(h.keys.audiences, 'ops')).toBe('{"r":["a"]}');
    expect(await h.redis.hget(summaries(), 'ops')).toBe('{"n":1}');
    expect(await h.redis.get(h.keys.audiencesVersion)).toBe('v11');
    const before = await stored();
    expect(await h.run('swap-audience', keys(), ['ops', '{"r":["a","b"]}', '{"r":["a"]}', 'v12', '{"n":1}'])).toBe(0);
    expect(await h.run('swap-audience', keys(), ['gone', '{"r":[]}', '{"r":["c"]}', 'v13', '{"n":1}'])).toBe(0);
    expect(await stored()).toEqual(before);
  });
});
