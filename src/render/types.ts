/**
 * What templates see, and what rendering produces for each channel.
 */
import type { Commander, IncidentStatus, Severity, UpdateKind } from '../domain/incident.js';

/**
 * The data every template is rendered with. Values are raw (unescaped);
 * each channel's Handlebars environment escapes them as that channel needs.
 */
export interface RenderContext {
  incident: {
    id: string;
    title: string;
    severity: Severity;
    /** The incident's current status (after this update). */
    status: IncidentStatus;
    components: string[];
    commander: Commander | null;
    createdAt: string;
    resolvedAt: string | null;
    /** Link to the incident, built from `HERALD_PUBLIC_URL`. */
    url: string;
  };
  update: {
    id: string;
    seq: number;
    kind: UpdateKind;
    status: IncidentStatus;
    message: string;
    author: string;
    postedAt: string;
  };
  /** When the next update is promised; null once resolved. */
  nextUpdateDueAt: string | null;
  /** The first update of the incident (Slack edits its first message with it). */
  opening?: RenderContext['update'];
  /** Email only: this recipient's one-click unsubscribe link. */
  unsubscribeUrl?: string;
}

export interface SlackRendered {
  /** Slack mrkdwn. */
  text: string;
}

export interface XRendered {
  /** Plain text, already cut to fit 280 weighted characters. */
  text: string;
  /** The twitter-text weighted length of `text`. */
  weightedLength: number;
}

export interface EmailRendered {
  subject: string;
  text: string;
  html: string;
}

export interface WebhookRendered {
  title: string;
  html: string;
  markdown: string;
}

export interface RenderedByChannel {
  slack: SlackRendered;
  x: XRendered;
  email: EmailRendered;
  webhook: WebhookRendered;
}
