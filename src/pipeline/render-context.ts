/**
 * Builds what templates see for one update. Everything is derived from the
 * update itself (its status, its post time), so a retried delivery renders
 * exactly what the first attempt rendered.
 *
 * What templates see is the public view (contract §3): the templates of
 * partner messages go to audiences, so they are never given the commander,
 * the audiences or the author's token name — not even for an operator's own
 * template to print by mistake.
 */
import { nextUpdateDue, type Incident, type IncidentUpdate } from '../domain/incident.js';
import { plainTitle, publicIncident, publicMaintenance, publicUpdate } from '../domain/public-view.js';
import type { RenderContext } from '../render/types.js';

/** The public page of an incident, under `HERALD_PUBLIC_URL`. */
export function incidentUrl(publicUrl: string, incidentId: string): string {
  return `${publicUrl}/incidents/${encodeURIComponent(incidentId)}`;
}

function updateView(update: IncidentUpdate): RenderContext['update'] {
  const { id, seq, kind, status, message, postedAt } = publicUpdate(update);
  return { id, seq, kind, status, message, postedAt };
}

/**
 * What the templates of `update` are rendered with: the public view of the
 * incident as of that update. Titles are plain text here (see
 * {@link plainTitle}): every channel shows them as such somewhere.
 */
export function renderContext(
  incident: Incident,
  update: IncidentUpdate,
  publicUrl: string,
  opening?: IncidentUpdate,
): RenderContext {
  const resolved = update.status === 'resolved';
  // A maintenance keeps no cadence: it promises its window, not a next update.
  const promisesUpdate = !resolved && update.maintenance === undefined;
  return {
    incident: {
      id: incident.id,
      title: plainTitle(incident.title),
      severity: incident.severity,
      status: update.status,
      components: [...incident.components],
      createdAt: incident.createdAt,
      resolvedAt: resolved ? (incident.resolvedAt ?? update.postedAt) : null,
      url: incidentUrl(publicUrl, incident.id),
    },
    update: updateView(update),
    nextUpdateDueAt: promisesUpdate ? nextUpdateDue(new Date(update.postedAt), incident.cadenceSeconds).toISOString() : null,
    ...(opening === undefined ? {} : { opening: updateView(opening) }),
    ...(update.maintenance !== undefined && { maintenance: update.maintenance }),
  };
}

/**
 * The event type a blog webhook receives for an update kind:
 * `incident.opened|updated|holding|resolved`, `maintenance.scheduled|reminder|started|completed|rescheduled|cancelled`.
 */
export function webhookEventType(kind: IncidentUpdate['kind']): string {
  if (kind.startsWith('maintenance-')) return `maintenance.${kind.slice('maintenance-'.length)}`;
  return kind === 'update' ? 'incident.updated' : `incident.${kind}`;
}

/**
 * The JSON a blog webhook receives for an update: its event type, the public
 * view of the incident (or maintenance) and of the update, and the rendered
 * texts. Preview shows exactly this.
 */
export function webhookPayload(incident: Incident, update: IncidentUpdate, url: string, rendered: unknown) {
  return {
    type: webhookEventType(update.kind),
    ...(update.maintenance !== undefined
      ? { maintenance: publicMaintenance(incident, update) }
      : { incident: publicIncident(incident, { url, status: update.status }) }),
    update: publicUpdate(update),
    rendered,
  };
}
