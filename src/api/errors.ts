/**
 * One error shape for every answer: `{"error": {"code", "message", "details"?}}`.
 * 4xx name what the caller got wrong; 5xx hide the inside and are logged.
 */
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { isRedisUnavailable } from '../redis/errors.js';
import { NotFoundError, ResolvedError } from '../store/errors.js';
import { MaintenanceChangedError, MaintenanceFinishedError } from '../store/maintenance-store.js';

export interface FieldProblem {
  field: string;
  message: string;
}

export class ApiError extends Error {
  constructor(
    readonly statusCode: number,
    readonly code: string,
    message: string,
    readonly details?: unknown,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

export function badRequest(code: string, message: string, details?: unknown): ApiError {
  return new ApiError(400, code, message, details);
}

interface AjvError {
  instancePath?: string;
  keyword?: string;
  message?: string;
  params?: Record<string, unknown>;
}

const UNKNOWN_FIELD = 'is not a known field';
/** Problems listed in `details`: enough to fix a request, not 100,000 lines for 100,000 bad addresses. */
const MAX_DETAILS = 100;
/** How many problems the one-line message names; `details` lists up to MAX_DETAILS. */
const SUMMARY_PROBLEMS = 3;

/** "/commander/email" in "body" → "body.commander.email"; additions name the property. */
function describe(context: string, e: AjvError): FieldProblem {
  const path = (e.instancePath ?? '')
    .split('/')
    .filter((p) => p !== '')
    .map((p) => (/^\d+$/.test(p) ? `[${p}]` : `.${p}`))
    .join('');
  let field = `${context}${path}`;
  let message = e.message ?? 'is invalid';
  const params = e.params ?? {};
  if (e.keyword === 'additionalProperties' && typeof params.additionalProperty === 'string') {
    field = `${field}.${params.additionalProperty}`;
    message = UNKNOWN_FIELD;
  } else if (e.keyword === 'required' && typeof params.missingProperty === 'string') {
    field = `${field}.${params.missingProperty}`;
    message = 'is required';
  } else if (e.keyword === 'enum' && Array.isArray(params.allowedValues)) {
    message = `must be one of: ${params.allowedValues.join(', ')}`;
  } else if (e.keyword === 'format' && params.format === 'date-time') {
    message = 'must be an ISO-8601 time with a zone that exists (e.g. 2026-03-01T10:00:00Z; no leap second, no 30 February)';
  }
  return { field: field.replace(/^\./, ''), message };
}

function send(reply: FastifyReply, error: ApiError): FastifyReply {
  const body: { code: string; message: string; details?: unknown } = { code: error.code, message: error.message };
  if (error.details !== undefined) body.details = error.details;
  return reply.code(error.statusCode).type('application/json').send({ error: body });
}

/** What a Fastify-internal error means for the caller. */
function fromFastify(error: FastifyError): ApiError | null {
  if (error.validation) {
    const described = error.validation.map((e) => describe(error.validationContext ?? 'body', e as AjvError));
    // A typo ("sevrity") shows both as an unknown field and as a missing one;
    // the unknown field is the cause, so it leads.
    const unknown = described.filter((p) => p.message === UNKNOWN_FIELD);
    const problems = [...unknown, ...described.filter((p) => p.message !== UNKNOWN_FIELD)];
    const shown = problems.slice(0, SUMMARY_PROBLEMS).map((p) => `${p.field} ${p.message}`);
    const more = problems.length - shown.length;
    const summary = shown.length > 0 ? `${shown.join('; ')}${more > 0 ? ` (and ${more} more)` : ''}` : 'the request is invalid';
    return new ApiError(400, 'invalid_request', summary, problems.slice(0, MAX_DETAILS));
  }
  switch (error.code) {
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      return new ApiError(400, 'invalid_json', 'the body is not valid JSON');
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return new ApiError(400, 'invalid_json', 'the body is empty; send a JSON object');
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new ApiError(413, 'body_too_large', error.message);
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new ApiError(415, 'unsupported_media_type', 'send the body as application/json');
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return new ApiError(400, 'invalid_request', error.message);
  }
  if (typeof error.statusCode === 'number' && error.statusCode >= 400 && error.statusCode < 500) {
    return new ApiError(error.statusCode, 'invalid_request', error.message);
  }
  return null;
}

export function registerErrorHandling(app: FastifyInstance): void {
  app.setErrorHandler((error: FastifyError, request: FastifyRequest, reply: FastifyReply) => {
    if (error instanceof ApiError) return send(reply, error);
    if (error instanceof NotFoundError) return send(reply, new ApiError(404, 'not_found', error.message));
    if (error instanceof ResolvedError) return send(reply, new ApiError(409, 'incident_resolved', error.message));
    if (error instanceof MaintenanceFinishedError) return send(reply, new ApiError(409, 'maintenance_finished', error.message));
    if (error instanceof MaintenanceChangedError) return send(reply, new ApiError(409, 'conflict', error.message));
    const known = fromFastify(error);
    if (known) return send(reply, known);
    if (isRedisUnavailable(error)) {
      request.log.warn({ err: error }, 'Redis unavailable');
      return send(
        reply.header('retry-after', String(UNAVAILABLE_RETRY_AFTER_SECONDS)),
        new ApiError(503, 'unavailable', 'storage is unavailable; try again shortly'),
      );
    }
    request.log.error({ err: error }, 'request failed');
    return send(reply, new ApiError(500, 'internal', 'an internal error occurred; it has been logged'));
  });
  app.setNotFoundHandler((request, reply) =>
    send(reply, new ApiError(404, 'not_found', `no route ${request.method} ${request.url.split('?')[0]}`)),
  );
}

/** How soon a caller refused with 503 may try again: Redis restarts, fails over or frees memory in seconds. */
const UNAVAILABLE_RETRY_AFTER_SECONDS = 1;
