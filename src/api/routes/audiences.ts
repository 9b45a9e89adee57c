/**
 * /v1/audiences — who hears about what. Webhook secrets are stored, never shown.
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { TokenScope } from '../../config.js';
import { checkWebhookUrl } from '../../channels/webhook-address.js';
import { maskedWebhookUrl } from '../../domain/redaction.js';
import type { Audience } from '../../domain/audience.js';
import { nextTurn } from '../../event-loop.js';
import { AudienceLimitError } from '../../store/audience-store.js';
import { NotFoundError } from '../../store/errors.js';
import type { ApiDeps } from '../app.js';
import { ApiError, badRequest, type FieldProblem } from '../errors.js';
import { AudienceBody, AudienceParams } from '../schemas.js';

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

/**
 * How many targets an audience body names: every entry of a channel's list
 * (Slack channels, email recipients, webhooks, …) and every channel switched
 * on by itself (`"x": {"enabled": true}`). `components` selects, it is no target.
 */
export function countTargets(body: Record<string, unknown>): number {
  let count = 0;
  for (const [channel, value] of Object.entries(body)) {
    if (channel === 'components') continue;
    if (Array.isArray(value)) count += value.length;
    else if (value !== null && typeof value === 'object') {
      for (const inner of Object.values(value)) {
        if (Array.isArray(inner)) count += inner.length;
        else if (inner === true) count += 1;
      }
    }
  }
  return count;
}

export const audienceRoutes: FastifyPluginAsyncTypebox<{ deps: ApiDeps }> = async (app, { deps }) => {
  const { audiences, config } = deps;

  app.put(
    '/audiences/:name',
    { schema: { params: AudienceParams, body: AudienceBody }, config: { scope: 'write' } },
    async (request, reply) => {
      // The body was validated in this turn of the event loop; a large one has taken its share.
      await nextTurn();
      const body = request.body;
      const targets = countTargets(body);
      if (targets > config.maxTargetsPerAudience) {
        throw new ApiError(
          413,
          'limit_exceeded',
          `the audience names ${targets} targets; at most ${config.maxTargetsPerAudience} are allowed (HERALD_MAX_TARGETS_PER_AUDIENCE)`,
          { limit: 'HERALD_MAX_TARGETS_PER_AUDIENCE', max: config.maxTargetsPerAudience, actual: targets },
        );
      }
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
      try {
        const { audience } = await audiences.put(request.params.name, body, config.maxAudiences);
        // Storing took this turn; writing out 100,000 addresses again takes the next one.
        await nextTurn();
        const text = JSON.stringify(publicAudience(audience, 'write'));
        // Bytes go out as they are; text would be encoded in the turn that sends it (tens of ms for 5 MB).
        // An answer kept for an Idempotency-Key is kept as the text it is.
        const answer = request.idempotency === undefined ? Buffer.from(text) : text;
        await nextTurn();
        return reply.type('application/json; charset=utf-8').send(answer);
      } catch (error) {
        if (!(error instanceof AudienceLimitError)) throw error;
        throw new ApiError(409, 'limit_exceeded', `${error.message} (HERALD_MAX_AUDIENCES)`, {
          limit: 'HERALD_MAX_AUDIENCES',
          max: error.limit,
        });
      }
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
