/**
 * SIGTERM stops Herald, exit 0, within a bound even when Redis is already
 * gone (a QUIT or a queue close would otherwise wait for a reconnect forever).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { freePort } from '../support/global-redis.js';
import { killAllChildren, processEnv, spawnHerald, startOwnRedis, type OwnRedis } from '../support/process.js';

let redis: OwnRedis | undefined;
let dir: string | undefined;
afterEach(async () => {
  await killAllChildren();
  await redis?.kill();
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
});

describe('given Herald running and its Redis gone', () => {
  for (const role of ['all', 'workers'] as const) {
    it(`--role ${role}: SIGTERM exits 0 within the grace period plus a few seconds`, async () => {
      dir = mkdtempSync(join(tmpdir(), 'herald-shutdown-'));
      redis = await startOwnRedis(await freePort(), dir);
      const herald = spawnHerald(
        processEnv({
          REDIS_URL: redis.url,
          HERALD_API_TOKENS: 'ops:write-token-123:write',
          PORT: String(await freePort()),
          HERALD_SHUTDOWN_GRACE_MS: '1000',
          LOG_LEVEL: 'info',
        }),
        ['--role', role],
      );
      await herald.waitForLog(role === 'workers' ? /^Herald workers running/ : /^Herald listening on/, 60_000);
      await redis.kill();
      const started = Date.now();
      herald.child.kill('SIGTERM');
      const exit = await herald.waitForExit(15_000);
      expect(exit, herald.stdout() + herald.stderr()).toMatchObject({ code: 0 });
      // Grace (1 s) + the bounded time for closing connections (5 s); far from "forever".
      expect(Date.now() - started).toBeLessThan(9_000);
      expect(herald.logs().at(-1)?.msg).toMatch(/^stopped/);
    });
  }
});
