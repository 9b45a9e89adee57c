import twitterText from 'twitter-text';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  DeliveryError,
  PermanentDeliveryError,
  RateLimitedError,
  TransientDeliveryError,
} from '../../src/channels/channel.js';
import { XChannel, type XChannelOptions } from '../../src/channels/x.js';
import { signatureBaseString, verifyOAuth1Request } from '../fakes/oauth1.js';
import { startXFake, type XFake } from '../fakes/x-api.js';

const CREDENTIALS = {
  appKey: 'hEr4ldAppKey0000000000000',
  appSecret: 'app-S3CR3T-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa',
  accessToken: '1700000000000000001-HeraldAccessToken000000000000',
  accessSecret: 'access-S3CR3T-bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb',
} as const;
const SECRETS = Object.values(CREDENTIALS);

async function deliveryErrorOf(attempt: Promise<unknown>): Promise<DeliveryError> {
  const error: unknown = await attempt.then(
    () => expect.fail('expected the delivery to fail'),
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(DeliveryError);
  return error as DeliveryError;
}

function expectNoSecretIn(error: DeliveryError, secrets: readonly string[] = SECRETS): void {
  const visible = `${error.message}\n${error.stack ?? ''}\n${JSON.stringify({ ...error })}`;
  for (const secret of secrets) expect(visible).not.toContain(secret);
}

describe('X channel', () => {
  let x: XFake;
  let channel: XChannel;
  const channelWith = (overrides: Partial<XChannelOptions> = {}): XChannel =>
    new XChannel({ ...CREDENTIALS, apiUrl: x.url, timeoutMs: 300, ...overrides });

  beforeAll(async () => {
    x = await startXFake(CREDENTIALS);
    channel = channelWith();
  });
  afterEach(() => x.reset());
  afterAll(async () => {
    await channel.close();
    await x.close();
  });

  describe('given the first update of an incident', () => {
    it('publishes one post, signed with OAuth 1.0a that X accepts, and returns its id', async () => {
      const text = 'Investigating: email delivery delayed. Next update by 14:30 UTC. https://status.example/i/1';

      const receipt = await channel.post(text);

      expect(x.requests).toHaveLength(1);
      expect(x.requests[0]).toMatchObject({ method: 'POST', path: '/2/tweets', authorized: true, body: { text } });
      expect(x.requests[0]?.response?.status).toBe(201);
      expect(x.posts).toEqual([{ id: receipt.providerRef, text, receivedAt: expect.any(Number) }]);
    });

    it('reaches the API by name too: the test certificate is valid for localhost', async () => {
      const byName = channelWith({ apiUrl: x.localhostUrl });
      try {
        const receipt = await byName.post('Monitoring: delivery has recovered.');
        expect(x.posts.map((p) => p.id)).toEqual([receipt.providerRef]);
        expect(x.requests[0]?.authorized).toBe(true);
      } finally {
        await byName.close();
      }
    });
  });

  describe('given later updates of the same incident', () => {
    it('replies to the previous post each time, so the incident reads as one thread', async () => {
      const first = await channel.post('Investigating: email delivery delayed.');
      const second = await channel.post('Identified: a stuck queue.', first.providerRef);
      const third = await channel.post('Resolved: all delayed email has been delivered.', second.providerRef);

      expect(x.requests[1]?.body).toEqual({ text: 'Identified: a stuck queue.', reply: { in_reply_to_tweet_id: first.providerRef } });
      expect(x.thread(third.providerRef).map((p) => p.id)).toEqual([first.providerRef, second.providerRef, third.providerRef]);
      expect(BigInt(second.providerRef)).toBeGreaterThan(BigInt(first.providerRef));
      expect(BigInt(third.providerRef)).toBeGreaterThan(BigInt(second.providerRef));
    });
  });

  describe('given X’s 280 weighted-character limit', () => {
    it('accepts a text of exactly 280 (CJK characters weigh 2)', async () => {
      const text = '障'.repeat(140);
      expect(twitterText.parseTweet(text).weightedLength).toBe(280);

      await expect(channel.post(text)).resolves.toEqual({ providerRef: expect.any(String) });
    });

    it('refuses one weighted character more as a permanent failure', async () => {
      const text = '障'.repeat(140) + '!';

      const failure = await deliveryErrorOf(channel.post(text));

      expect(failure).toBeInstanceOf(PermanentDeliveryError);
      expect(failure.code).toBe('invalid_request');
      expect(failure.message).toContain('too long');
      expect(x.posts).toHaveLength(0);
    });
  });

  describe('when X refuses or fails', () => {
    interface ErrorCase {
      given: string;
      arrange?: (fake: XFake) => void;
      options?: Partial<XChannelOptions>;
      send?: (channel: XChannel) => Promise<unknown>;
      error: typeof PermanentDeliveryError | typeof TransientDeliveryError | typeof RateLimitedError;
      code: string;
      messageContains?: string;
    }
    const cases: ErrorCase[] = [
      {
        given: 'a wrong consumer secret (X answers 401 to the signature)',
        options: { appSecret: 'app-S3CR3T-wrong-wrong-wrong' },
        error: PermanentDeliveryError,
        code: 'unauthorized',
        messageContains: 'Unauthorized',
      },
      {
        given: 'a wrong access token secret',
        options: { accessSecret: 'access-S3CR3T-wrong-wrong-wrong' },
        error: PermanentDeliveryError,
        code: 'unauthorized',
      },
      {
        given: 'an access token X does not know',
        options: { accessToken: '1700000000000000001-SomebodyElse' },
        error: PermanentDeliveryError,
        code: 'unauthorized',
      },
      { given: 'HTTP 401', arrange: (f) => f.fail(401), error: PermanentDeliveryError, code: 'unauthorized' },
      {
        given: 'HTTP 403 (the app may not post)',
        arrange: (f) => f.fail(403),
        error: PermanentDeliveryError,
        code: 'forbidden',
        messageContains: 'You are not permitted to perform this action.',
      },
      { given: 'HTTP 400', arrange: (f) => f.fail(400), error: PermanentDeliveryError, code: 'invalid_request' },
      { given: 'HTTP 404', arrange: (f) => f.fail(404), error: PermanentDeliveryError, code: 'not_found' },
      {
        given: 'a reply to a post X does not know',
        send: (c) => c.post('Identified: a stuck queue.', '1234567890123456789'),
        error: PermanentDeliveryError,
        code: 'forbidden',
        messageContains: 'deleted or not visible',
      },
      {
        given: 'the same text twice (X refuses duplicate content)',
        send: async (c) => {
          await c.post('Holding: still investigating.');
          return c.post('Holding: still investigating.');
        },
        error: PermanentDeliveryError,
        code: 'forbidden',
        messageContains: 'duplicate content',
      },
      { given: 'HTTP 500', arrange: (f) => f.fail(500), error: TransientDeliveryError, code: 'http_500' },
      { given: 'HTTP 502', arrange: (f) => f.fail(502), error: TransientDeliveryError, code: 'http_502' },
      { given: 'HTTP 503', arrange: (f) => f.fail(503), error: TransientDeliveryError, code: 'http_503' },
      { given: 'HTTP 504', arrange: (f) => f.fail(504), error: TransientDeliveryError, code: 'http_504' },
      { given: 'no answer within the timeout', arrange: (f) => f.hang(), error: TransientDeliveryError, code: 'timeout' },
      { given: 'a dropped connection', arrange: (f) => f.disconnect(), error: TransientDeliveryError, code: 'network_error' },
    ];

    it.each(cases)('$given → $error.name ($code)', async ({ arrange, options, send, error, code, messageContains }) => {
      arrange?.(x);
      const sender = options === undefined ? channel : channelWith(options);
      try {
        const failure = await deliveryErrorOf((send ?? ((c: XChannel) => c.post('Investigating: email delivery delayed.')))(sender));

        expect(failure).toBeInstanceOf(error);
        expect(failure.code).toBe(code);
        expect(failure.retryable).toBe(error !== PermanentDeliveryError);
        if (messageContains !== undefined) expect(failure.message).toContain(messageContains);
        expectNoSecretIn(failure, [...SECRETS, ...Object.values(options ?? {}).map(String)]);
        expect(x.requests.length).toBeGreaterThan(0);
      } finally {
        if (sender !== channel) await sender.close();
      }
    });

    it('HTTP 429 → RateLimitedError for the whole channel, until the x-rate-limit-reset time', async () => {
      x.rateLimit(120, 1);
      const before = Date.now();

      const failure = await deliveryErrorOf(channel.post('Investigating: email delivery delayed.'));

      expect(failure).toBeInstanceOf(RateLimitedError);
      const limited = failure as RateLimitedError;
      expect(limited.scope).toBe('channel');
      // The header has whole seconds: the reset lies between 119 and 120 s after the request.
      expect(limited.retryAfterMs).toBeGreaterThan(118_000 - (Date.now() - before));
      expect(limited.retryAfterMs).toBeLessThanOrEqual(120_000);
      expectNoSecretIn(limited);
    });

    it('HTTP 429 with a reset time already passed → at least one second', async () => {
      x.rateLimit(-5, 1);

      const failure = await deliveryErrorOf(channel.post('Investigating: email delivery delayed.'));

      expect(failure).toBeInstanceOf(RateLimitedError);
      expect((failure as RateLimitedError).retryAfterMs).toBe(1000);
    });

    it('after a passing rate limit, the next attempt goes through', async () => {
      x.rateLimit(1, 1);

      await expect(channel.post('Investigating: email delivery delayed.')).rejects.toBeInstanceOf(RateLimitedError);
      const receipt = await channel.post('Investigating: email delivery delayed.');

      expect(x.requests.map((r) => r.response?.status)).toEqual([429, 201]);
      expect(x.posts.map((p) => p.id)).toEqual([receipt.providerRef]);
    });

    it('given nothing listening at the API URL, the failure is transient', async () => {
      const gone = await startXFake(CREDENTIALS);
      const unreachable = channelWith({ apiUrl: gone.url });
      await gone.close();
      try {
        const failure = await deliveryErrorOf(unreachable.post('Investigating.'));

        expect(failure).toBeInstanceOf(TransientDeliveryError);
        expect(failure.code).toBe('network_error');
        expect(failure.message).toContain('ECONNREFUSED');
      } finally {
        await unreachable.close();
      }
    });
  });

  describe('when closed', () => {
    it('refuses new posts as transient', async () => {
      const closing = channelWith();
      await closing.post('Investigating: email delivery delayed.');
      await closing.close();

      const refused = await deliveryErrorOf(closing.post('Identified: a stuck queue.'));

      expect(refused).toBeInstanceOf(TransientDeliveryError);
      expect(refused.code).toBe('channel_closed');
      expect(x.posts).toHaveLength(1);
    });
  });

  it('refuses an apiUrl that is not https', () => {
    expect(() => new XChannel({ ...CREDENTIALS, apiUrl: 'http://127.0.0.1:1/2/' })).toThrow(/https/);
  });
});

describe('the fake X API’s OAuth 1.0a verification', () => {
  // The worked example of X's "Creating a signature" documentation.
  const documented = {
    credentials: {
      appKey: 'xvz1evFS4wEEPTGEFPHBog',
      appSecret: 'kAcSOqF21Fu85e7zjz7ZN2U4ZRhfV3WpwPAoE3Z7kBw',
      accessToken: '370773112-GmHxMAgYyLbNEtIKZeRNFsMKPR9EyMZeS9weJAEb',
      accessSecret: 'LswwdoUaIvS8ltyTt5jkRh4J50vUPVVHtR2YPi5kE',
    },
    method: 'POST',
    url: 'https://api.twitter.com/1.1/statuses/update.json?include_entities=true',
    formBody: 'status=Hello%20Ladies%20%2B%20Gentlemen%2C%20a%20signed%20OAuth%20request%21',
    authorization:
      'OAuth oauth_consumer_key="xvz1evFS4wEEPTGEFPHBog", oauth_nonce="kYjzVBB8Y0ZFabxSWbWovY3uYSQ2pTgmZeNu2VS4cg", ' +
      'oauth_signature="hCtSmYh%2BiHYCEqBWrE7C7hYmtUk%3D", oauth_signature_method="HMAC-SHA1", oauth_timestamp="1318622958", ' +
      'oauth_token="370773112-GmHxMAgYyLbNEtIKZeRNFsMKPR9EyMZeS9weJAEb", oauth_version="1.0"',
    nowSeconds: 1318622958,
  };
  const verify = (changes: Partial<typeof documented> = {}, seenNonces?: Set<string>) => {
    const r = { ...documented, ...changes };
    return verifyOAuth1Request(
      { method: r.method, url: r.url, authorization: r.authorization, formBody: r.formBody },
      r.credentials,
      { nowSeconds: r.nowSeconds, ...(seenNonces === undefined ? {} : { seenNonces }) },
    );
  };

  it('builds the documented signature base string', () => {
    expect(
      signatureBaseString('POST', documented.url, [
        ['include_entities', 'true'],
        ['oauth_consumer_key', 'xvz1evFS4wEEPTGEFPHBog'],
        ['oauth_nonce', 'kYjzVBB8Y0ZFabxSWbWovY3uYSQ2pTgmZeNu2VS4cg'],
        ['oauth_signature_method', 'HMAC-SHA1'],
        ['oauth_timestamp', '1318622958'],
        ['oauth_token', '370773112-GmHxMAgYyLbNEtIKZeRNFsMKPR9EyMZeS9weJAEb'],
        ['oauth_version', '1.0'],
        ['status', 'Hello Ladies + Gentlemen, a signed OAuth request!'],
      ]),
    ).toBe(
      'POST&https%3A%2F%2Fapi.twitter.com%2F1.1%2Fstatuses%2Fupdate.json&include_entities%3Dtrue%26oauth_consumer_key%3Dxvz1evFS4wEEPTGEFPHBog%26oauth_nonce%3DkYjzVBB8Y0ZFabxSWbWovY3uYSQ2pTgmZeNu2VS4cg%26oauth_signature_method%3DHMAC-SHA1%26oauth_timestamp%3D1318622958%26oauth_token%3D370773112-GmHxMAgYyLbNEtIKZeRNFsMKPR9EyMZeS9weJAEb%26oauth_version%3D1.0%26status%3DHello%2520Ladies%2520%252B%2520Gentlemen%252C%2520a%2520signed%2520OAuth%2520request%2521',
    );
  });

  it('accepts the documented request', () => {
    expect(verify()).toMatchObject({ ok: true });
  });

  it.each([
    ['a changed form body', { formBody: 'status=Hello%20Ladies' }, 'signature does not match'],
    ['another URL', { url: 'https://api.twitter.com/1.1/statuses/update.json?include_entities=false' }, 'signature does not match'],
    ['another method', { method: 'PUT' }, 'signature does not match'],
    ['another consumer secret', { credentials: { ...documented.credentials, appSecret: 'nope' } }, 'signature does not match'],
    ['another token secret', { credentials: { ...documented.credentials, accessSecret: 'nope' } }, 'signature does not match'],
    ['another consumer key', { credentials: { ...documented.credentials, appKey: 'nope' } }, 'unknown oauth_consumer_key'],
    ['a stale timestamp', { nowSeconds: documented.nowSeconds + 3600 }, 'oauth_timestamp out of range'],
    ['no OAuth header', { authorization: 'Bearer abc' }, 'no OAuth Authorization header'],
  ] as const)('refuses %s', (_, changes, reason) => {
    expect(verify(changes)).toEqual({ ok: false, reason });
  });

  it('refuses a replayed nonce', () => {
    const seen = new Set<string>();
    expect(verify({}, seen)).toMatchObject({ ok: true });
    expect(verify({}, seen)).toEqual({ ok: false, reason: 'oauth_nonce already used' });
  });
});
