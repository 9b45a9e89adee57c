/**
 * Two Ajv instances: bodies are validated strictly (a string is not a
 * number, unknown fields are refused); query strings and path parameters are
 * text by nature, so they are coerced to the declared types.
 *
 * Before either runs, every string a request carries — values and field
 * names, in its body, path and query — must be well-formed Unicode: a lone
 * UTF-16 surrogate would be accepted by JSON.parse and then refused by
 * Redis' Lua JSON decoder mid-broadcast, so it is refused here with a 400
 * naming the field.
 */
import { Ajv, type Options } from 'ajv';
import addFormatsPlugin from 'ajv-formats';
import { fullFormats } from 'ajv-formats/dist/formats.js';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { ApiError, type FieldProblem } from './errors.js';

declare global {
  interface String {
    /** ES2024, in Node since 20; the project compiles against ES2023's lib. */
    isWellFormed(): boolean;
  }
}

// ajv-formats is CommonJS: its default export arrives wrapped under ESM.
const addFormats = addFormatsPlugin as unknown as typeof addFormatsPlugin.default;

const rfc3339DateTime = fullFormats['date-time'] as { validate: (s: string) => boolean };

/**
 * RFC 3339 date-time that is also a real instant. RFC 3339 allows a leap
 * second (`23:59:60`), which JavaScript's Date cannot represent (it parses
 * to NaN); Herald stores times as epoch milliseconds, so such a time is refused.
 */
function isInstant(text: string): boolean {
  return rfc3339DateTime.validate(text) && Number.isFinite(Date.parse(text));
}

function makeAjv(options: Options): Ajv {
  const ajv = new Ajv({ allErrors: true, removeAdditional: false, useDefaults: false, strict: false, ...options });
  addFormats(ajv, ['email', 'uri']);
  ajv.addFormat('date-time', { type: 'string', validate: isInstant });
  return ajv;
}

/** Problems listed in an ill-formed-text answer: enough to find each, not one per string of a 5 MiB body. */
const MAX_TEXT_PROBLEMS = 100;
const ILL_FORMED = 'is not well-formed Unicode (it holds a lone UTF-16 surrogate, e.g. half of an emoji)';
const ILL_FORMED_NAME = 'is a field name that is not well-formed Unicode (it holds a lone UTF-16 surrogate)';

/** `.name` for a plain field name, `["…"]` for any other (JSON-escaped, so the answer itself stays well-formed). */
function member(path: string, key: string): string {
  return /^[A-Za-z_$][\w$]*$/.test(key) ? `${path}.${key}` : `${path}[${JSON.stringify(key)}]`;
}

/**
 * Every string in a parsed request part that is not well-formed, by field.
 * Iterative, so a deeply nested body cannot exhaust the stack.
 */
export function illFormedText(part: string, value: unknown, limit = MAX_TEXT_PROBLEMS): FieldProblem[] {
  const problems: FieldProblem[] = [];
  const pending: Array<[string, unknown]> = [[part, value]];
  while (pending.length > 0 && problems.length < limit) {
    const [path, current] = pending.pop()!;
    if (typeof current === 'string') {
      if (!current.isWellFormed()) problems.push({ field: path, message: ILL_FORMED });
    } else if (Array.isArray(current)) {
      for (let i = current.length - 1; i >= 0; i--) pending.push([`${path}[${i}]`, current[i]]);
    } else if (current !== null && typeof current === 'object' && !Buffer.isBuffer(current)) {
      const entries = Object.entries(current);
      for (let i = entries.length - 1; i >= 0; i--) {
        const [key, child] = entries[i]!;
        if (!key.isWellFormed()) problems.push({ field: member(path, key), message: ILL_FORMED_NAME });
        else pending.push([member(path, key), child]);
      }
    }
  }
  return problems;
}

export function registerValidation(app: FastifyInstance): void {
  const strict = makeAjv({ coerceTypes: false });
  const lenient = makeAjv({ coerceTypes: 'array' });
  app.setValidatorCompiler(({ schema, httpPart }) =>
    (httpPart === 'body' ? strict : lenient).compile(schema as object),
  );

  // Header values reach Node as Latin-1 and cannot hold a surrogate; the
  // parts below are decoded text and can.
  app.addHook('preValidation', async (request: FastifyRequest) => {
    const problems = [
      ...illFormedText('params', request.params),
      ...illFormedText('querystring', request.query),
      ...illFormedText('body', request.body),
    ].slice(0, MAX_TEXT_PROBLEMS);
    const first = problems[0];
    if (first === undefined) return;
    const more = problems.length > 1 ? ` (and ${problems.length - 1} more)` : '';
    throw new ApiError(400, 'invalid_request', `${first.field} ${first.message}${more}`, problems);
  });
}
