/**
 * What templates see, and what rendering produces for each channel.
 */
import type { PublicIncident, PublicUpdate } from '../domain/public-view.js';

/**
 * The data every template is rendered with. Values are raw (unescaped);
 * each channel's Handlebars environment escapes them as that channel needs.
 *
 * It is the public view of the incident and update (contract §3, see
 * `src/domain/public-view.ts`): partner messages go to audiences, so no
 * commander, audiences or author is in it.
 */
export interface RenderContext {
  /** The incident's status is the one after this update; `url` is built from `HERALD_PUBLIC_URL`. */
  incident: Pick<PublicIncident, 'id' | 'title' | 'severity' | 'status' | 'components' | 'createdAt' | 'resolvedAt' | 'url'>;
  update: Pick<PublicUpdate, 'id' | 'seq' | 'kind' | 'status' | 'message' | 'postedAt'>;
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
