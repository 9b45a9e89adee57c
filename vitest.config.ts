import { createHash } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

/**
 * The X fake serves HTTPS with a test CA. Node reads NODE_EXTRA_CA_CERTS (one
 * file) only at process start, so before the test processes are forked it is
 * pointed at a bundle of the test CA plus whatever the environment already
 * trusted that way.
 */
function trustTestCa(): void {
  const testCa = readFileSync(fileURLToPath(new URL('./test/fixtures/tls/ca.pem', import.meta.url)), 'utf8');
  const existing = process.env.NODE_EXTRA_CA_CERTS;
  if (existing !== undefined && existsSync(existing) && readFileSync(existing, 'utf8').includes(testCa.trim())) return;
  const inherited = existing !== undefined && existsSync(existing) ? `${readFileSync(existing, 'utf8')}\n` : '';
  const contents = `${inherited}${testCa}`;
  // Named by its contents, so runs reuse one file instead of leaving one each.
  const bundle = join(tmpdir(), `herald-test-ca-${createHash('sha256').update(contents).digest('hex').slice(0, 16)}.pem`);
  if (!existsSync(bundle)) writeFileSync(bundle, contents);
  process.env.NODE_EXTRA_CA_CERTS = bundle;
}
trustTestCa();

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/support/global-redis.ts'],
    pool: 'forks',
    testTimeout: 90_000,
    hookTimeout: 90_000,
  },
});
