/**
 * Messages to an incident's commander alone — never to its audiences — by
 * Slack DM and/or email, whichever the commander gave and Herald has.
 */
import type { Logger } from 'pino';
import type { Channels } from '../channels/registry.js';
import { emailKey } from '../domain/audience.js';
import { describeTarget, type DeliveryRecord } from '../domain/delivery.js';
import type { CommanderKind, IncidentUpdate, IncidentWithUpdates } from '../domain/incident.js';
import type { Renderer } from '../render/renderer.js';
import type { EmailRendered, RenderContext } from '../render/types.js';
import { MAX_REFERENCES, type DeliveryStore } from '../store/delivery-store.js';
import type { IncidentStore } from '../store/incident-store.js';
import { renderContext } from './render-context.js';

export interface CommanderNotifierDeps {
  incidents: IncidentStore;
  deliveries: DeliveryStore;
  renderer: Renderer;
  channels: Channels;
  publicUrl: string;
  emailDomain: string;
  logger: Logger;
}

export class CommanderNotifier {
  constructor(private readonly deps: CommanderNotifierDeps) {}

  /** Reminds the commander that an update is due at `dueAt`; throws if no way to reach them worked. */
  async remind(incidentId: string, dueAt: Date): Promise<void> {
    const incident = await this.deps.incidents.getWithUpdates(incidentId);
    if (incident === null || incident.status === 'resolved') return;
    const base = this.context(incident);
    if (base === undefined) return;
    const updateUrl = `${this.deps.publicUrl}/v1/incidents/${encodeURIComponent(incidentId)}/updates`;
    const context: RenderContext = {
      ...base,
      reminder: {
        dueAt: dueAt.toISOString(),
        sentAt: new Date().toISOString(),
        updateUrl,
        curl:
          `curl -X POST ${updateUrl} -H "Authorization: Bearer $HERALD_TOKEN" ` +
          `-H 'content-type: application/json' -d '{"message": "What we know now…"}'`,
      },
    };
    await this.send(incident, 'reminder', context, `reminder.${dueAt.getTime()}`);
  }

  /**
   * Tells the commander that an update could not be delivered to a target —
   * once per update, however many of its deliveries went dead.
   */
  async deliveryFailed(record: DeliveryRecord): Promise<void> {
    await this.alertOnce(
      record.incidentId,
      record.updateId,
      { channel: record.channel, target: describeTarget(record.target), error: record.error ?? 'unknown error', attempts: record.attempts },
      (last) => last,
    );
  }

  /**
   * Tells the commander that an update could not be broadcast at all (its
   * fan-out kept failing and was given up) — once per update, as a
   * delivery-failed alert naming every target.
   */
  async broadcastFailed(incidentId: string, updateId: string, error: string, attempts: number): Promise<void> {
    await this.alertOnce(
      incidentId,
      updateId,
      { channel: 'any channel', target: 'every target of its audiences', error: `the broadcast was given up: ${error}`, attempts },
      // An update whose record cannot be read is shown by what is known of it: its id.
      (last) => ({ ...last, id: updateId, message: `(update ${updateId} cannot be read back from Redis)` }),
    );
  }

  /**
   * The one delivery-failed alert of an update: claimed once across every
   * process, given back if no way to the commander worked (so a later failure
   * may try). `unread` stands in for the update when it cannot be read.
   */
  private async alertOnce(
    incidentId: string,
    updateId: string,
    failure: NonNullable<RenderContext['failure']>,
    unread: (last: IncidentUpdate) => IncidentUpdate,
  ): Promise<void> {
    const { deliveries } = this.deps;
    const found = await this.deps.incidents.getConversation(incidentId);
    if (found === null || found.commander === null) return;
    const { type: _, ...incident } = found;
    const last = incident.updates.at(-1);
    if (last === undefined || !(await deliveries.claimDeadAlert(updateId))) return;
    const update = incident.updates.find((u) => u.id === updateId) ?? unread(last);
    const { updates, ...snapshot } = incident;
    const context: RenderContext = { ...renderContext(snapshot, update, this.deps.publicUrl, updates[0]), failure };
    try {
      await this.send(incident, 'delivery-failed', context, `failed.${updateId}`);
    } catch (error) {
      await deliveries.releaseDeadAlert(updateId);
      throw error;
    }
  }

  private context(incident: IncidentWithUpdates): RenderContext | undefined {
    const last = incident.updates.at(-1);
    if (last === undefined) return undefined;
    const { updates, ...snapshot } = incident;
    return renderContext(snapshot, last, this.deps.publicUrl, updates[0]);
  }

  /**
   * An email to the commander, threaded with every earlier one of this
   * incident to that address (reminders and alerts alike), as partners' mail
   * is: `In-Reply-To` the last, `References` the chain.
   */
  private async emailCommander(
    email: NonNullable<Channels['email']>,
    incidentId: string,
    address: string,
    rendered: EmailRendered,
    messageId: string,
  ): Promise<void> {
    const { deliveries } = this.deps;
    const key = emailKey(address);
    const thread = await deliveries.commanderThread(incidentId, key);
    // A retried send (same Message-ID) must not reply to itself.
    const earlier = (thread?.references ?? []).filter((id) => id !== messageId);
    // `send`, as for partners: it threads, and without an unsubscribe link it adds no list headers.
    await email.send(
      { channel: 'email', key, address, audiences: [] },
      { ...rendered, messageId, ...(earlier.length > 0 && { inReplyTo: earlier.at(-1)!, references: earlier }) },
    );
    await deliveries.addToCommanderThread(incidentId, key, messageId, MAX_REFERENCES);
  }

  /**
   * Sends on every way the commander can be reached. Succeeds if one worked
   * (the others are logged); throws if none did, so the caller retries.
   */
  private async send(incident: IncidentWithUpdates, kind: CommanderKind, context: RenderContext, tag: string): Promise<void> {
    const { channels, renderer, logger } = this.deps;
    const commander = incident.commander;
    const sends: Array<Promise<unknown>> = [];
    if (commander?.slackUserId !== undefined && channels.slack !== undefined) {
      sends.push(channels.slack.sendDirect(commander.slackUserId, renderer.render('slack', kind, context)));
    }
    if (commander?.email !== undefined && channels.email !== undefined) {
      const messageId = `<${kind}.${incident.id}.${tag}@${this.deps.emailDomain}>`;
      sends.push(this.emailCommander(channels.email, incident.id, commander.email, renderer.render('email', kind, context), messageId));
    }
    if (sends.length === 0) {
      logger.info({ incidentId: incident.id, kind }, 'no way to reach the commander (no Slack user id or email, or channel disabled)');
      return;
    }
    const results = await Promise.allSettled(sends);
    const failures = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    for (const failure of failures) {
      logger.warn({ incidentId: incident.id, kind, err: String(failure.reason) }, 'a message to the commander failed');
    }
    if (failures.length === results.length) throw failures[0]!.reason;
  }
}
