/**
 * Herald's queues and the typed data of their jobs. Only the worker layer
 * (workers/ and src/pipeline) turns these into BullMQ calls.
 */
import type { ChannelName } from '../channels/channel.js';

export const BROADCAST_QUEUE = 'broadcast';

/** One queue per channel, so a slow channel never holds back another. */
export function deliveryQueueName(channel: ChannelName): string {
  return `deliver-${channel}`;
}

/** Expand one stored update into deliveries for every target of its audiences. */
export interface BroadcastJob {
  incidentId: string;
  updateId: string;
}

/**
 * Send one update to a batch of its targets on one channel. Every target in
 * the batch keeps its own record, attempts and place in its lane.
 */
export interface DeliveryJob {
  incidentId: string;
  updateId: string;
  channel: ChannelName;
  /** The targets' keys (a delivery is named by its update, channel and target). */
  targets: string[];
}

/** Targets sent per job: amortises queue work while keeping each retry small. */
export const BATCH_SIZE: Record<ChannelName, number> = {
  // One Slack channel per message; a few per job keeps chat.postMessage calls flowing.
  slack: 10,
  // X has one target (the account): batches are always of one.
  x: 1,
  email: 50,
  webhook: 100,
};
