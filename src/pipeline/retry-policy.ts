/**
 * How often and how patiently each channel is retried after a transient
 * failure. Delays grow exponentially with "equal jitter" (half fixed, half
 * random) so a recovering provider is not hit by every retry at once.
 */
import type { ChannelName } from '../channels/channel.js';

export interface RetryPolicy {
  /** Attempts in all, the first included; after the last the delivery is dead. */
  maxAttempts: number;
  /** Delay before the second attempt. */
  baseDelayMs: number;
  /** No delay grows beyond this. */
  maxDelayMs: number;
}

export const RETRY_POLICIES: Record<ChannelName, RetryPolicy> = {
  // Slack outages are usually short; 8 attempts span roughly 20 minutes.
  slack: { maxAttempts: 8, baseDelayMs: 2_000, maxDelayMs: 10 * 60_000 },
  // X's write limits reset on 15-minute windows; keep trying for about an hour.
  x: { maxAttempts: 8, baseDelayMs: 5_000, maxDelayMs: 15 * 60_000 },
  // SMTP 4xx is "try again later" (RFC 5321 §4.5.4.1 suggests 30 min between
  // tries); start faster since the server is usually our own relay.
  email: { maxAttempts: 10, baseDelayMs: 5_000, maxDelayMs: 30 * 60_000 },
  // Partners' blogs go down for deploys; about 2 hours of attempts.
  webhook: { maxAttempts: 12, baseDelayMs: 2_000, maxDelayMs: 30 * 60_000 },
};

/** The channel's policy, with an operator's overrides (`HERALD_RETRY_*`) applied. */
export function retryPolicy(channel: ChannelName, override: { maxAttempts?: number; baseDelayMs?: number } = {}): RetryPolicy {
  return { ...RETRY_POLICIES[channel], ...override };
}

/** Delay before attempt `attempts + 1`, given `attempts` already made (≥ 1). */
export function retryDelayMs(policy: RetryPolicy, attempts: number, random: () => number = Math.random): number {
  const exponential = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** Math.max(0, attempts - 1));
  return Math.round(exponential / 2 + (random() * exponential) / 2);
}
