/**
 * POST /v1/preview — what each enabled channel would send for an incident
 * body, rendered from the live templates, sending nothing.
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { Incident, IncidentUpdate } from '../../domain/incident.js';
import { unsubscribeUrl } from '../../domain/unsubscribe-token.js';
import { renderContext, webhookPayload } from '../../pipeline/render-context.js';
import type { ApiDeps } from '../app.js';
import { previewBody } from '../schemas.js';

export const previewRoutes: FastifyPluginAsyncTypebox<{ deps: ApiDeps }> = async (app, { deps }) => {
  const { config, renderer, unsubscribeTokens } = deps;

  app.post('/preview', { schema: { body: previewBody(config.minCadenceSeconds) }, config: { scope: 'read' } }, async (request) => {
    const body = request.body;
    const now = new Date().toISOString();
    const kind = body.kind ?? 'opened';
    const status = kind === 'resolved' ? 'resolved' : (body.status ?? 'investigating');
    const cadenceSeconds = body.cadenceSeconds ?? config.defaultCadenceSeconds;
    const incident: Incident = {
      id: 'inc_preview',
      title: body.title,
      severity: body.severity,
      status,
      components: body.components ?? [],
      audiences: body.audiences ?? [],
      cadenceSeconds,
      commander: body.commander ?? null,
      createdAt: now,
      updatedAt: now,
      lastBroadcastAt: now,
      nextUpdateDueAt: status === 'resolved' ? null : new Date(Date.parse(now) + cadenceSeconds * 1000).toISOString(),
      resolvedAt: status === 'resolved' ? now : null,
    };
    const update: IncidentUpdate = {
      id: 'upd_preview',
      incidentId: incident.id,
      seq: kind === 'opened' ? 1 : 2,
      kind,
      status,
      message: body.message,
      author: kind === 'holding' ? 'herald' : request.caller!.name,
      postedAt: now,
    };
    const context = renderContext(incident, update, config.publicUrl);
    const enabled = config.enabledChannels;
    const sample = unsubscribeUrl(config.publicUrl, unsubscribeTokens.sign({ address: 'recipient@example.com', audiences: [] }));
    return {
      ...(enabled.has('slack') && { slack: renderer.render('slack', kind, context) }),
      ...(enabled.has('x') && { x: renderer.render('x', kind, context) }),
      ...(enabled.has('email') && { email: renderer.render('email', kind, { ...context, unsubscribeUrl: sample }) }),
      ...(enabled.has('webhook') && {
        webhook: webhookPayload(incident, update, context.incident.url, renderer.render('webhook', kind, context)),
      }),
    };
  });
};
