/**
 * /v1/audiences — who hears about what. Webhook secrets are stored, never shown.
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { TokenScope } from '../../config.js';
import { checkWebhookUrl } from '../../channels/webhook-address.js';
import type { Audience } from '../../domain/audience.js';
import { NotFoundError } from '../../store/errors.js';
import type { ApiDeps } from '../app.js';
import { badRequest, type FieldProblem } from '../errors.js';
import { AudienceBody, AudienceParams } from '../schemas.js';

/** What stands for the masked part of a webhook URL shown to a read token. */
const MASK = '…';

/**
 * A webhook URL as a `read` token sees it (contract §3): such URLs often
 * carry a capability token (Slack's `/services/T…/B…/secret`, `?token=`),
 * so only the origin and the first path segment are shown — no userinfo,
 * no query, no fragment, the rest of the path masked.
 */
export function maskedWebhookUrl(url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return MASK;
  }
  const [first = '', ...rest] = parsed.pathname.split('/').slice(1);
  const masked = rest.some((segment) => segment !== '');
  return `${parsed.protocol}//${parsed.host}/${first}${masked ? `/${MASK}` : ''}`;
}

/**
 * An audience as the API shows it: each webhook says it has a secret, not
 * what it is; a `read` token sees each webhook URL masked.
 */
export function publicAudience(audience: Audience, scope: TokenScope) {
  const { webhooks, ...rest } = audience;
  const shown = scope === 'write' ? (url: string) => url : maskedWebhookUrl;
  return {
    ...rest,
    ...(webhooks !== undefined && {
      webhooks: webhooks.map((w) => ({ url: shown(w.url), secret: 'whsec_…', ...(w.disabledAt && { disabledAt: w.disabledAt }) })),
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
      return publicAudience(audience, 'write');
    },
  );

  app.get('/audiences', { config: { scope: 'read' } }, async (request) => ({
    audiences: (await audiences.list()).map((a) => publicAudience(a, request.caller!.scope)),
  }));

  app.get('/audiences/:name', { schema: { params: AudienceParams }, config: { scope: 'read' } }, async (request) => {
    const audience = await audiences.get(request.params.name);
    if (audience === null) throw new NotFoundError('audience', request.params.name);
    return publicAudience(audience, request.caller!.scope);
  });

  app.delete('/audiences/:name', { schema: { params: AudienceParams }, config: { scope: 'write' } }, async (request, reply) => {
    if (!(await audiences.delete(request.params.name))) throw new NotFoundError('audience', request.params.name);
    return reply.code(204).send();
  });
};
