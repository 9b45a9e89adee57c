/**
 * Builds what templates see for one update. Everything is derived from the
 * update itself (its status, its post time), so a retried delivery renders
 * exactly what the first attempt rendered.
 */
import { nextUpdateDue, type Incident, type IncidentUpdate } from '../domain/incident.js';
import type { RenderContext } from '../render/types.js';

export function incidentUrl(publicUrl: string, incidentId: string): string {
  return `${publicUrl}/incidents/${encodeURIComponent(incidentId)}`;
}

function updateView(update: IncidentUpdate): RenderContext['update'] {
  return {
    id: update.id,
    seq: update.seq,
    kind: update.kind,
    status: update.status,
    message: update.message,
    author: update.author,
    postedAt: update.postedAt,
  };
}

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
      title: incident.title,
      severity: incident.severity,
      status: update.status,
      components: incident.components,
      commander: incident.commander,
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
