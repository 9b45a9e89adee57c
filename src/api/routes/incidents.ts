/**
 * /v1/incidents — open an incident, post updates, resolve it, read it back.
 * A 201 is sent only once the update and its pending broadcast are stored.
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyBaseLogger } from 'fastify';
import { deliveryRecordsExpireAt, toDelivery } from '../../domain/delivery.js';
import { NotFoundError } from '../../store/errors.js';
import type { IncidentWithUpdates } from '../../domain/incident.js';
import type { NewUpdate } from '../../store/incident-store.js';
import type { ApiDeps } from '../app.js';
import { broadcastReach, chooseAudiences, queueBroadcast } from '../broadcasting.js';
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
  const { incidents, deliveries, config } = deps;

  /** The incident as the API shows it: each update with its delivery totals per channel and state, kept after the single records expire. */
  const withTotals = async (incident: IncidentWithUpdates) => {
    const totals = await deliveries.totals(incident.id, incident.updates.map((u) => u.id));
    return { ...incident, updates: incident.updates.map((u) => ({ ...u, deliveries: totals.get(u.id) ?? {} })) };
  };

  app.post(
    '/incidents',
    { schema: { body: incidentBody(config.minCadenceSeconds) }, config: { scope: 'write' } },
    async (request, reply) => {
      const body = request.body;
      const components = body.components ?? [];
      const audienceNames = await chooseAudiences(deps, body.audiences, components);
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
      await queueBroadcast(deps, update, request.log);
      reply.code(201);
      return { incident: { ...incident, updates: [update] }, update, ...(await broadcastReach(deps, audienceNames, components)) };
    },
  );

  /** Posts a commander's update and queues its broadcast: the shape both routes answer with (`warnings` when nobody will hear it). */
  async function postUpdate(id: string, input: NewUpdate, log: FastifyBaseLogger) {
    const { update, audiences } = await incidents.postUpdate(id, input);
    await queueBroadcast(deps, update, log);
    return { update, ...(await broadcastReach(deps, audiences, async () => (await incidents.get(id))?.components ?? [])) };
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
    return withTotals(incident);
  });

  app.patch(
    '/incidents/:id',
    { schema: { params: IncidentParams, body: patchBody(config.minCadenceSeconds) }, config: { scope: 'write' } },
    async (request) => {
      // The patch script reschedules the cadence itself: every keeper sees the new due time at once.
      return withTotals(await incidents.patch(request.params.id, request.body));
    },
  );

  app.get(
    '/incidents/:id/deliveries',
    { schema: { params: IncidentParams, querystring: DeliveryListQuery }, config: { scope: 'read' } },
    async (request) => {
      const incident = await incidents.getWithUpdates(request.params.id);
      if (incident === null) throw new NotFoundError('incident', request.params.id);
      // Past its retention and removed (records are kept while any delivery is not final).
      const expiresAt = deliveryRecordsExpireAt(incident.updates, config.retentionSeconds);
      if (expiresAt !== undefined && expiresAt <= Date.now() && !(await deliveries.awaitingExpiry(incident.id))) {
        return { deliveries: [], expired: true };
      }
      const { channel, state, updateId } = request.query;
      const updateIds = incident.updates.map((u) => u.id).filter((u) => updateId === undefined || u === updateId);
      const records = await deliveries.listForUpdates(incident.id, updateIds);
      return {
        deliveries: records
          .filter((r) => (channel === undefined || r.channel === channel) && (state === undefined || r.state === state))
          .map((record) => toDelivery(record, request.caller!.scope)),
      };
    },
  );
};
