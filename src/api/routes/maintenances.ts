/**
 * /v1/maintenances — scheduled maintenance: announced at once, reminded at
 * each lead time, started and completed on time; rescheduled and cancelled
 * with an announcement each.
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { windowProblem } from '../../domain/maintenance.js';
import { NotFoundError } from '../../store/errors.js';
import type { ApiDeps } from '../app.js';
import { chooseAudiences, plannedDeliveries, queueBroadcast } from '../broadcasting.js';
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
    return { maintenance: { ...maintenance, updates: [update] }, update, deliveries: await plannedDeliveries(deps, audienceNames) };
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
      const now = new Date();
      const current = await maintenances.get(id);
      if (current === null) throw new NotFoundError('maintenance', id);
      const started = current.status === 'in_progress';
      const startsAt = body.startsAt === undefined ? new Date(current.startsAt) : new Date(body.startsAt);
      const endsAt = body.endsAt === undefined ? new Date(current.endsAt) : new Date(body.endsAt);
      if (started && startsAt.getTime() !== Date.parse(current.startsAt)) {
        throw badRequest('invalid_window', 'body.startsAt cannot change: the maintenance has started', [
          { field: 'body.startsAt', message: 'cannot change once the maintenance has started' },
        ]);
      }
      if (body.startsAt !== undefined || body.endsAt !== undefined) checkWindow(startsAt, endsAt, now, started);
      const { update } = await maintenances.change(
        id,
        {
          ...(body.title !== undefined && { title: body.title }),
          ...(body.message !== undefined && { message: body.message }),
          ...(body.components !== undefined && { components: body.components }),
          ...(body.remindBeforeSeconds !== undefined && { remindBeforeSeconds: body.remindBeforeSeconds }),
          startsAt,
          endsAt,
        },
        request.caller!.name,
        now,
      );
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
