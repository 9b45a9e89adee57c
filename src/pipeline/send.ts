/**
 * Sending one delivery: the update rendered for its channel (once per update,
 * shared by every target), the target's thread continued, the provider
 * called. What to do with the answer is decided in outcome.ts.
 */
import { createHash } from 'node:crypto';
import { DeliveryError, PermanentDeliveryError, type ChannelName } from '../channels/channel.js';
import type { Channels } from '../channels/registry.js';
import type { ChannelTarget, RecordedTarget } from '../domain/audience.js';
import type { DeliveryRecord } from '../domain/delivery.js';
import type { Incident, IncidentUpdate } from '../domain/incident.js';
import { unsubscribeUrl, type UnsubscribeTokens } from '../domain/unsubscribe-token.js';
import type { Renderer } from '../render/renderer.js';
import { distinctPost } from '../render/x-text.js';
import type { EmailRendered, RenderContext } from '../render/types.js';
import type { AudienceStore } from '../store/audience-store.js';
import { MAX_REFERENCES, type ThreadState } from '../store/delivery-store.js';
import type { IncidentStore } from '../store/incident-store.js';
import type { Logger } from 'pino';
import { renderContext, webhookPayload } from './render-context.js';

export interface SenderDeps {
  incidents: IncidentStore;
  audiences: AudienceStore;
  renderer: Renderer;
  channels: Channels;
  unsubscribeTokens: UnsubscribeTokens;
  publicUrl: string;
  /** The domain of `EMAIL_FROM`, for Message-IDs. */
  emailDomain: string;
  logger: Logger;
}

/** What a job knows about the update it delivers; shared by every target. */
export interface Prepared {
  incident: Incident;
  update: IncidentUpdate;
  context: RenderContext;
  /** Context of the incident's first message, showing the status as of this update. */
  openingContext: RenderContext;
  cache: Map<string, unknown>;
}

/** What a provider answered for a delivery that went out. */
export interface Sent {
  providerRef: string;
  thread?: ThreadState;
}

/**
 * Stand-ins for an unsubscribe token while an update's email is rendered
 * once for all its recipients: of token characters (which no escape alters),
 * different lengths, and nothing a template would write by itself.
 */
const TOKEN_PLACEHOLDERS = ['HeraldTokenPlaceholderA0', 'HeraldTokenPlaceholderBB11xyz'] as const;
const TOKEN_CHARACTERS = /^[A-Za-z0-9_.-]+$/;
/** Prepared updates kept per process; a fan-out touches one update at a time. */
const PREPARED_CACHE_SIZE = 64;

export function digest(parts: readonly string[]): string {
  return createHash('sha256').update(parts.join('\n')).digest('base64url').slice(0, 16);
}

export function errorText(error: unknown): string {
  if (error instanceof DeliveryError) return `${error.code}: ${error.message}`;
  return error instanceof Error ? error.message : String(error);
}

export class Sender {
  private readonly prepared = new Map<string, Promise<Prepared | null>>();
  /** Webhook signing secrets by URL, as the latest webhook job read them from the audiences. */
  private secrets: ReadonlyMap<string, string> = new Map();

  constructor(private readonly deps: SenderDeps) {}

  /** Reads the webhooks' signing secrets afresh (once per job: a rotated or removed secret is seen by the next job). */
  async readSecrets(): Promise<void> {
    this.secrets = await this.deps.audiences.webhookSecrets();
  }

  async send(
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

  /** A webhook target with its signing secret, which only its audience keeps. */
  private signingTarget(target: Extract<RecordedTarget, { channel: 'webhook' }>): ChannelTarget<'webhook'> {
    const secret = this.secrets.get(target.url);
    // Removed from every audience before its turn: its secret went with it, and an unsigned request would be refused.
    if (secret === undefined) throw new PermanentDeliveryError('target_removed', 'the webhook was removed from every audience before its turn');
    return { ...target, secret };
  }

  prepare(incidentId: string, updateId: string): Promise<Prepared | null> {
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
