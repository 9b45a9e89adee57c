/**
 * What leaves Herald: the public view of an incident and of an update
 * (contract §3). Everything that goes to an audience — webhook payloads,
 * messages, public pages, feeds — is built from these, never from the stored
 * records: each view lists the fields it allows, so a field added to
 * `Incident` later (or the commander, the audiences, the author's token name
 * today) stays inside unless someone adds it here on purpose.
 */
import type { Incident, IncidentUpdate, Severity, UpdateStatus } from './incident.js';

/** An incident as an audience sees it. */
export interface PublicIncident {
  id: string;
  title: string;
  severity: Severity;
  /** The status as of the update being broadcast (a maintenance's status for maintenances). */
  status: UpdateStatus;
  components: string[];
  createdAt: string;
  updatedAt: string;
  resolvedAt: string | null;
  nextUpdateDueAt: string | null;
  /** The incident's public page. */
  url: string;
}

/** An update as an audience sees it: no author (a token's name is internal). */
export type PublicUpdate = Pick<IncidentUpdate, 'id' | 'incidentId' | 'seq' | 'kind' | 'status' | 'message' | 'postedAt'>;

/** A maintenance as an audience sees it, as of one of its announcements. */
export interface PublicMaintenance {
  id: string;
  title: string;
  components: string[];
  status: UpdateStatus;
  startsAt: string | null;
  endsAt: string | null;
}

/** Where a public view is shown from: the incident's page, and the status it is told at. */
export interface PublicIncidentOptions {
  /** Link to the incident's public page. */
  url: string;
  /** The status to show, when the view is of an earlier moment than the incident's current one. @defaultValue the incident's status */
  status?: UpdateStatus;
}

/** The public view of `incident`: built field by field, nothing else. */
export function publicIncident(incident: Incident, options: PublicIncidentOptions): PublicIncident {
  return {
    id: incident.id,
    title: plainTitle(incident.title),
    severity: incident.severity,
    status: options.status ?? incident.status,
    components: [...incident.components],
    createdAt: incident.createdAt,
    updatedAt: incident.updatedAt,
    resolvedAt: incident.resolvedAt,
    nextUpdateDueAt: incident.nextUpdateDueAt,
    url: options.url,
  };
}

/** The public view of a maintenance as of `update` (its window as that announcement gave it). */
export function publicMaintenance(maintenance: Incident, update: IncidentUpdate): PublicMaintenance {
  return {
    id: maintenance.id,
    title: plainTitle(maintenance.title),
    components: [...maintenance.components],
    status: update.status,
    startsAt: update.maintenance?.startsAt ?? null,
    endsAt: update.maintenance?.endsAt ?? null,
  };
}

/** The public view of `update`: built field by field, nothing else. */
export function publicUpdate(update: IncidentUpdate): PublicUpdate {
  return {
    id: update.id,
    incidentId: update.incidentId,
    seq: update.seq,
    kind: update.kind,
    status: update.status,
    message: update.message,
    postedAt: update.postedAt,
  };
}

/**
 * Control characters: C0 (NUL, BEL, ESC, CR, LF, TAB…), DEL and C1. In a
 * title they are never meant — a title is one line — and written raw they
 * ring terminals, recolour them (ESC sequences) or break a mail header.
 */
const CONTROL_CHARACTERS = /[ \t]*[\u0000-\u001f\u007f-\u009f][\u0000-\u0020\u007f-\u009f]*/g;

/**
 * Bidirectional embeddings, overrides and isolates (U+202A–U+202E,
 * U+2066–U+2069): they reorder everything after them up to the end of the
 * paragraph, so a title can show as something else than it says (the
 * "Trojan Source" trick), and an unclosed one spills into whatever text the
 * title is put in. The marks U+200E/U+200F (LRM, RLM) and U+061C (ALM) stay:
 * they only set the direction of neighbouring neutral characters, cannot
 * reorder a run, and right-to-left titles need them to place punctuation.
 */
const BIDI_CONTROLS = /[\u202a-\u202e\u2066-\u2069]/g;

/**
 * A title as it may be shown as plain text (a Slack or X post, an email's
 * Subject and text part, a webhook's rendered title): a run of control
 * characters, with the spaces around it, becomes one space; bidi overrides
 * and isolates are dropped.
 */
export function plainTitle(title: string): string {
  return title.replace(BIDI_CONTROLS, '').replace(CONTROL_CHARACTERS, ' ').trim();
}
