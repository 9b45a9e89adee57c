/**
 * A rate limit is honoured to the time the provider gave, and only where it
 * applies: a Slack 429 (`Retry-After`) or an X 429 (`x-rate-limit-reset`)
 * holds back that whole channel — every Herald process, every incident —
 * while the other channels carry on; a webhook receiver's 429 holds back
 * that one target while the other targets carry on.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { newWebhookSecret } from '../fakes/webhook-receiver.js';
import { startHerald, type RunningHerald } from '../../src/herald.js';
import { createLogger } from '../../src/logger.js';
import { eventually, startStack, type Stack } from '../support/stack.js';
import { created, deliveriesOf, updatesInArrivalOrder } from './support.js';

/** What the fakes ask for. */
const RETRY_AFTER_SECONDS = 2;
/** Timestamps are whole milliseconds taken on either side of a socket: allow that much rounding. */
const CLOCK_TOLERANCE_MS = 10;
/** "Not delayed": far below the 2 s a rate limit would cost, far above a local round trip. */
const PROMPT_MS = 1500;

let stack: Stack | undefined;
afterEach(async () => {
  await stack?.stop();
  stack = undefined;
});

async function hookAudience(s: Stack, name: string, paths: readonly string[], extra: Record<string, unknown> = {}): Promise<void> {
  const webhooks = paths.map((path) => {
    const secret = newWebhookSecret();
    return { url: s.hooks.register(path, secret), secret };
  });
  const res = await s.api('PUT', `/v1/audiences/${name}`, { ...extra, webhooks });
  expect(res.statusCode, res.body).toBe(200);
}

function open(s: Stack, title: string, audiences: string[]) {
  return s.api('POST', '/v1/incidents', { title, severity: 'major', message: `${title}: investigating.`, audiences });
}

describe('given Slack answers 429 with Retry-After: 2', () => {
  it('no chat.postMessage reaches Slack until 2 s later, for any incident; email and webhooks are not delayed; then it is delivered', async () => {
    stack = await startStack();
    const s = stack;
    await hookAudience(s, 'partners', ['/partners-blog'], { slack: { channels: ['C0PARTNERS'] }, email: { recipients: ['ops@partner.example'] } });
    await hookAudience(s, 'internal', ['/internal-blog'], { slack: { channels: ['C0INTERNAL'] } });
    s.slack.rateLimit(RETRY_AFTER_SECONDS, 1, 'chat.postMessage');

    const postedAt = Date.now();
    const first = created(await open(s, 'Search degraded', ['partners']));
    await s.slack.waitFor((f) => f.calls.some((c) => c.response?.status === 429), 5000);
    const limited = s.slack.calls.find((c) => c.response?.status === 429)!;
    const pauseEndsAt = limited.receivedAt + RETRY_AFTER_SECONDS * 1000;

    // A second incident, to another Slack channel, posted while the channel is paused.
    const secondPostedAt = Date.now();
    const second = created(await open(s, 'Login slow', ['internal']));

    const [mail] = await s.smtp.waitFor({ to: 'ops@partner.example' }, 5000);
    const [hook] = await s.hooks.waitFor({ path: '/partners-blog' }, 5000);
    const [otherHook] = await s.hooks.waitFor({ path: '/internal-blog' }, 5000);
    expect(mail!.receivedAt - postedAt).toBeLessThan(PROMPT_MS);
    expect(hook!.receivedAt - postedAt).toBeLessThan(PROMPT_MS);
    expect(otherHook!.receivedAt - secondPostedAt).toBeLessThan(PROMPT_MS);
    expect(Math.max(mail!.receivedAt, hook!.receivedAt, otherHook!.receivedAt)).toBeLessThan(pauseEndsAt);

    await s.slack.waitFor(2, 10_000);
    const posts = s.slack.calls.filter((c) => c.method === 'chat.postMessage');
    // Every call other than the refused one came after the time Slack gave.
    for (const call of posts.filter((c) => c !== limited)) {
      expect(call.receivedAt - limited.receivedAt, `chat.postMessage to ${String(call.params.channel)}`).toBeGreaterThanOrEqual(
        RETRY_AFTER_SECONDS * 1000 - CLOCK_TOLERANCE_MS,
      );
    }
    // Once each: the refused message was retried once, the paused one sent once.
    expect(posts.map((c) => c.params.channel).sort()).toEqual(['C0INTERNAL', 'C0PARTNERS', 'C0PARTNERS']);
    expect(s.slack.posts().map((p) => p.channel).sort()).toEqual(['C0INTERNAL', 'C0PARTNERS']);

    for (const incident of [first.incident.id, second.incident.id]) {
      await eventually(async () => (await deliveriesOf(s, incident)).every((d) => d.state === 'sent') || undefined, 5000, 'recorded sent');
    }
  });
});

describe('given Slack answers 429 with Retry-After: 2 to one worker process', () => {
  let workers: RunningHerald[] = [];
  afterEach(async () => {
    for (const w of workers) await w.stop();
    workers = [];
  });

  it("another worker process that never saw the 429 sends nothing to Slack until then either (the queue's rate limit holds it)", async () => {
    stack = await startStack({ roles: ['api'] });
    const s = stack;
    const startWorkers = async (): Promise<RunningHerald> => {
      const w = await startHerald({ config: s.config, roles: new Set(['workers']), logger: createLogger(s.config.logLevel) });
      workers.push(w);
      return w;
    };
    await hookAudience(s, 'partners', [], { slack: { channels: ['C0PARTNERS'] } });
    await hookAudience(s, 'internal', [], { slack: { channels: ['C0INTERNAL'] } });
    s.slack.rateLimit(RETRY_AFTER_SECONDS, 1, 'chat.postMessage');

    const first = await startWorkers();
    created(await open(s, 'Search degraded', ['partners']));
    await s.slack.waitFor((f) => f.calls.some((c) => c.response?.status === 429), 5000);
    const limited = s.slack.calls.find((c) => c.response?.status === 429)!;
    // The process that was told to wait goes away; a fresh one, with nothing in memory, takes over.
    await first.stop();
    workers = workers.filter((w) => w !== first);
    await startWorkers();
    created(await open(s, 'Login slow', ['internal']));

    await s.slack.waitFor(2, 10_000);
    const posts = s.slack.calls.filter((c) => c.method === 'chat.postMessage' && c !== limited);
    for (const call of posts) {
      expect(call.receivedAt - limited.receivedAt, `chat.postMessage to ${String(call.params.channel)}`).toBeGreaterThanOrEqual(
        RETRY_AFTER_SECONDS * 1000 - CLOCK_TOLERANCE_MS,
      );
    }
    expect(s.slack.posts().map((p) => p.channel).sort()).toEqual(['C0INTERNAL', 'C0PARTNERS']);
  });
});

describe('given X answers 429 with x-rate-limit-reset 2 s ahead', () => {
  it('no post reaches X before the reset time; the webhook is not delayed; then the post is delivered', async () => {
    stack = await startStack();
    const s = stack;
    await hookAudience(s, 'public', ['/blog'], { x: { enabled: true } });
    s.x.rateLimit(RETRY_AFTER_SECONDS, 1);

    const postedAt = Date.now();
    const opened = created(await open(s, 'API errors', ['public']));
    const [hook] = await s.hooks.waitFor({ path: '/blog' }, 5000);
    expect(hook!.receivedAt - postedAt).toBeLessThan(PROMPT_MS);

    await s.x.waitFor(1, 10_000);
    const tweets = s.x.requests.filter((r) => r.method === 'POST' && r.path.startsWith('/2/tweets'));
    const limited = tweets[0]!;
    expect(limited.response?.status).toBe(429);
    // The fake named a whole second: the reset is no earlier than this.
    const resetAt = (Math.floor(limited.receivedAt / 1000) + RETRY_AFTER_SECONDS) * 1000;
    expect(hook!.receivedAt).toBeLessThan(resetAt);
    expect(tweets).toHaveLength(2);
    expect(tweets[1]!.receivedAt).toBeGreaterThanOrEqual(resetAt - CLOCK_TOLERANCE_MS);
    expect(s.x.posts).toHaveLength(1);
    await eventually(async () => (await deliveriesOf(s, opened.incident.id)).every((d) => d.state === 'sent') || undefined, 5000, 'recorded sent');
  });
});

describe('given one webhook target answers 429 with Retry-After: 2', () => {
  it('that target is asked again no sooner than 2 s later; the other targets get this and the next update at once', async () => {
    stack = await startStack();
    const s = stack;
    await hookAudience(s, 'blogs', ['/limited', '/a', '/b']);
    s.hooks.respond('/limited', [{ status: 429, retryAfter: RETRY_AFTER_SECONDS }, 200]);

    const postedAt = Date.now();
    const opened = created(await open(s, 'Webhooks delayed', ['blogs']));
    const incidentId = opened.incident.id;
    await Promise.all(['/a', '/b'].map((path) => s.hooks.waitFor({ path }, 5000)));
    const nextPostedAt = Date.now();
    const next = created(await s.api('POST', `/v1/incidents/${incidentId}/updates`, { message: 'Still investigating.' }));
    const others = await Promise.all(['/a', '/b'].map((path) => s.hooks.waitFor({ path, count: 2 }, 5000)));

    const limited = await s.hooks.waitFor({ path: '/limited', count: 3 }, 10_000);
    const [refused, retried, following] = limited;
    expect(refused!.answer).toBe(429);
    expect(retried!.receivedAt - refused!.receivedAt).toBeGreaterThanOrEqual(RETRY_AFTER_SECONDS * 1000 - CLOCK_TOLERANCE_MS);
    expect(retried!.webhookId).toBe(refused!.webhookId);
    expect(updatesInArrivalOrder(limited)).toEqual([opened.update.id, next.update.id]);
    expect(following!.answer).toBe(200);

    for (const got of others) {
      expect(updatesInArrivalOrder(got)).toEqual([opened.update.id, next.update.id]);
      expect(got[0]!.receivedAt - postedAt).toBeLessThan(PROMPT_MS);
      expect(got[1]!.receivedAt - nextPostedAt).toBeLessThan(PROMPT_MS);
      // The limit was the one target's: the others' next update went before it was lifted.
      expect(got[1]!.receivedAt).toBeLessThan(refused!.receivedAt + RETRY_AFTER_SECONDS * 1000);
    }
    await eventually(async () => (await deliveriesOf(s, incidentId)).every((d) => d.state === 'sent') || undefined, 5000, 'recorded sent');
    expect(s.hooks.received('/limited')).toHaveLength(3);
  });

  it('a 429 that was slow to come counts its Retry-After from the answer, not from when the request was sent', async () => {
    stack = await startStack();
    const s = stack;
    await hookAudience(s, 'blogs', ['/slow-limited']);
    // Behind a busy rate limiter the 429 itself takes a while: 1.5 s here.
    let calls = 0;
    let answeredAt = 0;
    s.hooks.respond('/slow-limited', async () => {
      calls += 1;
      if (calls > 1) return 200;
      await new Promise((r) => setTimeout(r, 1500));
      answeredAt = Date.now();
      return { status: 429, retryAfter: RETRY_AFTER_SECONDS };
    });

    created(await open(s, 'Status page slow', ['blogs']));
    const [refused, retried] = await s.hooks.waitFor({ path: '/slow-limited', count: 2 }, 10_000);
    expect(refused!.answer).toBe(429);
    expect(answeredAt - refused!.receivedAt).toBeGreaterThanOrEqual(1500 - CLOCK_TOLERANCE_MS);
    expect(retried!.receivedAt - answeredAt, 'from the 429 to the next request').toBeGreaterThanOrEqual(
      RETRY_AFTER_SECONDS * 1000 - CLOCK_TOLERANCE_MS,
    );
    expect(retried!.webhookId).toBe(refused!.webhookId);
  });
});
