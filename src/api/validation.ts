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
import { Ajv, type Options, type ValidateFunction } from 'ajv';
import addFormatsPlugin from 'ajv-formats';
import { fullFormats } from 'ajv-formats/dist/formats.js';
import type { FastifyInstance, FastifyRequest, FastifySchemaCompiler } from 'fastify';
import { nextTurn } from '../event-loop.js';
import { isLargeBody } from './body-limits.js';
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

/** An array or object being walked by {@link illFormedText}: its field path, its keys (an object's), and the next child to read. */
interface Walk {
  path: string;
  container: Record<string, unknown> | unknown[];
  keys: string[] | undefined;
  next: number;
}

const isContainer = (value: unknown): value is object => value !== null && typeof value === 'object' && !Buffer.isBuffer(value);

/**
 * Every string in a parsed request part that is not well-formed, by field,
 * depth first. Iterative, so a deeply nested body cannot exhaust the stack;
 * a field's path is spelled out only for a container or a problem, not for
 * each of an audience's 100,000 addresses.
 */
export function illFormedText(part: string, value: unknown, limit = MAX_TEXT_PROBLEMS): FieldProblem[] {
  const problems: FieldProblem[] = [];
  if (typeof value === 'string') return value.isWellFormed() ? problems : [{ field: part, message: ILL_FORMED }];
  if (!isContainer(value)) return problems;
  const walks: Walk[] = [];
  const enter = (path: string, container: object): void => {
    walks.push(Array.isArray(container) ? { path, container, keys: undefined, next: 0 } : { path, container: container as Record<string, unknown>, keys: Object.keys(container), next: 0 });
  };
  enter(part, value);
  walk: while (walks.length > 0) {
    const walk = walks[walks.length - 1]!;
    if (walk.keys === undefined) {
      const items = walk.container as unknown[];
      while (walk.next < items.length) {
        const i = walk.next++;
        const child = items[i];
        if (typeof child === 'string') {
          if (child.isWellFormed()) continue;
          problems.push({ field: `${walk.path}[${i}]`, message: ILL_FORMED });
          if (problems.length >= limit) break walk;
        } else if (isContainer(child)) {
          enter(`${walk.path}[${i}]`, child);
          continue walk;
        }
      }
    } else {
      const { keys } = walk;
      const fields = walk.container as Record<string, unknown>;
      while (walk.next < keys.length) {
        const key = keys[walk.next++]!;
        if (!key.isWellFormed()) {
          problems.push({ field: member(walk.path, key), message: ILL_FORMED_NAME });
          if (problems.length >= limit) break walk;
          continue;
        }
        const child = fields[key];
        if (typeof child === 'string') {
          if (child.isWellFormed()) continue;
          problems.push({ field: member(walk.path, key), message: ILL_FORMED });
          if (problems.length >= limit) break walk;
        } else if (isContainer(child)) {
          enter(member(walk.path, key), child);
          continue walk;
        }
      }
    }
    walks.pop();
  }
  return problems;
}

/**
 * A validator that Ajv compiles when its route is first used, not when the
 * app gets ready: compiling every route's schemas took ≈150–300 ms of the
 * API's start-up (contract §1: ready within 2 s), and a process may never
 * serve most routes. The compiled function is Ajv's own, so a request gets
 * the same answer and errors either way; a route's first request pays for
 * its compilation (a few milliseconds).
 */
type RouteValidator = ReturnType<FastifySchemaCompiler<unknown>>;

function compiledOnFirstUse(compile: () => ValidateFunction): RouteValidator {
  let validate: ValidateFunction | undefined;
  const validator: RouteValidator = (data: unknown, ...context: unknown[]) => {
    validate ??= compile();
    // Ajv's context argument (parentData) lets it coerce a root value; request parts are objects, but pass it on.
    const valid = (validate as (data: unknown, ...context: unknown[]) => boolean)(data, ...context);
    validator.errors = validate.errors ?? null;
    return valid;
  };
  return validator;
}

export function registerValidation(app: FastifyInstance): void {
  let strict: Ajv | undefined;
  let lenient: Ajv | undefined;
  app.setValidatorCompiler(({ schema, httpPart }) =>
    compiledOnFirstUse(() =>
      httpPart === 'body'
        ? (strict ??= makeAjv({ coerceTypes: false })).compile(schema as object)
        : (lenient ??= makeAjv({ coerceTypes: 'array' })).compile(schema as object),
    ),
  );

  // Header values reach Node as Latin-1 and cannot hold a surrogate; the
  // parts below are decoded text and can.
  app.addHook('preValidation', async (request: FastifyRequest) => {
    // A large body was parsed in this turn of the event loop, and is validated
    // in the next: the walk below takes a turn of its own (contract §3: 100 ms).
    const large = isLargeBody(request);
    if (large) await nextTurn();
    const problems = [
      ...illFormedText('params', request.params),
      ...illFormedText('querystring', request.query),
      ...illFormedText('body', request.body),
    ].slice(0, MAX_TEXT_PROBLEMS);
    const first = problems[0];
    if (first === undefined) {
      if (large) await nextTurn();
      return;
    }
    const more = problems.length > 1 ? ` (and ${problems.length - 1} more)` : '';
    throw new ApiError(400, 'invalid_request', `${first.field} ${first.message}${more}`, problems);
  });
}
