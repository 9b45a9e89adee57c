/**
 * Sends one update to a batch of its targets on one channel.
 *
 * For each delivery in the batch: skip it unless it is its lane's head (its
 * turn) and this job holds its lease; send it with the thread state of its
 * target; record the outcome; pop final ones off their lanes, releasing the
 * next update for that target; schedule retries of transient failures.
 * Every step is recorded before the next, so a job re-run after a crash
 * resumes instead of sending again.
 */
import { createHash } from 'node:crypto';
import type { Logger } from 'pino';
import {
  DeliveryError,
  PermanentDeliveryError,
  RateLimitedError,
  TargetGoneError,
  type ChannelName,
} from '../channels/channel.js';
import type { Channels } from '../channels/registry.js';
import { targetFromKey, type ChannelTarget, type RecordedTarget } from '../domain/audience.js';
import { isFinal, type DeliveryRecord } from '../domain/delivery.js';
import type { Incident, IncidentUpdate } from '../domain/incident.js';
import { unsubscribeUrl, type UnsubscribeTokens } from '../domain/unsubscribe-token.js';
import type { DeliveryJob } from '../queue/jobs.js';
import type { Renderer } from '../render/renderer.js';
import { distinctPost } from '../render/x-text.js';
import type { EmailRendered, RenderContext } from '../render/types.js';
import type { AudienceStore } from '../store/audience-store.js';
import { CLAIM_STATUS, MAX_REFERENCES, parseLaneToken, type DeliveryStore, type LaneToken, type ThreadState, type UnreadableDelivery } from '../store/delivery-store.js';
import type { IncidentStore } from '../store/incident-store.js';
import { logDeadDelivery, logFailedAttempt } from './delivery-log.js';
import { renderContext, webhookPayload } from './render-context.js';
import { retryDelayMs, retryPolicy, type RetryPolicy } from './retry-policy.js';

/** A delivery job to add; `jobId` de-duplicates, `delayMs` postpones. */
export interface ScheduledDelivery {
  jobId: string;
  data: DeliveryJob;
  delayMs?: number;
}

/** Where the pipeline puts the work it creates (the queue layer implements it). */
export interface DeliveryScheduler {
  schedule(jobs: readonly ScheduledDelivery[]): Promise<void>;
}

/** The channel is rate-limited until `untilMs`: the job should wait, not run. */
export class ChannelPausedError extends Error {
  constructor(
    readonly channel: ChannelName,
    readonly untilMs: number,
  ) {
    super(`${channel} is rate-limited until ${new Date(untilMs).toISOString()}`);
    this.name = 'ChannelPausedError';
  }
}

export interface DelivererDeps {
  incidents: IncidentStore;
  audiences: AudienceStore;
  deliveries: DeliveryStore;
  renderer: Renderer;
  channels: Channels;
  unsubscribeTokens: UnsubscribeTokens;
  publicUrl: string;
  /** The domain of `EMAIL_FROM`, for Message-IDs. */
  emailDomain: string;
  scheduler: DeliveryScheduler;
  logger: Logger;
  /** Operator overrides of every channel's retry policy. */
  retryOverride?: { maxAttempts?: number; baseDelayMs?: number };
  /** Told of each delivery that went dead (the commander is alerted once per update). */
  onDead?: (record: DeliveryRecord) => Promise<void>;
  now?: () => Date;
}

export interface DeliveryJobSummary {
  sent: number;
  failed: number;
  dead: number;
  skipped: number;
}

/** What a job knows about the update it delivers; shared by every target. */
interface Prepared {
  incident: Incident;
  update: IncidentUpdate;
  context: RenderContext;
  /** Context of the incident's first message, showing the status as of this update. */
  openingContext: RenderContext;
  cache: Map<string, unknown>;
}

interface Outcome {
  record: DeliveryRecord;
  thread?: ThreadState;
  /** Set when the channel (not just this target) must pause: until when (epoch ms). */
  channelPausedUntil?: number;
  gone?: boolean;
  /** Written to Redis (and its lease given back). */
  recorded?: boolean;
}

/** How soon a delivery held by another job is looked at again. */
const RECHECK_AFTER_MS = 2_000;
/**
 * Stand-ins for an unsubscribe token while an update's email is rendered
 * once for all its recipients: of token characters (which no escape alters),
 * different lengths, and nothing a template would write by itself.
 */
const TOKEN_PLACEHOLDERS = ['HeraldTokenPlaceholderA0', 'HeraldTokenPlaceholderBB11xyz'] as const;
const TOKEN_CHARACTERS = /^[A-Za-z0-9_.-]+$/;
/** Prepared updates kept per process; a fan-out touches one update at a time. */
const PREPARED_CACHE_SIZE = 64;

function digest(parts: readonly string[]): string {
  return createHash('sha256').update(parts.join('\n')).digest('base64url').slice(0, 16);
}

function errorText(error: unknown): string {
  if (error instanceof DeliveryError) return `${error.code}: ${error.message}`;
  return error instanceof Error ? error.message : String(error);
}

export class Deliverer {
  private readonly prepared = new Map<string, Promise<Prepared | null>>();
  private readonly now: () => Date;
  private readonly policies: Record<ChannelName, RetryPolicy>;
  /**
   * Until when each channel is rate-limited, as this process last saw it. A
   * batch already sending checks it before every request, so one 429 stops
   * the rest of the batch, not just the next jobs.
   */
  private readonly pausedUntil = new Map<ChannelName, number>();
  /** Webhook signing secrets by URL, as the latest webhook job read them from the audiences. */
  private secrets: ReadonlyMap<string, string> = new Map();

  constructor(private readonly deps: DelivererDeps) {
    this.now = deps.now ?? (() => new Date());
    this.policies = {
      slack: retryPolicy('slack', deps.retryOverride),
      x: retryPolicy('x', deps.retryOverride),
      email: retryPolicy('email', deps.retryOverride),
      webhook: retryPolicy('webhook', deps.retryOverride),
    };
  }

  async run(job: DeliveryJob, owner: string): Promise<DeliveryJobSummary> {
    const { incidentId, updateId, channel } = job;
    const { deliveries } = this.deps;
    const pausedUntil = await deliveries.pausedUntil(channel);
    this.pausedUntil.set(channel, pausedUntil);
    if (pausedUntil > this.now().getTime()) throw new ChannelPausedError(channel, pausedUntil);

    const claimed = await deliveries.claim(owner, updateId, incidentId, channel, job.deliveryIds);
    const records: DeliveryRecord[] = [];
    const alreadyFinal: DeliveryRecord[] = [];
    const mine: DeliveryRecord[] = [];
    const heldElsewhere: DeliveryRecord[] = [];
    const unreadable: Outcome[] = [];
    for (const claim of claimed) {
      if (claim.status === CLAIM_STATUS.undecodable) {
        unreadable.push({ record: this.unreadableRecord(job, claim.unreadable) });
        continue;
      }
      const { status, record } = claim;
      if (record === null) continue;
      records.push(record);
      if (status === CLAIM_STATUS.final) alreadyFinal.push(record);
      else if (status === CLAIM_STATUS.mine) mine.push(record);
      else if (status === CLAIM_STATUS.held) heldElsewhere.push(record);
    }
    const previous = new Map(records.map((r) => [r.id, r.state]));
    if (unreadable.length > 0) {
      this.deps.logger.error(
        { incidentId, updateId, channel, deliveries: unreadable.map((o) => ({ id: o.record.id, error: o.record.error })) },
        'delivery records cannot be read; marked dead so that their targets\' later updates go on',
      );
    }
    if (mine.length > 0 && channel === 'webhook') this.secrets = await this.deps.audiences.webhookSecrets();

    // Each outcome is recorded as soon as it is known, so a target that hangs
    // never holds back its batch-mates' next updates. Writes coalesce: while
    // one flush is in flight, the outcomes that arrive wait for the next.
    const outcomes: Outcome[] = [...unreadable];
    const unrecorded: Outcome[] = [];
    let flushing: Promise<void> = this.record(job, owner, unreadable, alreadyFinal, previous).then(() => this.recheckLater(job, heldElsewhere));
    let failure: unknown;
    const flush = (): Promise<void> => {
      flushing = flushing
        .catch((error: unknown) => {
          failure ??= error;
        })
        .then(async () => {
          const batch = unrecorded.splice(0);
          if (batch.length > 0) await this.record(job, owner, batch, [], previous);
        });
      return flushing;
    };
    try {
      if (mine.length > 0) {
        const prepared = await this.prepare(incidentId, updateId);
        if (prepared === null) {
          this.deps.logger.warn({ incidentId, updateId }, 'update no longer exists; dropping its deliveries');
        } else {
          // Webhooks are stateless: each delivery stands alone, there is no thread to continue.
          const threads = channel === 'webhook' ? new Map<string, ThreadState>() : await deliveries.threads(incidentId, channel, mine.map((r) => r.target.key));
          await Promise.all(
            mine.map(async (r) => {
              const outcome = await this.attempt(r, threads.get(r.target.key), prepared);
              if (outcome.record.state === 'failed' && outcome.record.attempts > r.attempts) logFailedAttempt(this.deps.logger, outcome.record);
              outcomes.push(outcome);
              unrecorded.push(outcome);
              void flush().catch(() => {});
            }),
          );
        }
      }
      await flush().catch((error: unknown) => {
        failure ??= error;
      });
      if (failure !== undefined) throw failure;
    } finally {
      // Normally given back as each outcome was recorded; these are the ones a failure left.
      const recorded = new Set(outcomes.filter((o) => o.recorded).map((o) => o.record.id));
      await deliveries.release(owner, mine.filter((r) => !recorded.has(r.id)).map((r) => r.id));
    }
    const count = (state: DeliveryRecord['state']): number => outcomes.filter((o) => o.record.state === state).length;
    return { sent: count('sent'), failed: count('failed'), dead: count('dead'), skipped: records.length + unreadable.length - outcomes.length };
  }

  /**
   * Gives up on a job that kept failing for a reason no provider gave (a
   * bug, a record or update that cannot be read, a script that raises): its
   * deliveries that are not final and not in another live job's hands become
   * `dead` with the reason, their lanes move on to the targets' later
   * updates, and the commander is alerted (once per update). Returns how
   * many it marked dead.
   */
  async giveUp(job: DeliveryJob, reason: string): Promise<number> {
    const owner = `gave-up.${job.updateId}.${this.now().getTime()}`;
    const claimed = await this.deps.deliveries.claim(owner, job.updateId, job.incidentId, job.channel, job.deliveryIds);
    const error = `gave up: ${reason}`;
    const dead: Outcome[] = [];
    const previous = new Map<string, DeliveryRecord['state']>();
    for (const claim of claimed) {
      if (claim.status === CLAIM_STATUS.undecodable) {
        dead.push({ record: this.unreadableRecord(job, claim.unreadable) });
      } else if (claim.record !== null && (claim.status === CLAIM_STATUS.mine || claim.status === CLAIM_STATUS.waiting)) {
        previous.set(claim.record.id, claim.record.state);
        dead.push({ record: { ...claim.record, state: 'dead', error, retryAt: null } });
      }
    }
    await this.record(job, owner, dead, [], previous);
    return dead.length;
  }

  /** The dead record that replaces one that cannot be read: it names its target by its lane. */
  private unreadableRecord(job: DeliveryJob, unreadable: UnreadableDelivery): DeliveryRecord {
    const now = this.now().toISOString();
    return {
      id: unreadable.id,
      incidentId: job.incidentId,
      updateId: job.updateId,
      seq: 0,
      index: 0,
      channel: job.channel,
      target: targetFromKey(job.channel, unreadable.targetKey),
      state: 'dead',
      attempts: 0,
      providerRef: null,
      error: `undecodable delivery record: ${unreadable.error}`,
      queuedAt: now,
      sentAt: null,
      retryAt: null,
    };
  }

  /** A webhook target with its signing secret, which only its audience keeps. */
  private signingTarget(target: Extract<RecordedTarget, { channel: 'webhook' }>): ChannelTarget<'webhook'> {
    const secret = this.secrets.get(target.url);
    // Removed from every audience before its turn: its secret went with it, and an unsigned request would be refused.
    if (secret === undefined) throw new PermanentDeliveryError('target_removed', 'the webhook was removed from every audience before its turn');
    return { ...target, secret };
  }

  private async record(
    job: DeliveryJob,
    owner: string,
    outcomes: readonly Outcome[],
    alreadyFinal: readonly DeliveryRecord[],
    previous: ReadonlyMap<string, DeliveryRecord['state']>,
  ): Promise<void> {
    const { incidentId, updateId, channel } = job;
    const threads = new Map<string, ThreadState>();
    for (const o of outcomes) if (o.thread) threads.set(o.record.target.key, o.thread);
    const final = [...alreadyFinal, ...outcomes.map((o) => o.record).filter((r) => isFinal(r.state))];
    const released = await this.deps.deliveries.record({
      incidentId,
      updateId,
      channel,
      owner,
      threads,
      saved: outcomes.map((o) => o.record),
      previous,
      final,
    });
    for (const o of outcomes) o.recorded = true;
    for (const o of outcomes) if (o.record.state === 'dead' && previous.get(o.record.id) !== 'dead') logDeadDelivery(this.deps.logger, o.record);

    const pausedUntil = Math.max(0, ...outcomes.map((o) => o.channelPausedUntil ?? 0));
    if (pausedUntil > 0) await this.deps.deliveries.pause(channel, pausedUntil);

    for (const o of outcomes) {
      if (o.record.state === 'dead' && previous.get(o.record.id) !== 'dead' && this.deps.onDead !== undefined) {
        // Not awaited: a slow DM to the commander must not hold back the batch-mates' next updates.
        void this.deps.onDead(o.record).catch((error: unknown) =>
          this.deps.logger.warn({ deliveryId: o.record.id, err: String(error) }, 'could not alert the commander of a dead delivery'),
        );
      }
    }

    for (const o of outcomes) {
      if (o.gone && o.record.target.channel === 'webhook') {
        const disabled = await this.deps.audiences.disableWebhook(o.record.target.url);
        this.deps.logger.warn({ audiences: disabled, deliveryId: o.record.id }, 'webhook target answered 410 Gone; disabled');
      }
    }

    const jobs = [...this.successorJobs(job, released), ...this.retryJobs(job, outcomes)];
    if (jobs.length > 0) await this.deps.scheduler.schedule(jobs);
  }

  /**
   * Deliveries another job holds are looked at again shortly: normally that
   * job has finished them by then and this is a no-op; if it died, its lease
   * has run out and the delivery is taken over.
   */
  private async recheckLater(job: DeliveryJob, held: readonly DeliveryRecord[]): Promise<void> {
    if (held.length === 0) return;
    const ids = held.map((r) => r.id);
    const second = Math.ceil((this.now().getTime() + RECHECK_AFTER_MS) / 1000);
    await this.deps.scheduler.schedule([
      {
        jobId: `recheck.${job.channel}.${job.updateId}.${second}.${digest([...ids].sort())}`,
        data: { ...job, deliveryIds: ids },
        delayMs: RECHECK_AFTER_MS,
      },
    ]);
  }

  /** Released deliveries, grouped per update into jobs of their own. */
  private successorJobs(job: DeliveryJob, released: readonly LaneToken[]): ScheduledDelivery[] {
    const byUpdate = new Map<string, string[]>();
    for (const token of released) {
      const { updateId, deliveryId } = parseLaneToken(token);
      const ids = byUpdate.get(updateId);
      if (ids === undefined) byUpdate.set(updateId, [deliveryId]);
      else ids.push(deliveryId);
    }
    return [...byUpdate].map(([updateId, ids]) => ({
      jobId: `next.${job.channel}.${updateId}.${digest([...ids].sort())}`,
      data: { incidentId: job.incidentId, updateId, channel: job.channel, deliveryIds: ids },
    }));
  }

  /** Deliveries to try again (failed, or held back by a rate limit), grouped by the second they are due (jitter makes exact times unique). */
  private retryJobs(job: DeliveryJob, outcomes: readonly Outcome[]): ScheduledDelivery[] {
    const bySecond = new Map<number, DeliveryRecord[]>();
    for (const { record } of outcomes) {
      if (isFinal(record.state) || record.retryAt === null) continue;
      const second = Math.ceil(Date.parse(record.retryAt) / 1000);
      const group = bySecond.get(second);
      if (group === undefined) bySecond.set(second, [record]);
      else group.push(record);
    }
    const now = this.now().getTime();
    return [...bySecond].map(([second, records]) => {
      const ids = records.map((r) => r.id);
      return {
        // Unique per due second: BullMQ ignores an add whose id it still remembers,
        // and a delivery held back twice by rate limits keeps its attempt count.
        jobId: `retry.${job.channel}.${job.updateId}.${second}.${digest([...ids].sort())}`,
        data: { ...job, deliveryIds: ids },
        delayMs: Math.max(0, second * 1000 - now),
      };
    });
  }

  private async attempt(record: DeliveryRecord, thread: ThreadState | undefined, prepared: Prepared): Promise<Outcome> {
    const now = this.now();
    const pausedUntil = this.pausedUntil.get(record.channel) ?? 0;
    if (pausedUntil > now.getTime()) {
      // Not sent: the provider asked for quiet until then. No attempt is spent.
      return { record: { ...record, retryAt: new Date(pausedUntil).toISOString() } };
    }
    const attempts = record.attempts + 1;
    try {
      const result = await this.send(record, thread, prepared);
      return {
        record: { ...record, state: 'sent', attempts, providerRef: result.providerRef, error: null, sentAt: this.now().toISOString(), retryAt: null },
        thread: result.thread,
      };
    } catch (error) {
      // Waits are counted from the answer: a 429 that took 1.5 s to arrive still means "wait Retry-After from now".
      const answeredAt = this.now().getTime();
      const message = errorText(error);
      const policy = this.policies[record.channel];
      if (error instanceof RateLimitedError) {
        // The provider named the time; waiting for it is not the target's failure.
        const until = answeredAt + error.retryAfterMs;
        if (error.scope === 'channel') this.pausedUntil.set(record.channel, Math.max(until, this.pausedUntil.get(record.channel) ?? 0));
        return {
          record: { ...record, state: 'failed', attempts, error: message, retryAt: new Date(until).toISOString() },
          ...(error.scope === 'channel' && { channelPausedUntil: until }),
        };
      }
      if (error instanceof DeliveryError && !error.retryable) {
        return {
          record: { ...record, state: 'dead', attempts, error: message, retryAt: null },
          gone: error instanceof TargetGoneError,
        };
      }
      if (!(error instanceof DeliveryError)) {
        this.deps.logger.error({ err: error, deliveryId: record.id }, 'unexpected error while delivering');
      }
      if (attempts >= policy.maxAttempts) {
        return { record: { ...record, state: 'dead', attempts, error: `${message} (gave up after ${attempts} attempts)`, retryAt: null } };
      }
      const retryAt = new Date(answeredAt + retryDelayMs(policy, attempts)).toISOString();
      return { record: { ...record, state: 'failed', attempts, error: message, retryAt } };
    }
  }

  private async send(
    record: DeliveryRecord,
    thread: ThreadState | undefined,
    prepared: Prepared,
  ): Promise<{ providerRef: string; thread?: ThreadState }> {
    const { channels, renderer } = this.deps;
    const { update, context } = prepared;
    const target = record.target;
    switch (target.channel) {
      case 'slack': {
        const slack = required(channels.slack, 'slack');
        const message = cached(prepared, 'slack', () => renderer.render('slack', update.kind, context));
        if (thread?.root === undefined) {
          const { providerRef, channelId } = await slack.post(target, message);
          return { providerRef, thread: { root: providerRef, last: providerRef, channelId } };
        }
        const { providerRef, channelId } = await slack.post(target, message, { rootTs: thread.root });
        await this.editSlackRoot(target, thread.root, thread.channelId ?? channelId, prepared, record.id);
        return { providerRef, thread: { ...thread, last: providerRef } };
      }
      case 'x': {
        const x = required(channels.x, 'x');
        const { text } = cached(prepared, 'x', () => renderer.render('x', update.kind, context));
        // X refuses a post equal to a recent one (403): holding statements of a short cadence repeat word for word.
        const said = digest([text]);
        const post = thread?.lastText === said ? distinctPost(text, update, context.incident.url) : text;
        const { providerRef } = await x.post(post, thread?.last);
        return { providerRef, thread: { root: thread?.root ?? providerRef, last: providerRef, lastText: said } };
      }
      case 'email': {
        const email = required(channels.email, 'email');
        const messageId = `<${record.id}@${this.deps.emailDomain}>`;
        const token = this.deps.unsubscribeTokens.sign({ address: target.address, audiences: target.audiences });
        const link = unsubscribeUrl(this.deps.publicUrl, token);
        const rendered = this.renderEmail(prepared, token, link);
        const references = thread?.references ?? [];
        const { providerRef } = await email.send(target, {
          ...rendered,
          messageId,
          unsubscribeUrl: link,
          ...(thread?.last !== undefined && { inReplyTo: thread.last, references }),
        });
        const chain = [...references, messageId];
        const trimmed = chain.length > MAX_REFERENCES ? [chain[0]!, ...chain.slice(-(MAX_REFERENCES - 1))] : chain;
        return { providerRef, thread: { root: thread?.root ?? messageId, last: messageId, references: trimmed } };
      }
      case 'webhook': {
        const body = cached(prepared, 'webhook', () =>
          Buffer.from(JSON.stringify(webhookPayload(prepared.incident, update, context.incident.url, renderer.render('webhook', update.kind, context)))),
        );
        return this.deps.channels.webhook.send(this.signingTarget(target), { id: record.id, body });
      }
    }
  }

  /**
   * An update's email for one recipient. The only thing that differs between
   * recipients is the unsubscribe token, so the update is rendered once with
   * a placeholder token and each recipient's is put in its place — unless the
   * templates do something with the link other than print it (checked once
   * per update: two placeholders of different lengths must render alike), or
   * the token has a character an escape could change; then it is rendered
   * for the recipient, as before.
   */
  private renderEmail(prepared: Prepared, token: string, link: string): EmailRendered {
    const { renderer, publicUrl } = this.deps;
    const { update, context } = prepared;
    const render = (unsubscribe: string) => renderer.render('email', update.kind, { ...context, unsubscribeUrl: unsubscribe });
    const shared = cached(prepared, 'email', () => {
      const [a, b] = TOKEN_PLACEHOLDERS.map((placeholder) => render(unsubscribeUrl(publicUrl, placeholder))) as [EmailRendered, EmailRendered];
      const swapped = (text: string) => text.split(TOKEN_PLACEHOLDERS[0]).join(TOKEN_PLACEHOLDERS[1]);
      const verbatim = swapped(a.subject) === b.subject && swapped(a.text) === b.text && swapped(a.html) === b.html;
      return verbatim ? a : null;
    });
    if (shared === null || !TOKEN_CHARACTERS.test(token)) return render(link);
    const fill = (text: string) => text.split(TOKEN_PLACEHOLDERS[0]).join(token);
    return { subject: fill(shared.subject), text: fill(shared.text), html: fill(shared.html) };
  }

  /**
   * Edits a Slack thread's first message to show the current status. The
   * reply is already recorded as sent; a failed edit is logged, not retried,
   * since the next update edits it again.
   */
  private async editSlackRoot(
    target: ChannelTarget<'slack'>,
    rootTs: string,
    channelId: string,
    prepared: Prepared,
    deliveryId: string,
  ): Promise<void> {
    const message = cached(prepared, 'slack:root', () =>
      // The first message's own template (`opened`, or `maintenance-scheduled`), showing the status now.
      this.deps.renderer.render('slack', prepared.openingContext.update.kind, prepared.openingContext),
    );
    try {
      await required(this.deps.channels.slack, 'slack').editRoot(target, rootTs, message, channelId);
    } catch (error) {
      this.deps.logger.warn({ deliveryId, err: errorText(error) }, 'could not edit the Slack thread root');
    }
  }

  private prepare(incidentId: string, updateId: string): Promise<Prepared | null> {
    let prepared = this.prepared.get(updateId);
    if (prepared === undefined) {
      prepared = this.load(incidentId, updateId);
      this.prepared.set(updateId, prepared);
      prepared.catch(() => this.prepared.delete(updateId));
      if (this.prepared.size > PREPARED_CACHE_SIZE) {
        const oldest = this.prepared.keys().next().value;
        if (oldest !== undefined) this.prepared.delete(oldest);
      }
    }
    return prepared;
  }

  private async load(incidentId: string, updateId: string): Promise<Prepared | null> {
    const moment = await this.deps.incidents.getMoment(incidentId, updateId);
    if (moment === null) return null;
    const { incident: snapshot, update, opening } = moment;
    const context = renderContext(snapshot, update, this.deps.publicUrl, opening);
    // The first message as it should read now: its own words, today's status and window.
    const { maintenance: _window, ...openingBase } = renderContext(snapshot, opening, this.deps.publicUrl, opening);
    const openingContext: RenderContext = {
      ...openingBase,
      incident: context.incident,
      nextUpdateDueAt: context.nextUpdateDueAt,
      ...(context.maintenance !== undefined && { maintenance: context.maintenance }),
    };
    return { incident: snapshot, update, context, openingContext, cache: new Map() };
  }
}

function cached<T>(prepared: Prepared, key: string, make: () => T): T {
  let value = prepared.cache.get(key) as T | undefined;
  if (value === undefined) {
    value = make();
    prepared.cache.set(key, value);
  }
  return value;
}

function required<T>(channel: T | undefined, name: ChannelName): T {
  if (channel === undefined) {
    // A delivery planned while the channel was configured, sent by a process where it is not.
    throw new TransientChannelMissing(name);
  }
  return channel;
}

class TransientChannelMissing extends DeliveryError {
  readonly retryable = true;
  constructor(name: ChannelName) {
    super('channel_disabled', `the ${name} channel is not configured in this process`);
  }
}
