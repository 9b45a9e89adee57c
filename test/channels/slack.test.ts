import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  DeliveryError,
  PermanentDeliveryError,
  RateLimitedError,
  TransientDeliveryError,
} from '../../src/channels/channel.js';
import { SlackChannel } from '../../src/channels/slack.js';
import type { ChannelTarget } from '../../src/domain/audience.js';
import { startSlackFake, type SlackFake } from '../fakes/slack-api.js';

const TOKEN = 'xoxb-1111-2222-S3CR3T-slack-token';
const OPS: ChannelTarget<'slack'> = { channel: 'slack', key: 'C0OPS', slackChannel: 'C0OPS' };
const PARTNERS: ChannelTarget<'slack'> = { channel: 'slack', key: 'C0PARTNERS', slackChannel: 'C0PARTNERS' };
const opened = { text: ':red_circle: *Email delivery delayed* — investigating. <https://status.example/i/1|Details>' };
const update = { text: 'We have identified a stuck queue and are draining it.' };

async function deliveryErrorOf(attempt: Promise<unknown>): Promise<DeliveryError> {
  const error: unknown = await attempt.then(
    () => expect.fail('expected the delivery to fail'),
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(DeliveryError);
  return error as DeliveryError;
}

describe('Slack channel', () => {
  let slack: SlackFake;
  let channel: SlackChannel;

  beforeAll(async () => {
    slack = await startSlackFake({ token: TOKEN });
    channel = new SlackChannel({ token: TOKEN, apiUrl: slack.url, timeoutMs: 300 });
  });
  afterEach(() => slack.reset());
  afterAll(async () => {
    await channel.close();
    await slack.close();
  });

  describe('given the first update of an incident', () => {
    it('posts one message to the channel with chat.postMessage, links not unfurled, and returns its ts', async () => {
      const receipt = await channel.post(OPS, opened);

      expect(slack.calls).toHaveLength(1);
      const [call] = slack.calls;
      expect(call?.method).toBe('chat.postMessage');
      expect(call?.token).toBe(TOKEN);
      expect(call?.params).toMatchObject({
        channel: 'C0OPS',
        text: opened.text,
        unfurl_links: 'false',
        unfurl_media: 'false',
      });
      expect(call?.params).not.toHaveProperty('thread_ts');
      expect(call?.params).not.toHaveProperty('reply_broadcast');
      expect(receipt.providerRef).toMatch(/^\d{10}\.\d{6}$/);
      expect(receipt.channelId).toBe('C0OPS');
      expect(slack.posts('C0OPS')).toEqual([expect.objectContaining({ ts: receipt.providerRef, text: opened.text })]);
    });

    it('posts to each channel separately, each message with its own, later ts', async () => {
      const first = await channel.post(OPS, opened);
      const second = await channel.post(PARTNERS, opened);

      expect(slack.posts().map((p) => p.channel)).toEqual(['C0OPS', 'C0PARTNERS']);
      expect(Number(second.providerRef)).toBeGreaterThan(Number(first.providerRef));
    });
  });

  describe('given a later update of the same incident', () => {
    it('replies in the first message’s thread and broadcasts the reply to the channel', async () => {
      const root = await channel.post(OPS, opened);
      const reply = await channel.post(OPS, update, { rootTs: root.providerRef });

      const replyCall = slack.calls[1];
      expect(replyCall?.method).toBe('chat.postMessage');
      expect(replyCall?.params).toMatchObject({
        channel: 'C0OPS',
        text: update.text,
        thread_ts: root.providerRef,
        reply_broadcast: 'true',
      });
      expect(slack.thread('C0OPS', root.providerRef)).toEqual([
        expect.objectContaining({ ts: reply.providerRef, threadTs: root.providerRef, replyBroadcast: true }),
      ]);
    });

    it('edits the first message with chat.update to show the current status', async () => {
      const root = await channel.post(OPS, opened);
      const current = { text: ':large_yellow_circle: *Email delivery delayed* — identified.' };

      await channel.editRoot(OPS, root.providerRef, current);

      expect(slack.calls[1]?.method).toBe('chat.update');
      expect(slack.calls[1]?.params).toMatchObject({ channel: 'C0OPS', ts: root.providerRef, text: current.text });
      expect(slack.updates('C0OPS')).toHaveLength(1);
      expect(slack.message('C0OPS', root.providerRef)).toMatchObject({ text: current.text, edits: 1 });
    });
  });

  describe('given an audience that names its channel (#status) instead of giving its id', () => {
    const STATUS: ChannelTarget<'slack'> = { channel: 'slack', key: '#status', slackChannel: '#status' };

    it('posts by name, threads by name, and edits the first message through the id Slack answered', async () => {
      const root = await channel.post(STATUS, opened);
      await channel.post(STATUS, update, { rootTs: root.providerRef });
      await channel.editRoot(STATUS, root.providerRef, update);

      expect(root.channelId).toMatch(/^C[A-Z0-9]+$/);
      expect(slack.calls.map((c) => [c.method, c.params.channel])).toEqual([
        ['chat.postMessage', '#status'],
        ['chat.postMessage', '#status'],
        ['chat.update', root.channelId],
      ]);
      expect(slack.message(root.channelId, root.providerRef)).toMatchObject({ text: update.text, edits: 1 });
    });

    it('a channel that never posted there edits through the channelId of the root’s receipt', async () => {
      const root = await channel.post(STATUS, opened);
      const otherWorker = new SlackChannel({ token: TOKEN, apiUrl: slack.url });
      try {
        // chat.update refuses names, as Slack does.
        await expect(otherWorker.editRoot(STATUS, root.providerRef, update)).rejects.toMatchObject({
          code: 'channel_not_found',
        });
        await otherWorker.editRoot(STATUS, root.providerRef, update, root.channelId);

        expect(slack.updates(root.channelId)).toEqual([expect.objectContaining({ ts: root.providerRef, text: update.text })]);
      } finally {
        await otherWorker.close();
      }
    });
  });

  describe('given a commander to remind', () => {
    it('sends a direct message to the user id and returns its ts', async () => {
      const reminder = { text: 'Reminder: the next update of “Email delivery delayed” is due at 14:30 UTC.' };

      const receipt = await channel.sendDirect('U0DANA', reminder);

      expect(slack.calls[0]?.method).toBe('chat.postMessage');
      expect(slack.calls[0]?.params).toMatchObject({ channel: 'U0DANA', text: reminder.text });
      expect(slack.calls[0]?.params).not.toHaveProperty('thread_ts');
      expect(receipt.channelId).toBe('D0DANA');
      expect(slack.posts('U0DANA')).toEqual([expect.objectContaining({ ts: receipt.providerRef, channelId: 'D0DANA' })]);
    });
  });

  describe('when Slack refuses or fails', () => {
    interface ErrorCase {
      given: string;
      arrange?: (fake: SlackFake) => void;
      send?: (channel: SlackChannel) => Promise<unknown>;
      error: typeof PermanentDeliveryError | typeof TransientDeliveryError | typeof RateLimitedError;
      code: string;
      retryAfterMs?: number;
    }
    const post = (c: SlackChannel): Promise<unknown> => c.post(OPS, update);
    const platform = (code: string, error: ErrorCase['error']): ErrorCase => ({
      given: `Slack answers ok:false ${code}`,
      arrange: (f) => f.fail('chat.postMessage', code),
      error,
      code,
    });

    const cases: ErrorCase[] = [
      { given: 'HTTP 429 with Retry-After: 7', arrange: (f) => f.rateLimit(7), error: RateLimitedError, code: 'rate_limited', retryAfterMs: 7000 },
      {
        given: 'HTTP 429 without Retry-After',
        arrange: (f) => f.respond('*', () => ({ status: 429, body: { ok: false, error: 'ratelimited' } })),
        error: RateLimitedError,
        code: 'rate_limited',
        retryAfterMs: 60_000,
      },
      platform('invalid_auth', PermanentDeliveryError),
      platform('not_authed', PermanentDeliveryError),
      platform('account_inactive', PermanentDeliveryError),
      platform('token_revoked', PermanentDeliveryError),
      platform('missing_scope', PermanentDeliveryError),
      platform('channel_not_found', PermanentDeliveryError),
      platform('is_archived', PermanentDeliveryError),
      platform('not_in_channel', PermanentDeliveryError),
      platform('restricted_action', PermanentDeliveryError),
      platform('invalid_blocks', PermanentDeliveryError),
      platform('internal_error', TransientDeliveryError),
      platform('fatal_error', TransientDeliveryError),
      platform('service_unavailable', TransientDeliveryError),
      platform('request_timeout', TransientDeliveryError),
      platform('ratelimited', TransientDeliveryError),
      platform('an_error_slack_invents_tomorrow', TransientDeliveryError),
      {
        given: 'a text over Slack’s 40,000 characters',
        send: (c) => c.post(OPS, { text: 'x'.repeat(40_001) }),
        error: PermanentDeliveryError,
        code: 'msg_too_long',
      },
      {
        given: 'an edit of a message Slack does not know',
        send: (c) => c.editRoot(OPS, '1500000000.000001', update),
        error: PermanentDeliveryError,
        code: 'message_not_found',
      },
      {
        given: 'an edit Slack forbids',
        arrange: (f) => f.fail('chat.update', 'cant_update_message'),
        send: (c) => c.editRoot(OPS, '1500000000.000001', update),
        error: PermanentDeliveryError,
        code: 'cant_update_message',
      },
      {
        given: 'a direct message to an unknown user',
        arrange: (f) => f.fail('chat.postMessage', 'user_not_found'),
        send: (c) => c.sendDirect('U0NOBODY', update),
        error: PermanentDeliveryError,
        code: 'user_not_found',
      },
      { given: 'HTTP 500', arrange: (f) => f.failHttp(500), error: TransientDeliveryError, code: 'http_500' },
      { given: 'HTTP 502', arrange: (f) => f.failHttp(502), error: TransientDeliveryError, code: 'http_502' },
      { given: 'HTTP 503', arrange: (f) => f.failHttp(503), error: TransientDeliveryError, code: 'http_503' },
      { given: 'HTTP 408', arrange: (f) => f.failHttp(408), error: TransientDeliveryError, code: 'http_408' },
      { given: 'HTTP 400', arrange: (f) => f.failHttp(400), error: PermanentDeliveryError, code: 'http_400' },
      { given: 'HTTP 404', arrange: (f) => f.failHttp(404), error: PermanentDeliveryError, code: 'http_404' },
      { given: 'no answer within the timeout', arrange: (f) => f.hang(), error: TransientDeliveryError, code: 'timeout' },
      { given: 'a dropped connection', arrange: (f) => f.disconnect(), error: TransientDeliveryError, code: 'network_error' },
    ];

    it.each(cases)('$given → $error.name ($code)', async ({ arrange, send = post, error, code, retryAfterMs }) => {
      arrange?.(slack);

      const failure = await deliveryErrorOf(send(channel));

      expect(failure).toBeInstanceOf(error);
      expect(failure.code).toBe(code);
      expect(failure.retryable).toBe(error !== PermanentDeliveryError);
      if (failure instanceof RateLimitedError) {
        expect(failure.retryAfterMs).toBe(retryAfterMs);
        expect(failure.scope).toBe('channel');
      }
      expect(failure.message).not.toContain(TOKEN);
      expect(JSON.stringify({ ...failure, stack: failure.stack })).not.toContain(TOKEN);
      expect(slack.calls.length).toBeGreaterThan(0);
    });

    it('given a token Slack does not accept, the fake answers invalid_auth and the error does not reveal the token', async () => {
      const wrongToken = 'xoxb-9999-WRONG-token-value';
      const misconfigured = new SlackChannel({ token: wrongToken, apiUrl: slack.url });
      try {
        const failure = await deliveryErrorOf(misconfigured.post(OPS, opened));

        expect(failure).toBeInstanceOf(PermanentDeliveryError);
        expect(failure.code).toBe('invalid_auth');
        expect(slack.calls[0]?.token).toBe(wrongToken);
        expect(`${failure.message} ${failure.stack}`).not.toContain(wrongToken);
      } finally {
        await misconfigured.close();
      }
    });

    it('given a channel that does not exist in the workspace, the fake answers channel_not_found (permanent)', async () => {
      const workspace = await startSlackFake({ token: TOKEN, channels: ['C0OPS', '#status'] });
      const poster = new SlackChannel({ token: TOKEN, apiUrl: workspace.url });
      try {
        await expect(poster.post(OPS, opened)).resolves.toMatchObject({ channelId: 'C0OPS' });
        await expect(poster.post({ ...OPS, slackChannel: '#status' }, opened)).resolves.toBeDefined();
        const failure = await deliveryErrorOf(poster.post(PARTNERS, opened));

        expect(failure).toBeInstanceOf(PermanentDeliveryError);
        expect(failure.code).toBe('channel_not_found');
        expect(failure.message).toContain('C0PARTNERS');
      } finally {
        await poster.close();
        await workspace.close();
      }
    });

    it('given nothing listening at the API URL, the failure is transient', async () => {
      const gone = await startSlackFake({ token: TOKEN });
      const unreachable = new SlackChannel({ token: TOKEN, apiUrl: gone.url });
      await gone.close();
      try {
        const failure = await deliveryErrorOf(unreachable.post(OPS, opened));

        expect(failure).toBeInstanceOf(TransientDeliveryError);
        expect(failure.code).toBe('network_error');
        expect(failure.message).toContain('ECONNREFUSED');
      } finally {
        await unreachable.close();
      }
    });

    it('after a passing rate limit, the next attempt goes through', async () => {
      slack.rateLimit(1, 1);

      await expect(channel.post(OPS, opened)).rejects.toBeInstanceOf(RateLimitedError);
      const receipt = await channel.post(OPS, opened);

      expect(slack.calls.map((c) => c.response?.status)).toEqual([429, 200]);
      expect(slack.posts()).toEqual([expect.objectContaining({ ts: receipt.providerRef })]);
    });
  });

  describe('when closed', () => {
    it('lets a send in progress finish, then refuses new ones as transient', async () => {
      const closing = new SlackChannel({ token: TOKEN, apiUrl: slack.url });
      let release: () => void = () => undefined;
      const held = new Promise<void>((resolve) => (release = resolve));
      slack.respond('chat.postMessage', async () => {
        await held;
        return undefined; // then answer as Slack would
      }, 1);

      const inFlight = closing.post(OPS, opened);
      await slack.waitFor((f) => f.calls.length === 1);
      let closed = false;
      const close = closing.close().then(() => (closed = true));
      await new Promise((resolve) => setImmediate(resolve));
      expect(closed).toBe(false);

      release();
      await expect(inFlight).resolves.toEqual({ providerRef: expect.any(String), channelId: 'C0OPS' });
      await close;
      const refused = await deliveryErrorOf(closing.post(OPS, opened));
      expect(refused).toBeInstanceOf(TransientDeliveryError);
      expect(refused.code).toBe('channel_closed');
      expect(slack.posts()).toHaveLength(1);
    });
  });
});
