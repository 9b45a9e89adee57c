/**
 * What the incident and maintenance routes share: choosing audiences,
 * queueing a stored update's broadcast, and counting what it will reach.
 */
import type { FastifyBaseLogger } from 'fastify';
import { audienceMatches, resolveTargets } from '../domain/audience.js';
import type { IncidentUpdate } from '../domain/incident.js';
import type { AudienceSnapshot } from '../store/audience-store.js';
import type { ApiDeps } from './app.js';
import { badRequest } from './errors.js';

/** The named audiences (each must exist), or, when none are named, every audience matching the components. */
export async function chooseAudiences(deps: ApiDeps, named: readonly string[] | undefined, components: readonly string[]): Promise<string[]> {
  const { audiences } = await deps.audiences.snapshot();
  if (named === undefined) {
    return [...audiences.values()]
      .filter((a) => audienceMatches(a, components))
      .map((a) => a.name)
      .sort((a, b) => a.localeCompare(b));
  }
  const unknown = named.filter((n) => !audiences.has(n));
  if (unknown.length > 0) {
    throw badRequest(
      'unknown_audience',
      `body.audiences names audiences that do not exist: ${unknown.join(', ')}`,
      unknown.map((name) => ({ field: `body.audiences[${named.indexOf(name)}]`, message: `no audience "${name}"` })),
    );
  }
  return [...named];
}

/** Queues the broadcast; if that fails, the stored pending mark still gets it out (see the sweeper). */
export async function queueBroadcast(deps: ApiDeps, update: IncidentUpdate, log: FastifyBaseLogger): Promise<void> {
  try {
    await deps.queues.enqueueBroadcast({ incidentId: update.incidentId, updateId: update.id });
  } catch (error) {
    log.warn({ err: error, updateId: update.id }, 'could not queue the broadcast now; the sweeper will');
  }
}

/** Planned counts per audience snapshot and audience list: counting 10,000 targets per posted update adds up. */
const plannedCounts = new WeakMap<AudienceSnapshot, Map<string, number>>();

/** How many deliveries a broadcast to these audiences plans now. */
export async function plannedDeliveries(deps: ApiDeps, audienceNames: readonly string[]): Promise<{ planned: number }> {
  const snapshot = await deps.audiences.snapshot();
  let counts = plannedCounts.get(snapshot);
  if (counts === undefined) plannedCounts.set(snapshot, (counts = new Map()));
  const key = audienceNames.join('\n');
  let planned = counts.get(key);
  if (planned === undefined) {
    planned = resolveTargets(audienceNames.flatMap((name) => snapshot.audiences.get(name) ?? []), deps.config.enabledChannels).length;
    counts.set(key, planned);
  }
  return { planned };
}
