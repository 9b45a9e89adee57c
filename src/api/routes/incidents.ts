/**
 * /v1/incidents — open an incident, post updates, resolve it, read it back.
 * A 201 is sent only once the update and its pending broadcast are stored.
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyBaseLogger } from 'fastify';
import { audienceMatches } from '../../domain/audience.js';
import { toDelivery } from '../../domain/delivery.js';
import type { IncidentUpdate } from '../../domain/incident.js';
import { planTargets } from '../../pipeline/broadcast.js';
import { NotFoundError } from '../../store/errors.js';
import type { NewUpdate } from '../../store/incident-store.js';
import type { ApiDeps } from '../app.js';
import { badRequest } from '../errors.js';
import {
  DeliveryListQuery,
  IncidentListQuery,
  IncidentParams,
  ResolveBody,
  UpdateBody,
  incidentBody,
  patchBody,
} from '../schemas.js';

export const incidentRoutes: FastifyPluginAsyncTypebox<{ deps: ApiDeps }> = async (app, { deps }) => {
  const { incidents, audiences, deliveries, queues, config } = deps;

  /** Queues the broadcast; if that fails, the stored pending mark still gets it out (see the sweeper). */
  async function broadcast(update: IncidentUpdate, log: FastifyBaseLogger): Promise<void> {
    try {
      await queues.enqueueBroadcast({ incidentId: update.incidentId, updateId: update.id });
    } catch (error) {
      log.warn({ err: error, updateId: update.id }, 'could not queue the broadcast now; the sweeper will');
    }
  }

  async function planned(audienceNames: readonly string[]): Promise<number> {
    return (await planTargets(audiences, audienceNames, config.enabledChannels)).length;
  }

  app.post(
    '/incidents',
    { schema: { body: incidentBody(config.minCadenceSeconds) }, config: { scope: 'write' } },
    async (request, reply) => {
      const body = request.body;
      const components = body.components ?? [];
      let audienceNames: string[];
      if (body.audiences !== undefined) {
        const found = new Set((await audiences.getMany(body.audiences)).map((a) => a.name));
        const unknown = body.audiences.filter((n) => !found.has(n));
        if (unknown.length > 0) {
          throw badRequest(
            'unknown_audience',
            `body.audiences names audiences that do not exist: ${unknown.join(', ')}`,
            unknown.map((name) => ({ field: `body.audiences[${body.audiences!.indexOf(name)}]`, message: `no audience "${name}"` })),
          );
        }
        audienceNames = body.audiences;
      } else {
        audienceNames = (await audiences.list()).filter((a) => audienceMatches(a, components)).map((a) => a.name);
      }
      const { incident, update } = await incidents.create({
        title: body.title,
        severity: body.severity,
        status: body.status ?? 'investigating',
        message: body.message,
        components,
        audiences: audienceNames,
        cadenceSeconds: body.cadenceSeconds ?? config.defaultCadenceSeconds,
        commander: body.commander ?? null,
        author: request.caller!.name,
      });
      await broadcast(update, request.log);
      reply.code(201);
      return { incident: { ...incident, updates: [update] }, update, deliveries: { planned: await planned(audienceNames) } };
    },
  );

  /** Posts a commander's update and queues its broadcast: the shape both routes answer with. */
  async function postUpdate(id: string, input: NewUpdate, log: FastifyBaseLogger) {
    const update = await incidents.postUpdate(id, input);
    await broadcast(update, log);
    const incident = await incidents.get(id);
    return { update, deliveries: { planned: await planned(incident?.audiences ?? []) } };
  }

  app.post(
    '/incidents/:id/updates',
    { schema: { params: IncidentParams, body: UpdateBody }, config: { scope: 'write' } },
    async (request, reply) => {
      const { message, status } = request.body;
      const input: NewUpdate = { message, kind: 'update', author: request.caller!.name, ...(status !== undefined && { status }) };
      reply.code(201);
      return postUpdate(request.params.id, input, request.log);
    },
  );

  app.post(
    '/incidents/:id/resolve',
    { schema: { params: IncidentParams, body: ResolveBody }, config: { scope: 'write' } },
    async (request, reply) => {
      const input: NewUpdate = { message: request.body.message, status: 'resolved', kind: 'update', author: request.caller!.name };
      reply.code(201);
      return postUpdate(request.params.id, input, request.log);
    },
  );

  app.get('/incidents', { schema: { querystring: IncidentListQuery }, config: { scope: 'read' } }, async (request) => ({
    incidents: await incidents.list(request.query.state, request.query.limit),
  }));

  app.get('/incidents/:id', { schema: { params: IncidentParams }, config: { scope: 'read' } }, async (request) => {
    const incident = await incidents.getWithUpdates(request.params.id);
    if (incident === null) throw new NotFoundError('incident', request.params.id);
    return incident;
  });

  app.patch(
    '/incidents/:id',
    { schema: { params: IncidentParams, body: patchBody(config.minCadenceSeconds) }, config: { scope: 'write' } },
    async (request) => {
      const incident = await incidents.patch(request.params.id, request.body);
      await deps.onIncidentChanged?.(incident);
      return { ...incident, updates: (await incidents.getWithUpdates(incident.id))?.updates ?? [] };
    },
  );

  app.get(
    '/incidents/:id/deliveries',
    { schema: { params: IncidentParams, querystring: DeliveryListQuery }, config: { scope: 'read' } },
    async (request) => {
      const incident = await incidents.getWithUpdates(request.params.id);
      if (incident === null) throw new NotFoundError('incident', request.params.id);
      const { channel, state, updateId } = request.query;
      const updateIds = incident.updates.map((u) => u.id).filter((u) => updateId === undefined || u === updateId);
      const records = await deliveries.listForUpdates(updateIds);
      return {
        deliveries: records
          .filter((r) => (channel === undefined || r.channel === channel) && (state === undefined || r.state === state))
          .map(toDelivery),
      };
    },
  );
};
