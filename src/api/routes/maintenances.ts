/**
 * /v1/maintenances — scheduled maintenance: announced at once, reminded at
 * each lead time, started and completed on time; rescheduled and cancelled
 * with an announcement each.
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { windowProblem } from '../../domain/maintenance.js';
import { NotFoundError } from '../../store/errors.js';
import { InvalidWindowError } from '../../store/maintenance-store.js';
import type { ApiDeps } from '../app.js';
import { broadcastReach, chooseAudiences, queueBroadcast } from '../broadcasting.js';
import { badRequest } from '../errors.js';
import { IncidentParams, MaintenanceBody, MaintenanceListQuery, MaintenancePatch } from '../schemas.js';

/** By default partners hear a day ahead and an hour ahead. */
const DEFAULT_REMIND_BEFORE_SECONDS = [86_400, 3_600];

function checkWindow(startsAt: Date, endsAt: Date, now: Date, started: boolean): void {
  const problem = windowProblem(startsAt.getTime(), endsAt.getTime(), now.getTime(), started);
  if (problem !== null) throw badRequest('invalid_window', `${problem.field} ${problem.message}`, [problem]);
}

export const maintenanceRoutes: FastifyPluginAsyncTypebox<{ deps: ApiDeps }> = async (app, { deps }) => {
  const { maintenances } = deps;
  async function withUpdates(id: string) {
    const found = await maintenances.getWithUpdates(id);
    if (found === null) throw new NotFoundError('maintenance', id);
    return found;
  }

  app.post('/maintenances', { schema: { body: MaintenanceBody }, config: { scope: 'write' } }, async (request, reply) => {
    const body = request.body;
    const now = new Date();
    const startsAt = new Date(body.startsAt);
    const endsAt = new Date(body.endsAt);
    checkWindow(startsAt, endsAt, now, false);
    const components = body.components ?? [];
    const audienceNames = await chooseAudiences(deps, body.audiences, components);
    const { maintenance, update } = await maintenances.create(
      {
        title: body.title,
        message: body.message,
        components,
        audiences: audienceNames,
        startsAt,
        endsAt,
        remindBeforeSeconds: body.remindBeforeSeconds ?? DEFAULT_REMIND_BEFORE_SECONDS,
        author: request.caller!.name,
      },
      now,
    );
    await queueBroadcast(deps, update, request.log);
    reply.code(201);
    return { maintenance: { ...maintenance, updates: [update] }, update, ...(await broadcastReach(deps, audienceNames, components)) };
  });

  app.get('/maintenances', { schema: { querystring: MaintenanceListQuery }, config: { scope: 'read' } }, async (request) => ({
    maintenances: await maintenances.list(request.query.status, request.query.limit),
  }));

  app.get('/maintenances/:id', { schema: { params: IncidentParams }, config: { scope: 'read' } }, async (request) =>
    withUpdates(request.params.id),
  );

  app.patch(
    '/maintenances/:id',
    { schema: { params: IncidentParams, body: MaintenancePatch }, config: { scope: 'write' } },
    async (request) => {
      const { id } = request.params;
      const body = request.body;
      // Only what the body names: the store judges the window against the
      // version it writes, so a field left out never overwrites a concurrent change.
      const change = {
        ...(body.title !== undefined && { title: body.title }),
        ...(body.message !== undefined && { message: body.message }),
        ...(body.components !== undefined && { components: body.components }),
        ...(body.remindBeforeSeconds !== undefined && { remindBeforeSeconds: body.remindBeforeSeconds }),
        ...(body.startsAt !== undefined && { startsAt: new Date(body.startsAt) }),
        ...(body.endsAt !== undefined && { endsAt: new Date(body.endsAt) }),
      };
      const { update } = await maintenances.change(id, change, request.caller!.name, new Date()).catch((error: unknown) => {
        if (error instanceof InvalidWindowError) throw badRequest('invalid_window', error.message, [error.problem]);
        throw error;
      });
      if (update !== null) await queueBroadcast(deps, update, request.log);
      return withUpdates(id);
    },
  );

  app.delete('/maintenances/:id', { schema: { params: IncidentParams }, config: { scope: 'write' } }, async (request) => {
    const { update } = await maintenances.cancel(request.params.id, request.caller!.name);
    if (update !== null) await queueBroadcast(deps, update, request.log);
    return withUpdates(request.params.id);
  });
};
