/**
 * /v1/audiences — who hears about what. Webhook secrets are stored, never shown.
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { checkWebhookUrl } from '../../channels/webhook-address.js';
import type { Audience } from '../../domain/audience.js';
import { NotFoundError } from '../../store/errors.js';
import type { ApiDeps } from '../app.js';
import { badRequest, type FieldProblem } from '../errors.js';
import { AudienceBody, AudienceParams } from '../schemas.js';

/** An audience as the API shows it: each webhook says it has a secret, not what it is. */
export function publicAudience(audience: Audience) {
  const { webhooks, ...rest } = audience;
  return {
    ...rest,
    ...(webhooks !== undefined && {
      webhooks: webhooks.map((w) => ({ url: w.url, secret: 'whsec_…', ...(w.disabledAt && { disabledAt: w.disabledAt }) })),
    }),
  };
}

export const audienceRoutes: FastifyPluginAsyncTypebox<{ deps: ApiDeps }> = async (app, { deps }) => {
  const { audiences, config } = deps;

  app.put(
    '/audiences/:name',
    { schema: { params: AudienceParams, body: AudienceBody }, config: { scope: 'write' } },
    async (request) => {
      const body = request.body;
      const problems: FieldProblem[] = [];
      const seen = new Set<string>();
      body.webhooks?.forEach((hook, i) => {
        const reason = checkWebhookUrl(hook.url, config.webhookAllowPrivate);
        if (reason !== null) problems.push({ field: `body.webhooks[${i}].url`, message: reason });
        if (seen.has(hook.url)) problems.push({ field: `body.webhooks[${i}].url`, message: 'appears twice' });
        seen.add(hook.url);
      });
      const first = problems[0];
      if (first) throw badRequest('invalid_request', `${first.field} ${first.message}`, problems);
      const { audience } = await audiences.put(request.params.name, body);
      return publicAudience(audience);
    },
  );

  app.get('/audiences', { config: { scope: 'read' } }, async () => ({
    audiences: (await audiences.list()).map(publicAudience),
  }));

  app.get('/audiences/:name', { schema: { params: AudienceParams }, config: { scope: 'read' } }, async (request) => {
    const audience = await audiences.get(request.params.name);
    if (audience === null) throw new NotFoundError('audience', request.params.name);
    return publicAudience(audience);
  });

  app.delete('/audiences/:name', { schema: { params: AudienceParams }, config: { scope: 'write' } }, async (request, reply) => {
    if (!(await audiences.delete(request.params.name))) throw new NotFoundError('audience', request.params.name);
    return reply.code(204).send();
  });
};
