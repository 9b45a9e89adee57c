/**
 * What the incident and maintenance routes share: choosing audiences,
 * queueing a stored update's broadcast, and counting what it will reach.
 */
import type { FastifyBaseLogger } from 'fastify';
import { audienceMatches } from '../domain/audience.js';
import type { IncidentUpdate } from '../domain/incident.js';
import { planTargets } from '../pipeline/broadcast.js';
import type { ApiDeps } from './app.js';
import { badRequest } from './errors.js';

/** The named audiences (each must exist), or, when none are named, every audience matching the components. */
export async function chooseAudiences(deps: ApiDeps, named: readonly string[] | undefined, components: readonly string[]): Promise<string[]> {
  if (named === undefined) {
    return (await deps.audiences.list()).filter((a) => audienceMatches(a, components)).map((a) => a.name);
  }
  const found = new Set((await deps.audiences.getMany(named)).map((a) => a.name));
  const unknown = named.filter((n) => !found.has(n));
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

/** How many deliveries a broadcast to these audiences plans now. */
export async function plannedDeliveries(deps: ApiDeps, audienceNames: readonly string[]): Promise<{ planned: number }> {
  return { planned: (await planTargets(deps.audiences, audienceNames, deps.config.enabledChannels)).length };
}
