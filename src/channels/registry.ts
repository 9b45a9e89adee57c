/**
 * The channels this process sends through, built from configuration. A
 * channel whose credentials are absent is simply not here, and its client
 * library is never loaded.
 */
import type { Config } from '../config.js';
import type { EmailChannel } from './email.js';
import type { SlackChannel } from './slack.js';
import type { WebhookChannel } from './webhook.js';
import type { XChannel } from './x.js';

export interface Channels {
  slack?: SlackChannel;
  x?: XChannel;
  email?: EmailChannel;
  webhook: WebhookChannel;
}

/**
 * Loads the module of each enabled channel and builds it. The modules are
 * imported here, not at the top: their client libraries (Slack's Web API
 * client, X's, nodemailer, undici) are a good part of Herald's start-up time,
 * and only a process that sends needs them (contract §1: ready within 2 s).
 */
export async function createChannels(
  config: Pick<
    Config,
    'slack' | 'x' | 'email' | 'webhookAllowPrivate' | 'httpTimeoutMs' | 'smtpTimeoutMs' | 'webhookConnectionsPerOrigin' | 'smtpMaxConnections'
  >,
): Promise<Channels> {
  const timeoutMs = config.httpTimeoutMs;
  const { slack, x, email } = config;
  const [slackChannel, xChannel, emailChannel, webhookChannel] = await Promise.all([
    slack && import('./slack.js').then(({ SlackChannel }) => new SlackChannel({ token: slack.token, apiUrl: slack.apiUrl, timeoutMs })),
    x && import('./x.js').then(({ XChannel }) => new XChannel({ ...x, timeoutMs })),
    email &&
      import('./email.js').then(
        ({ EmailChannel }) =>
          new EmailChannel({
            smtpUrl: email.smtpUrl,
            from: email.from,
            timeoutMs: config.smtpTimeoutMs,
            maxConnections: config.smtpMaxConnections,
          }),
      ),
    import('./webhook.js').then(
      ({ WebhookChannel }) =>
        new WebhookChannel({
          allowPrivate: config.webhookAllowPrivate,
          timeoutMs,
          maxConnectionsPerOrigin: config.webhookConnectionsPerOrigin,
        }),
    ),
  ]);
  return {
    ...(slackChannel && { slack: slackChannel }),
    ...(xChannel && { x: xChannel }),
    ...(emailChannel && { email: emailChannel }),
    webhook: webhookChannel,
  };
}

export async function closeChannels(channels: Channels): Promise<void> {
  await Promise.allSettled(
    [channels.slack, channels.x, channels.email, channels.webhook].map((c) => c?.close()),
  );
}
