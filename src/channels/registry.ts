/**
 * The channels this process sends through, built from configuration. A
 * channel whose credentials are absent is simply not here.
 */
import type { Config } from '../config.js';
import { EmailChannel } from './email.js';
import { SlackChannel } from './slack.js';
import { WebhookChannel } from './webhook.js';
import { XChannel } from './x.js';

export interface Channels {
  slack?: SlackChannel;
  x?: XChannel;
  email?: EmailChannel;
  webhook: WebhookChannel;
}

export function createChannels(
  config: Pick<
    Config,
    'slack' | 'x' | 'email' | 'webhookAllowPrivate' | 'httpTimeoutMs' | 'smtpTimeoutMs' | 'webhookConnectionsPerOrigin' | 'smtpMaxConnections'
  >,
): Channels {
  const timeoutMs = config.httpTimeoutMs;
  return {
    ...(config.slack && { slack: new SlackChannel({ token: config.slack.token, apiUrl: config.slack.apiUrl, timeoutMs }) }),
    ...(config.x && { x: new XChannel({ ...config.x, timeoutMs }) }),
    ...(config.email && {
      email: new EmailChannel({
        smtpUrl: config.email.smtpUrl,
        from: config.email.from,
        timeoutMs: config.smtpTimeoutMs,
        maxConnections: config.smtpMaxConnections,
      }),
    }),
    webhook: new WebhookChannel({
      allowPrivate: config.webhookAllowPrivate,
      timeoutMs,
      maxConnectionsPerOrigin: config.webhookConnectionsPerOrigin,
    }),
  };
}

export async function closeChannels(channels: Channels): Promise<void> {
  await Promise.allSettled(
    [channels.slack, channels.x, channels.email, channels.webhook].map((c) => c?.close()),
  );
}
