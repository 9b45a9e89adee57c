import { lookup as dnsLookup } from 'node:dns';
import { createServer as createHttpServer } from 'node:http';
import { createServer, type AddressInfo, type Server } from 'node:net';
import type { LookupFunction } from 'node:net';
import { Webhook } from 'standardwebhooks';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  DeliveryError,
  PermanentDeliveryError,
  RateLimitedError,
  TargetGoneError,
  TransientDeliveryError,
} from '../../src/channels/channel.js';
import { checkWebhookUrl, isPrivateAddress } from '../../src/channels/webhook-address.js';
import { DEFAULT_WEBHOOK_RETRY_AFTER_MS, parseRetryAfter, WebhookChannel } from '../../src/channels/webhook.js';
import type { ChannelTarget } from '../../src/domain/audience.js';
import {
  newWebhookSecret,
  startWebhookReceiver,
  type WebhookReceiver,
  type WebhookStep,
} from '../fakes/webhook-receiver.js';

const SECRET = newWebhookSecret();
const SECRET_KEY = SECRET.slice('whsec_'.length);

const incidentOpened = JSON.stringify({
  type: 'incident.opened',
  incident: { id: 'inc_01', title: 'Email delivery delayed', severity: 'major' },
  update: { id: 'upd_01', seq: 1, kind: 'opened', message: 'We are investigating delays…' },
  rendered: { title: 'Email delivery delayed', html: '<p>We are investigating delays…</p>', markdown: 'We are investigating delays…' },
});

function webhookTarget(url: string, secret = SECRET): ChannelTarget<'webhook'> {
  return { channel: 'webhook', key: url, url, secret };
}

/** A resolver that knows one made-up name, for "a host name that resolves to loopback". */
function resolverFor(name: string, address: string): LookupFunction {
  return ((hostname, options, callback) => {
    if (hostname !== name) {
      (dnsLookup as LookupFunction)(hostname, options, callback);
      return;
    }
    if (options.all === true) callback(null, [{ address, family: 4 }]);
    else callback(null, address, 4);
  }) as LookupFunction;
}

async function rejectionOf(promise: Promise<unknown>): Promise<DeliveryError> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(DeliveryError);
    return error as DeliveryError;
  }
  throw new Error('expected the delivery to fail, but it succeeded');
}

let receiver: WebhookReceiver;
let channel: WebhookChannel | undefined;

beforeAll(async () => {
  receiver = await startWebhookReceiver();
});
afterEach(async () => {
  receiver.reset();
  await channel?.close();
  channel = undefined;
});
afterAll(async () => {
  await receiver.close();
});

describe('WebhookChannel — what a blog receiver gets', () => {
  it('POSTs the body byte for byte, signed so that the standardwebhooks library verifies it', async () => {
    channel = new WebhookChannel({ allowPrivate: true });
    const url = receiver.register('/hooks/status', SECRET);
    const before = Math.floor(Date.now() / 1000);

    const receipt = await channel.send(webhookTarget(url), { id: 'dlv_01', body: incidentOpened });

    expect(receipt).toEqual({ providerRef: '200' });
    const [request, ...more] = receiver.received('/hooks/status');
    expect(more).toHaveLength(0);
    expect(request).toMatchObject({
      method: 'POST',
      webhookId: 'dlv_01',
      signatureValid: true,
      rawBody: incidentOpened,
      body: JSON.parse(incidentOpened),
    });
    expect(request!.headers['content-type']).toBe('application/json');
    expect(request!.headers['user-agent']).toMatch(/^Herald/);
    expect(request!.timestamp).toBeGreaterThanOrEqual(before);
    expect(request!.timestamp).toBeLessThanOrEqual(Math.floor(Date.now() / 1000));
    expect(request!.signature).toMatch(/^v1,[A-Za-z0-9+/]+=*$/);
    // Verified independently of the fake, with the library receivers use.
    expect(new Webhook(SECRET).verify(request!.rawBody, request!.headers)).toEqual(JSON.parse(incidentOpened));
  });

  it('keeps the webhook-id of a delivery across retries, with a fresh timestamp and signature each time', async () => {
    channel = new WebhookChannel({ allowPrivate: true });
    const url = receiver.register('/hooks/retry', SECRET);
    receiver.respond('/hooks/retry', [503, 200]);

    await expect(channel.send(webhookTarget(url), { id: 'dlv_stable', body: incidentOpened })).rejects.toBeInstanceOf(
      TransientDeliveryError,
    );
    await channel.send(webhookTarget(url), { id: 'dlv_stable', body: incidentOpened });

    const requests = receiver.received('/hooks/retry');
    expect(requests.map((r) => r.webhookId)).toEqual(['dlv_stable', 'dlv_stable']);
    expect(requests.map((r) => r.signatureValid)).toEqual([true, true]);
    expect(requests.map((r) => r.answer)).toEqual([503, 200]);
  });

  it('signs with a secret given without the whsec_ prefix as the same base64 key', async () => {
    channel = new WebhookChannel({ allowPrivate: true });
    const url = receiver.register('/hooks/bare', SECRET);

    await channel.send(webhookTarget(url, SECRET_KEY), { id: 'dlv_bare', body: '{}' });

    expect(receiver.received('/hooks/bare')[0]?.signatureValid).toBe(true);
  });

  it('a wrong secret produces a signature the receiver rejects', async () => {
    channel = new WebhookChannel({ allowPrivate: true });
    const url = receiver.register('/hooks/wrong', SECRET);

    await channel.send(webhookTarget(url, newWebhookSecret()), { id: 'dlv_wrong', body: '{}' });

    const [request] = receiver.received('/hooks/wrong');
    expect(request?.signatureValid).toBe(false);
    expect(request?.verification).toMatch(/signature/i);
  });

  it('a request to a path with no registered secret is recorded, unverified', async () => {
    channel = new WebhookChannel({ allowPrivate: true });

    await channel.send(webhookTarget(receiver.url('/hooks/unknown')), { id: 'dlv_unknown', body: '{"n":1}' });

    const [request] = await receiver.waitFor({ path: '/hooks/unknown' }, 1000);
    expect(request).toMatchObject({ webhookId: 'dlv_unknown', signatureValid: false, verification: 'unregistered', body: { n: 1 } });
  });

  it('refuses a secret that is not base64, without sending and without quoting it', async () => {
    channel = new WebhookChannel({ allowPrivate: true });
    const secret = 'whsec_not*base64!secret-value';

    const error = await rejectionOf(channel.send(webhookTarget(receiver.url('/hooks/bad-secret'), secret), { id: 'd', body: '{}' }));

    expect(error).toBeInstanceOf(PermanentDeliveryError);
    expect(error.code).toBe('invalid_secret');
    expect(error.message).not.toContain('not*base64');
    expect(receiver.received()).toHaveLength(0);
  });

  it('reuses keep-alive connections for sequential deliveries, error answers included', async () => {
    channel = new WebhookChannel({ allowPrivate: true });
    const url = receiver.register('/hooks/keepalive', SECRET);
    // Bodies big enough that undici cannot just buffer them: an unread one would pin its socket.
    const big = 'x'.repeat(100_000);
    const answers: WebhookStep[] = [
      { status: 200, body: big },
      { status: 400, body: big },
      { status: 200, body: big },
      { status: 500, body: big },
      204,
      410,
      { status: 202, body: big },
      404,
      { status: 200, body: big },
      200,
    ];
    receiver.respond('/hooks/keepalive', answers);

    for (let i = 0; i < answers.length; i++) {
      await channel.send(webhookTarget(url), { id: `dlv_${i}`, body: '{}' }).catch(() => undefined);
    }

    // undici may open a second socket while the first is being released; never more.
    const requests = receiver.received('/hooks/keepalive');
    expect(requests).toHaveLength(answers.length);
    expect(new Set(requests.map((r) => r.remotePort)).size).toBeLessThanOrEqual(2);
  });

  it('lets a delivery in progress finish when the channel closes', async () => {
    channel = new WebhookChannel({ allowPrivate: true });
    const url = receiver.register('/hooks/slow', SECRET);
    receiver.respond('/hooks/slow', () => new Promise<WebhookStep>((resolve) => setTimeout(() => resolve(202), 100)));

    const sending = channel.send(webhookTarget(url), { id: 'dlv_slow', body: '{}' });
    await channel.close();

    await expect(sending).resolves.toEqual({ providerRef: '202' });
  });
});

describe('WebhookChannel — what each answer means', () => {
  const inTwoMinutes = (): string => new Date(Date.now() + 120_000).toUTCString();

  type Expected = {
    error: new (...args: never[]) => DeliveryError;
    code: string;
    retryable: boolean;
    retryAfterMs?: [number, number];
    message?: RegExp;
  };
  const cases: [string, WebhookStep | (() => WebhookStep), Expected][] = [
    ['410 Gone disables the target', 410, { error: TargetGoneError, code: 'target_gone', retryable: false }],
    [
      '429 with Retry-After seconds holds back this target',
      { status: 429, retryAfter: 2 },
      { error: RateLimitedError, code: 'rate_limited', retryable: true, retryAfterMs: [2000, 2000] },
    ],
    [
      '429 with an HTTP-date Retry-After',
      () => ({ status: 429, retryAfter: inTwoMinutes() }),
      { error: RateLimitedError, code: 'rate_limited', retryable: true, retryAfterMs: [118_000, 120_000] },
    ],
    [
      '429 without Retry-After uses the default',
      429,
      {
        error: RateLimitedError,
        code: 'rate_limited',
        retryable: true,
        retryAfterMs: [DEFAULT_WEBHOOK_RETRY_AFTER_MS, DEFAULT_WEBHOOK_RETRY_AFTER_MS],
      },
    ],
    [
      '503 with Retry-After holds back this target',
      { status: 503, retryAfter: 7 },
      { error: RateLimitedError, code: 'rate_limited', retryable: true, retryAfterMs: [7000, 7000] },
    ],
    ['500 is transient', 500, { error: TransientDeliveryError, code: 'http_500', retryable: true, message: /500/ }],
    ['502 is transient', 502, { error: TransientDeliveryError, code: 'http_502', retryable: true }],
    ['408 is transient', 408, { error: TransientDeliveryError, code: 'http_408', retryable: true }],
    [
      '400 is permanent, quoting the body',
      { status: 400, body: { error: 'unknown incident type' } },
      { error: PermanentDeliveryError, code: 'http_400', retryable: false, message: /400.*unknown incident type/ },
    ],
    ['401 is permanent', 401, { error: PermanentDeliveryError, code: 'http_401', retryable: false }],
    ['404 is permanent', 404, { error: PermanentDeliveryError, code: 'http_404', retryable: false }],
    [
      '301 is permanent: redirects are not followed',
      { status: 301, headers: { location: '/hooks/elsewhere' } },
      { error: PermanentDeliveryError, code: 'http_301', retryable: false, message: /redirect/ },
    ],
    [
      '307 is permanent: redirects are not followed',
      { status: 307, headers: { location: '/hooks/elsewhere' } },
      { error: PermanentDeliveryError, code: 'http_307', retryable: false },
    ],
    ['no answer is a transient timeout', 'hang', { error: TransientDeliveryError, code: 'timeout', retryable: true }],
    [
      'a connection closed without an answer is transient',
      'destroy',
      { error: TransientDeliveryError, code: 'connection_reset', retryable: true },
    ],
  ];

  it.each(cases)('%s', async (_name, step, expected) => {
    channel = new WebhookChannel({ allowPrivate: true, timeoutMs: 300 });
    const url = receiver.register('/hooks/answer?token=hunter2', SECRET);
    receiver.respond('/hooks/answer', typeof step === 'function' ? step() : step);

    const error = await rejectionOf(channel.send(webhookTarget(url), { id: 'dlv_answer', body: incidentOpened }));

    expect(error).toBeInstanceOf(expected.error);
    expect(error.code).toBe(expected.code);
    expect(error.retryable).toBe(expected.retryable);
    if (expected.retryAfterMs !== undefined) {
      const rateLimited = error as RateLimitedError;
      expect(rateLimited.scope).toBe('target');
      expect(rateLimited.retryAfterMs).toBeGreaterThanOrEqual(expected.retryAfterMs[0]);
      expect(rateLimited.retryAfterMs).toBeLessThanOrEqual(expected.retryAfterMs[1]);
    }
    if (expected.message !== undefined) expect(error.message).toMatch(expected.message);
    // Exactly one request: nothing retried or followed behind the worker's back.
    expect(receiver.received()).toHaveLength(1);
    // Neither the secret nor a token in the URL is ever repeated.
    expect(error.message).not.toContain(SECRET_KEY);
    expect(error.message).not.toContain('hunter2');
  });

  it('cuts a long error body to a short excerpt', async () => {
    channel = new WebhookChannel({ allowPrivate: true });
    const url = receiver.register('/hooks/verbose', SECRET);
    receiver.respond('/hooks/verbose', { status: 422, body: `invalid payload\n${'detail '.repeat(5000)}` });

    const error = await rejectionOf(channel.send(webhookTarget(url), { id: 'dlv_v', body: '{}' }));

    expect(error.message).toMatch(/422: invalid payload detail/);
    expect(error.message).toMatch(/…$/);
    expect(error.message.length).toBeLessThan(300);
  });

  it('bounds the whole delivery: an error body that trickles on forever is cut off at the deadline', async () => {
    // Each chunk comes well within the body timeout; only the whole-delivery deadline ends it.
    const trickler = createHttpServer((_req, res) => {
      res.writeHead(400, { 'content-type': 'text/plain' });
      res.write('bad request');
      const timer = setInterval(() => res.write('.'), 50);
      res.on('close', () => clearInterval(timer));
    });
    await new Promise<void>((resolve) => trickler.listen(0, '127.0.0.1', resolve));
    try {
      channel = new WebhookChannel({ allowPrivate: true, timeoutMs: 400 });
      const { port } = trickler.address() as AddressInfo;
      const started = Date.now();

      const error = await rejectionOf(channel.send(webhookTarget(`http://127.0.0.1:${port}/hooks/slow`), { id: 'd', body: '{}' }));

      expect(error).toBeInstanceOf(PermanentDeliveryError);
      expect(error.code).toBe('http_400');
      expect(error.message).toMatch(/400: bad request/);
      expect(Date.now() - started).toBeGreaterThanOrEqual(390);
    } finally {
      trickler.closeAllConnections();
      await new Promise((resolve) => trickler.close(resolve));
    }
  }, 20_000);

  it('a receiver that is not listening is transient', async () => {
    channel = new WebhookChannel({ allowPrivate: true });
    const port = await unusedPort();

    const error = await rejectionOf(channel.send(webhookTarget(`http://127.0.0.1:${port}/hooks`), { id: 'd', body: '{}' }));

    expect(error).toBeInstanceOf(TransientDeliveryError);
    expect(error.code).toBe('connection_refused');
  });
});

describe('WebhookChannel — private addresses', () => {
  const refusedUrls: [string, (port: number) => string][] = [
    ['127.0.0.1', (port) => `http://127.0.0.1:${port}/hooks/private`],
    ['localhost', (port) => `http://localhost:${port}/hooks/private`],
    ['[::1]', (port) => `http://[::1]:${port}/hooks/private`],
    ['[::ffff:127.0.0.1]', (port) => `http://[::ffff:127.0.0.1]:${port}/hooks/private`],
    ['2130706433 (127.0.0.1 as a number)', (port) => `http://2130706433:${port}/hooks/private`],
  ];

  it.each(refusedUrls)('refuses %s unless private targets are allowed', async (_name, build) => {
    channel = new WebhookChannel({ allowPrivate: false });
    const port = Number(new URL(receiver.origin).port);

    const error = await rejectionOf(channel.send(webhookTarget(build(port)), { id: 'd', body: '{}' }));

    expect(error).toBeInstanceOf(PermanentDeliveryError);
    expect(error.code).toBe('private_address');
    expect(receiver.received()).toHaveLength(0);
  });

  it('refuses, at connect time, a host name that resolves to loopback — though the URL itself passes validation', async () => {
    channel = new WebhookChannel({ allowPrivate: false, lookup: resolverFor('blog.herald.test', '127.0.0.1') });
    const url = receiver.url('/hooks/rebind').replace('127.0.0.1', 'blog.herald.test');
    expect(checkWebhookUrl(url, false)).toBeNull();

    const error = await rejectionOf(channel.send(webhookTarget(url), { id: 'd', body: '{}' }));

    expect(error).toBeInstanceOf(PermanentDeliveryError);
    expect(error.code).toBe('private_address');
    expect(error.message).toContain('127.0.0.1');
    expect(receiver.received()).toHaveLength(0);
  });

  it('delivers to the same host name and to 127.0.0.1 when private targets are allowed', async () => {
    channel = new WebhookChannel({ allowPrivate: true, lookup: resolverFor('blog.herald.test', '127.0.0.1') });
    receiver.register('/hooks/allowed', SECRET);
    const byName = receiver.url('/hooks/allowed').replace('127.0.0.1', 'blog.herald.test');

    await channel.send(webhookTarget(byName), { id: 'by-name', body: '{}' });
    await channel.send(webhookTarget(receiver.url('/hooks/allowed')), { id: 'by-ip', body: '{}' });

    expect(receiver.received('/hooks/allowed').map((r) => [r.webhookId, r.signatureValid])).toEqual([
      ['by-name', true],
      ['by-ip', true],
    ]);
  });

  it.each([
    ['ftp://blog.example/hooks', 'invalid_url'],
    ['https://user:pw@blog.example/hooks', 'invalid_url'],
    ['not a url', 'invalid_url'],
  ])('refuses %s as %s without sending', async (url, code) => {
    channel = new WebhookChannel({ allowPrivate: true });

    const error = await rejectionOf(channel.send(webhookTarget(url), { id: 'd', body: '{}' }));

    expect(error).toBeInstanceOf(PermanentDeliveryError);
    expect(error.code).toBe(code);
    expect(error.message).not.toContain('pw@');
  });
});

describe('isPrivateAddress', () => {
  it.each([
    ['127.0.0.1', true],
    ['127.255.255.254', true],
    ['10.1.2.3', true],
    ['172.16.0.1', true],
    ['172.31.255.255', true],
    ['172.32.0.1', false],
    ['172.15.255.255', false],
    ['192.168.1.1', true],
    ['192.169.0.1', false],
    ['169.254.169.254', true],
    ['100.64.0.1', true],
    ['100.127.255.255', true],
    ['100.128.0.1', false],
    ['0.0.0.0', true],
    ['224.0.0.251', true],
    ['255.255.255.255', true],
    ['8.8.8.8', false],
    ['93.184.215.14', false],
    ['::', true],
    ['::1', true],
    ['[::1]', true],
    ['fc00::1', true],
    ['fd12:3456:789a::1', true],
    ['fe80::1', true],
    ['fe80::1%eth0', true],
    ['febf::1', true],
    ['ff02::1', true],
    ['::ffff:127.0.0.1', true],
    ['::ffff:7f00:1', true],
    ['::ffff:10.0.0.1', true],
    ['::ffff:8.8.8.8', false],
    ['64:ff9b::192.168.0.1', true],
    ['64:ff9b::8.8.8.8', false],
    ['2001:4860:4860::8888', false],
    ['2606:4700::1111', false],
    ['blog.example', false],
    ['', false],
  ])('%s → %s', (ip, expected) => {
    expect(isPrivateAddress(ip)).toBe(expected);
  });
});

describe('checkWebhookUrl', () => {
  it.each([
    ['https://blog.example/hooks/status', false, null],
    ['http://blog.example:8080/hooks', false, null],
    ['http://127.0.0.1:9000/hooks', true, null],
    ['http://localhost:9000/hooks', true, null],
    ['http://127.0.0.1:9000/hooks', false, /private or loopback/],
    ['http://10.0.0.5/hooks', false, /private/],
    ['http://[fd00::1]/hooks', false, /private/],
    ['http://[::ffff:192.168.0.1]/hooks', false, /private/],
    ['http://localhost/hooks', false, /localhost/],
    ['http://LOCALHOST./hooks', false, /localhost/],
    ['http://status.localhost/hooks', false, /localhost/],
    ['ftp://blog.example/hooks', false, /http or https/],
    ['javascript:alert(1)', true, /http or https/],
    ['https://user:secret@blog.example/hooks', true, /user name or password/],
    ['/hooks/status', true, /valid absolute URL/],
    [`https://blog.example/${'a'.repeat(3000)}`, true, /longer than/],
  ])('%s (allowPrivate %s) → %s', (url, allowPrivate, expected) => {
    const reason = checkWebhookUrl(url, allowPrivate);
    if (expected === null) expect(reason).toBeNull();
    else expect(reason).toMatch(expected);
    if (reason !== null) expect(reason).not.toContain('secret');
  });
});

describe('parseRetryAfter', () => {
  const now = Date.parse('2025-01-01T00:00:00Z');
  it.each([
    ['120', 120_000],
    [' 0 ', 0],
    ['Wed, 01 Jan 2025 00:00:30 GMT', 30_000],
    ['Tue, 31 Dec 2024 23:59:00 GMT', 0],
    ['soon', undefined],
    [undefined, undefined],
  ])('%s → %s ms', (value, expected) => {
    expect(parseRetryAfter(value, now)).toBe(expected);
  });
});

async function unusedPort(): Promise<number> {
  const server: Server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}
