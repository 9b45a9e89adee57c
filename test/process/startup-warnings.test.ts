/**
 * At startup Herald warns when the links it puts in messages would not work
 * for partners: HERALD_PUBLIC_URL unset while the API listens on a
 * non-loopback HOST (links would point at this server's own address), or a
 * plain-http public URL (RFC 8058 one-click unsubscribe needs HTTPS). The
 * default, all on loopback, warns of nothing. The warnings are logged before
 * the listening line, so that line is the signal that none is coming.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { freePort } from '../support/global-redis.js';
import { killAllChildren, processEnv, spawnHerald, type LogLine } from '../support/process.js';

/** tsx and Herald start slowly on a loaded 2-core machine. */
const START_WITHIN_MS = 60_000;
/** pino's level number for `warn`. */
const WARN = 40;

afterAll(killAllChildren);

async function startupWarnings(extra: Record<string, string>): Promise<{ warnings: LogLine[]; port: number }> {
  const port = await freePort();
  const herald = spawnHerald(
    processEnv({
      HERALD_API_TOKENS: 'ops:warnings-write-token-1f0c:write',
      REDIS_URL: inject('redisUrl'),
      HERALD_PREFIX: `warn-${randomUUID().slice(0, 8)}`,
      PORT: String(port),
      ...extra,
    }),
  );
  try {
    await herald.listening(START_WITHIN_MS);
    return { warnings: herald.logs().filter((l) => l.level === WARN && /HERALD_PUBLIC_URL/.test(l.msg)), port };
  } finally {
    await herald.kill();
  }
}

describe('startup warnings about the links in messages', () => {
  it('HERALD_PUBLIC_URL unset and HOST=0.0.0.0: links would point at localhost', async () => {
    const { warnings, port } = await startupWarnings({ HOST: '0.0.0.0' });
    expect(warnings).toHaveLength(1);
    expect(warnings[0]!.msg).toContain(`will point at http://127.0.0.1:${port}`);
    expect(warnings[0]!.msg).toContain('set HERALD_PUBLIC_URL');
  }, START_WITHIN_MS + 10_000);

  it('HERALD_PUBLIC_URL on localhost while HOST=0.0.0.0: the same, whatever the port', async () => {
    const { warnings } = await startupWarnings({ HOST: '0.0.0.0', HERALD_PUBLIC_URL: 'http://localhost:3000' });
    expect(warnings).toHaveLength(1);
    expect(warnings[0]!.msg).toContain('will point at http://localhost:3000');
  }, START_WITHIN_MS + 10_000);

  it('HERALD_PUBLIC_URL is plain http on a public name: one-click unsubscribe needs HTTPS', async () => {
    const { warnings } = await startupWarnings({ HERALD_PUBLIC_URL: 'http://status.example.com' });
    expect(warnings).toHaveLength(1);
    expect(warnings[0]!.msg).toMatch(/plain http.*RFC 8058/);
    expect(warnings[0]!.msg).toContain('http://status.example.com');
  }, START_WITHIN_MS + 10_000);

  it('the default (HOST and links on loopback) and an https public URL warn of nothing', async () => {
    expect((await startupWarnings({})).warnings).toEqual([]);
    expect((await startupWarnings({ HOST: '0.0.0.0', HERALD_PUBLIC_URL: 'https://status.example.com' })).warnings).toEqual([]);
  }, START_WITHIN_MS * 2 + 10_000);
});
