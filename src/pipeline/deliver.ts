/**
 * A delivery job: one update sent to a batch of its targets on one channel.
 *
 * For each delivery in the batch: skip it unless it is its lane's head (its
 * turn) and this job holds its lease; send it with the thread state of its
 * target (send.ts); decide what comes of the answer (outcome.ts); record it,
 * popping final ones off their lanes, which releases each target's next
 * update; queue the jobs that follow (follow-ups.ts). Every step is recorded
 * before the next, so a job re-run after a crash resumes instead of sending
 * again.
 */
import type { Logger } from 'pino';
import type { ChannelName } from '../channels/channel.js';
import { DeliveryError } from '../channels/channel.js';
import type { Channels } from '../channels/registry.js';
import { targetFromKey } from '../domain/audience.js';
import { NOT_ATTEMPTED, deliveryId, type DeliveryRecord } from '../domain/delivery.js';
import type { UnsubscribeTokens } from '../domain/unsubscribe-token.js';
import type { DeliveryJob } from '../queue/jobs.js';
import type { Renderer } from '../render/renderer.js';
import type { AudienceStore } from '../store/audience-store.js';
import { CLAIM_STATUS, type DeliveryStore, type Released, type ThreadState } from '../store/delivery-store.js';
import type { IncidentStore } from '../store/incident-store.js';
import { logDeadDelivery, logFailedAttempt } from './delivery-log.js';
import { recheckJob, retryJobs, successorJobs } from './follow-ups.js';
import { failed, givenUp, heldBack, sent, type Outcome } from './outcome.js';
import { retryPolicy, type RetryPolicy } from './retry-policy.js';
import { Sender, type Prepared } from './send.js';

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
  /** A provider rate-limited the whole channel until then (epoch ms): its queue is to pause. */
  channelPausedUntil?: number;
}

/** The delivery whose stored record cannot be read, given up: dead, named by its target's key. */
function unreadableGivenUp(job: DeliveryJob, targetKey: string): Outcome {
  const { incidentId, updateId, channel } = job;
  const record: DeliveryRecord = { id: deliveryId(updateId, channel, targetKey), incidentId, updateId, channel, index: 0, target: targetFromKey(channel, targetKey), ...NOT_ATTEMPTED };
  return givenUp(record, 'undecodable delivery record: not a delivery record');
}

/** Outcomes that arrive within this long of the first unwritten one are written together. */
const COALESCE_MS = 25;

/**
 * Writes outcomes as they come, several per Redis call: those that arrive
 * within {@link COALESCE_MS} of each other, or while a write is in flight,
 * go in one write. So a target that hangs never holds back its batch-mates'
 * next updates for longer than that, and a batch costs a few writes, not one
 * per delivery (each write is a system call and a script run).
 */
class OutcomeWriter {
  private readonly pending: Outcome[] = [];
  private chain: Promise<void> = Promise.resolve();
  private timer: NodeJS.Timeout | undefined;
  private failure: unknown;
  private readonly written = new Set<string>();

  constructor(private readonly write: (outcomes: Outcome[]) => Promise<void>) {}

  add(outcomes: readonly Outcome[]): void {
    if (outcomes.length === 0) return;
    this.pending.push(...outcomes);
    this.timer ??= setTimeout(() => this.flush(), COALESCE_MS);
  }

  /** Writes what is pending now, waits for every write; throws the first that failed. */
  async finish(): Promise<void> {
    this.flush();
    await this.chain;
    if (this.failure !== undefined) throw this.failure;
  }

  wasWritten(targetKey: string): boolean {
    return this.written.has(targetKey);
  }

  private flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.chain = this.chain.then(async () => {
      const batch = this.pending.splice(0);
      if (batch.length === 0 || this.failure !== undefined) return;
      try {
        await this.write(batch);
        for (const o of batch) this.written.add(o.record.target.key);
      } catch (error) {
        this.failure ??= error;
      }
    });
  }
}

export class Deliverer {
  private readonly now: () => Date;
  private readonly policies: Record<ChannelName, RetryPolicy>;
  private readonly sender: Sender;
  /**
   * Until when each channel is rate-limited, as this process last saw it. A
   * batch already sending checks it before every request, so one 429 stops
   * the rest of the batch; the next jobs are held by the queue's rate limit
   * (workers/delivery-worker.ts).
   */
  private readonly pausedUntil = new Map<ChannelName, number>();

  constructor(private readonly deps: DelivererDeps) {
    this.now = deps.now ?? (() => new Date());
    this.policies = {
      slack: retryPolicy('slack', deps.retryOverride),
      x: retryPolicy('x', deps.retryOverride),
      email: retryPolicy('email', deps.retryOverride),
      webhook: retryPolicy('webhook', deps.retryOverride),
    };
    this.sender = new Sender(deps);
  }

  async run(job: DeliveryJob, owner: string): Promise<DeliveryJobSummary> {
    const { incidentId, updateId, channel } = job;
    const { deliveries, logger } = this.deps;
    const claimed = await deliveries.claim(owner, job);
    const mine: DeliveryRecord[] = [];
    const notDue: DeliveryRecord[] = [];
    const held: string[] = [];
    const unreadable: Outcome[] = [];
    const released: Released[] = [];
    let skipped = 0;
    for (const claim of claimed) {
      if (claim.status === CLAIM_STATUS.undecodable) {
        unreadable.push(unreadableGivenUp(job, claim.targetKey));
        continue;
      }
      if (claim.status === CLAIM_STATUS.mine) {
        // Its backoff is not over (a recheck or a re-run named it early): left for the retry at its time.
        if (claim.record.retryAt !== null && Date.parse(claim.record.retryAt) > this.now().getTime()) notDue.push(claim.record);
        else mine.push(claim.record);
        continue;
      }
      skipped++;
      if (claim.status === CLAIM_STATUS.held) held.push(claim.targetKey);
      // Final already: a re-run queues again the next update its lane released.
      if (claim.status === CLAIM_STATUS.final && claim.next !== '') released.push({ updateId: claim.next, targetKey: claim.targetKey });
    }
    if (unreadable.length > 0) {
      logger.error(
        { incidentId, updateId, channel, deliveries: unreadable.map((o) => ({ id: o.record.id, error: o.record.error })) },
        "delivery records cannot be read; marked dead so that their targets' later updates go on",
      );
    }
    const previous = new Map<string, DeliveryRecord['state']>(mine.map((r) => [r.target.key, r.state]));
    const writer = new OutcomeWriter((outcomes) => this.record(job, owner, outcomes, previous));
    writer.add(unreadable);
    if (notDue.length > 0) await deliveries.release(owner, { ...job, targets: notDue.map((r) => r.target.key) });
    const nowMs = this.now().getTime();
    const follow = [...successorJobs(job, released), ...recheckJob(job, held, nowMs), ...retryJobs(job, notDue, nowMs)];
    if (follow.length > 0) await this.deps.scheduler.schedule(follow);

    const outcomes: Outcome[] = [];
    try {
      const prepared = mine.length > 0 ? await this.sender.prepare(incidentId, updateId) : null;
      if (mine.length > 0 && prepared === null) {
        logger.warn({ incidentId, updateId }, 'update no longer exists; dropping its deliveries');
      } else if (prepared !== null) {
        if (channel === 'webhook') await this.sender.readSecrets();
        // Webhooks are stateless: each delivery stands alone, there is no thread to continue.
        const threads = channel === 'webhook' ? new Map<string, ThreadState>() : await deliveries.threads(incidentId, channel, mine.map((r) => r.target.key));
        await Promise.all(
          mine.map(async (record) => {
            const outcome = await this.attempt(record, threads.get(record.target.key), prepared);
            if (outcome.record.state === 'failed' && outcome.record.attempts > record.attempts) logFailedAttempt(logger, outcome.record);
            outcomes.push(outcome);
            writer.add([outcome]);
          }),
        );
      }
      await writer.finish();
    } finally {
      // Normally given back as each outcome was recorded; these are the ones a failure left.
      const left = mine.filter((r) => !writer.wasWritten(r.target.key)).map((r) => r.target.key);
      await deliveries.release(owner, { ...job, targets: left });
    }
    const count = (state: DeliveryRecord['state']): number => outcomes.filter((o) => o.record.state === state).length + (state === 'dead' ? unreadable.length : 0);
    const channelPausedUntil = Math.max(0, ...outcomes.map((o) => o.channelPausedUntil ?? 0));
    return { sent: count('sent'), failed: count('failed'), dead: count('dead'), skipped: skipped + notDue.length, ...(channelPausedUntil > 0 && { channelPausedUntil }) };
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
    const claimed = await this.deps.deliveries.claim(owner, job);
    const error = `gave up: ${reason}`;
    const dead: Outcome[] = [];
    const previous = new Map<string, DeliveryRecord['state']>();
    for (const claim of claimed) {
      if (claim.status === CLAIM_STATUS.undecodable) {
        dead.push(unreadableGivenUp(job, claim.targetKey));
      } else if (claim.status === CLAIM_STATUS.mine || claim.status === CLAIM_STATUS.waiting) {
        previous.set(claim.targetKey, claim.record.state);
        dead.push(givenUp(claim.record, error));
      }
    }
    await this.record(job, owner, dead, previous);
    return dead.length;
  }

  /** Records outcomes (see DeliveryStore.record), then does what they call for: alerts, pauses, disabling gone webhooks, follow-up jobs. */
  private async record(job: DeliveryJob, owner: string, outcomes: readonly Outcome[], previous: ReadonlyMap<string, DeliveryRecord['state']>): Promise<void> {
    if (outcomes.length === 0) return;
    const { deliveries, logger, onDead } = this.deps;
    // Disabled before its delivery reads dead: whoever sees the 410 recorded sees the target disabled, and plans nothing more for it.
    for (const o of outcomes) {
      if (o.gone && o.record.target.channel === 'webhook') {
        const disabled = await this.deps.audiences.disableWebhook(o.record.target.url);
        logger.warn({ audiences: disabled, deliveryId: o.record.id }, 'webhook target answered 410 Gone; disabled');
      }
    }
    const threads = new Map<string, ThreadState>();
    for (const o of outcomes) if (o.thread) threads.set(o.record.target.key, o.thread);
    const released = await deliveries.record({ ...job, owner, threads, saved: outcomes.map((o) => o.record) });

    const newlyDead = outcomes.filter((o) => o.record.state === 'dead' && previous.get(o.record.target.key) !== 'dead').map((o) => o.record);
    for (const record of newlyDead) logDeadDelivery(logger, record);

    if (onDead !== undefined) {
      for (const record of newlyDead) {
        // Not awaited: a slow DM to the commander must not hold back the batch-mates' next updates.
        void onDead(record).catch((error: unknown) => logger.warn({ deliveryId: record.id, err: String(error) }, 'could not alert the commander of a dead delivery'));
      }
    }

    const jobs = [...successorJobs(job, released), ...retryJobs(job, outcomes.map((o) => o.record), this.now().getTime())];
    if (jobs.length > 0) await this.deps.scheduler.schedule(jobs);
  }

  private async attempt(record: DeliveryRecord, thread: ThreadState | undefined, prepared: Prepared): Promise<Outcome> {
    const pausedUntil = this.pausedUntil.get(record.channel) ?? 0;
    // Not sent: the provider asked for quiet until then. No attempt is spent.
    if (pausedUntil > this.now().getTime()) return heldBack(record, pausedUntil);
    try {
      return sent(record, await this.sender.send(record, thread, prepared), this.now());
    } catch (error) {
      const answeredAt = this.now().getTime();
      if (!(error instanceof DeliveryError)) this.deps.logger.error({ err: error, deliveryId: record.id }, 'unexpected error while delivering');
      const outcome = failed(record, error, this.policies[record.channel], answeredAt);
      if (outcome.channelPausedUntil !== undefined) {
        this.pausedUntil.set(record.channel, Math.max(outcome.channelPausedUntil, this.pausedUntil.get(record.channel) ?? 0));
      }
      return outcome;
    }
  }
}
