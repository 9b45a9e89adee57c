/**
 * What templates see, and what rendering produces for each channel.
 */
import type { Severity, UpdateKind, UpdateStatus } from '../domain/incident.js';

/**
 * The data every template is rendered with. Values are raw (unescaped);
 * each channel's Handlebars environment escapes them as that channel needs.
 *
 * It is the public view of the incident and update (contract §3, see
 * `src/domain/public-view.ts`): partner messages go to audiences, so no
 * commander, audiences or author is in it.
 */
export interface RenderContext {
  incident: {
    id: string;
    title: string;
    severity: Severity;
    /** The incident's current status (after this update); a maintenance's status for maintenances. */
    status: UpdateStatus;
    components: string[];
    createdAt: string;
    resolvedAt: string | null;
    /** Link to the incident, built from `HERALD_PUBLIC_URL`. */
    url: string;
  };
  update: {
    id: string;
    seq: number;
    kind: UpdateKind;
    status: UpdateStatus;
    message: string;
    postedAt: string;
  };
  /** When the next update is promised; null once resolved. */
  nextUpdateDueAt: string | null;
  /** The first update of the incident (Slack edits its first message with it). */
  opening?: RenderContext['update'];
  /** Email only: this recipient's one-click unsubscribe link. */
  unsubscribeUrl?: string;
  /** Scheduled maintenance announcements only. */
  maintenance?: {
    startsAt: string;
    endsAt: string;
    /** The window before a reschedule, on `maintenance-rescheduled`. */
    previous?: { startsAt: string; endsAt: string };
  };
  /** Commander reminders only: what is due when, and how to post it. */
  reminder?: {
    dueAt: string;
    /**
     * When the reminder goes out (its scheduled time); "(in 5 min)" is counted
     * from it, so a retried reminder renders as the first attempt did. Without
     * it the reminder gives the due time alone.
     */
    sentAt?: string;
    /** The API route to post the update to. */
    updateUrl: string;
    /** A ready-to-paste curl line (the token left as $HERALD_TOKEN). */
    curl: string;
  };
  /** Commander alerts of a dead delivery only. */
  failure?: {
    channel: string;
    target: string;
    error: string;
    attempts: number;
  };
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
