/**
 * Contract §3 Operations: routes without auth are rate-limited per client
 * address, /v1 per token; over the limit → 429 in the error shape with
 * Retry-After. The counts live in Redis, so every API process shares them;
 * monitoring is never limited.
 */
import type { LightMyRequestResponse } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config.js';
import { startHerald, type RunningHerald } from '../../src/herald.js';
import { createLogger } from '../../src/logger.js';
import { READ_TOKEN, startStack, WRITE_TOKEN, type Stack } from '../support/stack.js';
import { expectError } from './helpers.js';

const PUBLIC_PER_MINUTE = 5;
const API_PER_MINUTE = 8;

interface From {
  /** The client's address as the socket shows it. */
  address: string;
  token?: string;
  headers?: Record<string, string>;
}

function call(herald: RunningHerald, method: 'GET' | 'POST', url: string, from: From): Promise<LightMyRequestResponse> {
  return herald.app!.inject({
    method,
    url,
    remoteAddress: from.address,
    headers: { ...(from.token !== undefined && { authorization: `Bearer ${from.token}` }), ...from.headers },
  });
}

/** Asserts the contract's 429 and returns the message. */
function expectLimited(res: LightMyRequestResponse): string {
  const error = expectError(res, 429, 'rate_limited');
  const retryAfter = Number(res.headers['retry-after']);
  expect(Number.isInteger(retryAfter), `Retry-After: ${res.headers['retry-after']}`).toBe(true);
  expect(retryAfter).toBeGreaterThanOrEqual(1);
  expect(retryAfter).toBeLessThanOrEqual(60);
  return error.message;
}

describe('rate limits', () => {
  let stack: Stack;
  let herald: RunningHerald;

  beforeAll(async () => {
    stack = await startStack({
      env: { HERALD_RATE_LIMIT_PUBLIC: String(PUBLIC_PER_MINUTE), HERALD_RATE_LIMIT_API: String(API_PER_MINUTE) },
    });
    herald = stack.herald;
  });

  afterAll(async () => {
    await stack?.stop();
  });

  it('a client address over the public limit gets 429 with Retry-After; other addresses carry on', async () => {
    const client = { address: '10.1.0.1' };
    for (let i = 0; i < PUBLIC_PER_MINUTE; i++) {
      expect((await call(herald, 'GET', '/incidents/inc_nope', client)).statusCode).toBe(404);
    }
    const message = expectLimited(await call(herald, 'GET', '/incidents/inc_nope', client));
    expect(message).toContain(`${PUBLIC_PER_MINUTE} requests a minute from this address`);
    // Every route without auth shares the address's count.
    expectLimited(await call(herald, 'POST', '/unsubscribe/not-a-token', client));
    expect((await call(herald, 'GET', '/incidents/inc_nope', { address: '10.1.0.2' })).statusCode).toBe(404);
  });

  it('never limits monitoring: /healthz, /readyz and /metrics answer a limited address', async () => {
    const client = { address: '10.1.0.1' };
    expectLimited(await call(herald, 'GET', '/incidents/inc_nope', client));
    for (let i = 0; i < 3 * PUBLIC_PER_MINUTE; i++) {
      for (const path of ['/healthz', '/readyz', '/metrics']) {
        expect((await call(herald, 'GET', path, client)).statusCode, path).toBe(200);
      }
    }
  });

  it('/v1 counts per token, wherever its requests come from', async () => {
    for (let i = 0; i < API_PER_MINUTE; i++) {
      expect((await call(herald, 'GET', '/v1/incidents', { address: '10.2.0.1', token: WRITE_TOKEN })).statusCode).toBe(200);
    }
    const message = expectLimited(await call(herald, 'GET', '/v1/incidents', { address: '10.2.0.1', token: WRITE_TOKEN }));
    expect(message).toContain(`${API_PER_MINUTE} requests a minute for this token`);
    expect(message).not.toContain(WRITE_TOKEN);
    expectLimited(await call(herald, 'GET', '/v1/incidents', { address: '10.2.0.2', token: WRITE_TOKEN }));
    // Another token from the same address has its own count.
    expect((await call(herald, 'GET', '/v1/incidents', { address: '10.2.0.1', token: READ_TOKEN })).statusCode).toBe(200);
  });

  it('/v1 requests without a known token are counted per address', async () => {
    const guesser = { address: '10.3.0.1', token: 'guessed-token-000000' };
    for (let i = 0; i < API_PER_MINUTE; i++) {
      expectError(await call(herald, 'GET', '/v1/incidents', guesser), 401, 'unauthorized');
    }
    expect(expectLimited(await call(herald, 'GET', '/v1/incidents', { ...guesser, token: 'another-guess-000000' }))).toContain(
      'from this address',
    );
    expectError(await call(herald, 'GET', '/v1/incidents', { address: '10.3.0.2', token: 'guessed-token-000000' }), 401);
  });

  it('ignores X-Forwarded-For unless the proxy is trusted', async () => {
    for (let i = 0; i <= PUBLIC_PER_MINUTE; i++) {
      const res = await call(herald, 'GET', '/incidents/inc_nope', { address: '10.5.0.1', headers: { 'x-forwarded-for': `203.0.113.${i}` } });
      if (i < PUBLIC_PER_MINUTE) expect(res.statusCode).toBe(404);
      else expectLimited(res);
    }
  });

  it('every API process shares the counts through Redis', async () => {
    const second = await startHerald({ config: stack.config, roles: new Set(['api']), logger: createLogger('silent') });
    try {
      const client = { address: '10.4.0.1' };
      for (let i = 0; i < PUBLIC_PER_MINUTE; i++) {
        const res = await call(i % 2 === 0 ? herald : second, 'GET', '/incidents/inc_nope', client);
        expect(res.statusCode).toBe(404);
      }
      expectLimited(await call(second, 'GET', '/incidents/inc_nope', client));
      expectLimited(await call(herald, 'GET', '/incidents/inc_nope', client));
    } finally {
      await second.stop();
    }
  });
});

describe('rate limits behind a trusted proxy, and switched off', () => {
  let stack: Stack;

  beforeAll(async () => {
    stack = await startStack({
      env: { HERALD_RATE_LIMIT_PUBLIC: '2', HERALD_RATE_LIMIT_API: '0', HERALD_TRUSTED_PROXIES: '10.9.0.0/16, ::1' },
    });
  });

  afterAll(async () => {
    await stack?.stop();
  });

  it('counts the client a trusted proxy names in X-Forwarded-For', async () => {
    const viaProxy = (client: string): From => ({ address: '10.9.0.7', headers: { 'x-forwarded-for': client } });
    for (let i = 0; i < 2; i++) {
      expect((await call(stack.herald, 'GET', '/incidents/inc_nope', viaProxy('203.0.113.5'))).statusCode).toBe(404);
    }
    expectLimited(await call(stack.herald, 'GET', '/incidents/inc_nope', viaProxy('203.0.113.5')));
    expect((await call(stack.herald, 'GET', '/incidents/inc_nope', viaProxy('203.0.113.6'))).statusCode).toBe(404);
  });

  it('a limit of 0 is no limit', async () => {
    for (let i = 0; i < 30; i++) {
      expect((await call(stack.herald, 'GET', '/v1/incidents', { address: '10.6.0.1', token: WRITE_TOKEN })).statusCode).toBe(200);
    }
  });

  it('startup refuses a trusted proxy that is not an address or range, naming the variable', () => {
    const env = { ...stack.env, HERALD_TRUSTED_PROXIES: '10.0.0.0/8,proxy.internal' };
    expect(() => loadConfig(env)).toThrow(ConfigError);
    expect(() => loadConfig(env)).toThrow(/^HERALD_TRUSTED_PROXIES: "proxy\.internal" is not an IP address/);
    expect(() => loadConfig({ ...stack.env, HERALD_RATE_LIMIT_API: '-1' })).toThrow(/^HERALD_RATE_LIMIT_API/);
  });
});
