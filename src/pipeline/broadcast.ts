/**
 * Fan-out: one stored update becomes a delivery per target of its audiences,
 * queued per channel in batches. Large audiences are processed in chunks,
 * and each chunk's batches are queued as soon as they exist, so the first
 * partners hear while the rest are still being planned.
 */
import type { Logger } from 'pino';
import type { ChannelName } from '../channels/channel.js';
import { resolveTargetsInSteps, type DeliveryTarget } from '../domain/audience.js';
import { deliveryRecordsExpireAt, endsConversation } from '../domain/delivery.js';
import type { BroadcastJob } from '../queue/jobs.js';
import { BATCH_SIZE } from '../queue/jobs.js';
import { inTurns } from '../event-loop.js';
import type { AudienceStore } from '../store/audience-store.js';
import type { DeliveryStore, PlannedDelivery } from '../store/delivery-store.js';
import { UnreadableUpdateError, type IncidentStore } from '../store/incident-store.js';
import type { DeliveryScheduler, ScheduledDelivery } from './deliver.js';

/** Targets recorded per Lua call: large enough to amortise, small enough not to block Redis. */
const CHUNK_SIZE = 1000;
/** A channel's first chunk: small, so that its first deliveries start at once. */
const FIRST_CHUNK_SIZE = 100;

export interface BroadcasterDeps {
  incidents: IncidentStore;
  audiences: AudienceStore;
  deliveries: DeliveryStore;
  scheduler: DeliveryScheduler;
  enabledChannels: ReadonlySet<ChannelName>;
  /** HERALD_RETENTION_SECONDS: how long single delivery records outlive the update that ends their incident. */
  retentionSeconds: number;
  /**
   * Resolves once what Redis holds so far is on the master's replicas
   * (rejects when it is not, in time). Before a fan-out: an update that a
   * failover is about to lose (written on a master just demoted, never
   * replicated) must not reach partners, who would then have news that
   * Herald no longer has.
   */
  replicated: () => Promise<void>;
  logger: Logger;
}

/**
 * Every distinct target the named audiences have on enabled channels. In
 * single-node mode the fan-out shares the API's event loop, so a large
 * audience is resolved a slice at a time, the loop turning in between.
 */
export async function planTargets(
  audiences: AudienceStore,
  names: readonly string[],
  enabledChannels: ReadonlySet<ChannelName>,
): Promise<DeliveryTarget[]> {
  // Read fresh rather than kept: once per fan-out, not worth
  // keeping every audience in a worker's memory (60 MB for 160,000 webhooks).
  return inTurns(resolveTargetsInSteps(await audiences.getMany(names), enabledChannels));
}

/** The previous update of the incident has not been fanned out yet; try again shortly. */
export class PredecessorPendingError extends Error {
  constructor(
    readonly incidentId: string,
    readonly seq: number,
  ) {
    super(`update ${seq - 1} of incident ${incidentId} is still being fanned out`);
    this.name = 'PredecessorPendingError';
  }
}

export class Broadcaster {
  constructor(private readonly deps: BroadcasterDeps) {}

  /** Idempotent: run again after a crash, it re-queues only what is still waiting. */
  async run(job: BroadcastJob): Promise<{ planned: number; nextUpdateId?: string }> {
    const { incidents, audiences, deliveries, scheduler, enabledChannels, logger } = this.deps;
    const { incidentId, updateId } = job;
    // This job was taken (written) after its update: once that is replicated, so is the update.
    await this.deps.replicated();
    const moment = await incidents.getMoment(incidentId, updateId).catch(async (error: unknown) => {
      // Given up only in its turn: a later update must not overtake an earlier one still being fanned out.
      if (error instanceof UnreadableUpdateError && error.seq !== undefined && (await incidents.fannedOutThrough(incidentId)) < error.seq - 1) {
        throw new PredecessorPendingError(incidentId, error.seq);
      }
      throw error;
    });
    if (moment === null) {
      // Updates are never deleted: in an incident that exists, a missing one is a record no longer readable as it.
      if (await incidents.exists(incidentId)) throw new UnreadableUpdateError(incidentId, updateId, undefined, 'no stored record names it');
      logger.warn({ incidentId, updateId }, 'broadcast of an update that does not exist; dropped');
      await incidents.markBroadcastDone(incidentId, updateId);
      return { planned: 0 };
    }

    const { incident, update, fannedOutSeq: fannedOut } = moment;
    // Lanes must receive an incident's updates in seq order: wait for the one before (read with the update, in the same step).
    if (fannedOut < update.seq - 1) {
      if (await incidents.isOrphan(incidentId, fannedOut + 1)) {
        // Unreadable, without even an id to broadcast it by: waiting for it would be forever.
        logger.error({ incidentId, seq: fannedOut + 1 }, 'an update record cannot be read and nothing will broadcast it; the incident goes on without it');
        await incidents.markFannedOut(incidentId, fannedOut + 1);
      }
      throw new PredecessorPendingError(incidentId, update.seq);
    }
    const targets = await planTargets(audiences, incident.audiences, enabledChannels);
    // Each channel's targets by their place in the fan-out. A chunk's planned
    // deliveries are made as it is enqueued and dropped after: not 100,000
    // of them held for the whole fan-out of a large audience.
    const byChannel = new Map<ChannelName, number[]>();
    targets.forEach((target, index) => {
      const list = byChannel.get(target.channel);
      if (list === undefined) byChannel.set(target.channel, [index]);
      else list.push(index);
    });

    // Channels take turns, chunk by chunk, and each starts with a small chunk:
    // the first partners of every channel hear while the rest is still being
    // planned, and 10,000 emails never hold back the first webhook.
    const cursors = [...byChannel].map(([channel, planned]) => ({ channel, planned, at: 0, chunk: 0 }));
    while (cursors.some((c) => c.at < c.planned.length)) {
      for (const cursor of cursors) {
        if (cursor.at >= cursor.planned.length) continue;
        const { channel, chunk } = cursor;
        const end = Math.min(cursor.planned.length, cursor.at + (chunk === 0 ? FIRST_CHUNK_SIZE : CHUNK_SIZE));
        // The target as planned; its stored record keeps only what its key does not say (never a secret).
        const slice: PlannedDelivery[] = [];
        for (let i = cursor.at; i < end; i++) {
          const index = cursor.planned[i]!;
          slice.push({ target: targets[index]!, index });
        }
        cursor.at = end;
        cursor.chunk++;
        const ready = await deliveries.enqueue({ incidentId, updateId, channel }, slice);
        const jobs: ScheduledDelivery[] = [];
        const size = BATCH_SIZE[channel];
        for (let batch = 0; batch * size < ready.length; batch++) {
          jobs.push({
            jobId: `${updateId}.${channel}.${chunk}.${batch}`,
            data: { incidentId, updateId, channel, targets: ready.slice(batch * size, (batch + 1) * size) },
          });
        }
        await scheduler.schedule(jobs);
      }
    }
    // The last word of the conversation: its single records are removed after the retention (contract §6).
    const expiresAt = deliveryRecordsExpireAt([update], this.deps.retentionSeconds);
    if (expiresAt !== undefined) await deliveries.expireAt(incidentId, expiresAt);
    const nextUpdateId = await incidents.markFannedOut(incidentId, update.seq);
    await incidents.markBroadcastDone(incidentId, updateId);
    logger.info({ incidentId, updateId, kind: update.kind, planned: targets.length }, 'update fanned out');
    return { planned: targets.length, ...(nextUpdateId !== undefined && { nextUpdateId }) };
  }

  /**
   * Gives up on an update whose fan-out kept failing (its record cannot be
   * read, a script raises on it): it counts as fanned out, so the incident's
   * later updates, holding statements and resolution go on without it.
   * Whatever deliveries it did plan carry on. Returns the update after it,
   * to be woken.
   */
  async giveUp(job: BroadcastJob, reason: string): Promise<{ nextUpdateId?: string }> {
    const { incidents, logger } = this.deps;
    const { incidentId, updateId } = job;
    const seq = await incidents.seqOf(incidentId, updateId);
    const nextUpdateId = seq === undefined ? undefined : await incidents.markFannedOut(incidentId, seq);
    // Given up or not, the end of the conversation starts its retention: otherwise its records would be kept for good.
    const expiresAt = await this.recordsExpireAt(incidentId);
    if (expiresAt !== undefined) await this.deps.deliveries.expireAt(incidentId, expiresAt);
    await incidents.markBroadcastDone(incidentId, updateId);
    logger.error({ incidentId, updateId, seq, err: reason }, 'gave up broadcasting an update; the incident\'s later updates go on without it');
    return nextUpdateId === undefined ? {} : { nextUpdateId };
  }

  /**
   * When an ended conversation's delivery records go, read from what is
   * stored: after its last readable ending update, or, when that update
   * itself cannot be read, after the conversation was last changed.
   */
  private async recordsExpireAt(incidentId: string): Promise<number | undefined> {
    const conversation = await this.deps.incidents.getConversation(incidentId);
    if (conversation === null) return undefined;
    const { retentionSeconds } = this.deps;
    const fromUpdates = deliveryRecordsExpireAt(conversation.updates, retentionSeconds);
    if (fromUpdates !== undefined || !endsConversation(conversation.status)) return fromUpdates;
    return Date.parse(conversation.updatedAt) + retentionSeconds * 1000;
  }
}
