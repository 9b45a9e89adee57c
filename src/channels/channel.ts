/**
 * The contract every channel keeps. A channel receives an already-rendered
 * message and a parsed target, sends it, and returns a receipt naming the
 * provider's reference. It never reads the environment and never renders.
 *
 * Failure is expressed by throwing a {@link DeliveryError} whose class says
 * what should happen next; only the worker layer turns that into queue terms.
 */

export const CHANNEL_NAMES = ['slack', 'x', 'email', 'webhook'] as const;
export type ChannelName = (typeof CHANNEL_NAMES)[number];

/** What a channel hands back when a message was accepted by the provider. */
export interface Receipt {
  /** Slack `ts`, tweet id, email `Message-ID`, or the webhook's HTTP status. */
  providerRef: string;
}

/** Base of every delivery failure. `code` is short and machine-readable. */
export abstract class DeliveryError extends Error {
  abstract readonly retryable: boolean;
  readonly code: string;

  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
}

/** Worth trying again later: a timeout, a 5xx, a dropped connection. */
export class TransientDeliveryError extends DeliveryError {
  readonly retryable = true;
}

/** Will never succeed as sent: bad credentials, unknown channel, a 4xx. */
export class PermanentDeliveryError extends DeliveryError {
  readonly retryable = false;
}

/**
 * The provider asked us to slow down. Nothing more may go to `scope` before
 * `retryAfterMs` has passed: the whole channel (Slack, X) or only this target
 * (one webhook receiver).
 */
export class RateLimitedError extends DeliveryError {
  readonly retryable = true;
  readonly retryAfterMs: number;
  readonly scope: 'channel' | 'target';

  constructor(retryAfterMs: number, scope: 'channel' | 'target', message: string) {
    super('rate_limited', message);
    this.retryAfterMs = retryAfterMs;
    this.scope = scope;
  }
}

/** The target told us it is gone for good (webhook `410 Gone`); disable it. */
export class TargetGoneError extends DeliveryError {
  readonly retryable = false;

  constructor(message: string) {
    super('target_gone', message);
  }
}

/** Every channel has these; each adds what its protocol needs. */
export interface Channel {
  readonly name: ChannelName;
  /** Releases pooled connections; pending sends finish first. */
  close(): Promise<void>;
}
