/**
 * How much of a request body each kind of route reads, and what it parses.
 * Parsing is the expensive part of a hostile request (V8's JSON.parse spends
 * seconds on 5 MiB of `[[[[…`, all of it on the one event loop), so a body is
 * parsed only by a route that needs it, only up to the size that route
 * needs, and only once its nesting is known to be shallow: a hostile body
 * then costs milliseconds (contract §3 Operations: no request blocks the
 * process for more than 100 ms).
 */
import { errorCodes, type FastifyInstance, type FastifyRequest, type RouteOptions } from 'fastify';
import { nextTurn } from '../event-loop.js';
import { ApiError } from './errors.js';

/** Contract §3: routes without auth accept at most 16 KiB of body. */
export const PUBLIC_BODY_LIMIT_BYTES = 16 * 1024;

/**
 * Every /v1 body but an audience's: an incident's fields are bounded by the
 * schemas (a 10,000-character message, 200-character title, 100 components,
 * 100 audiences), which even written as `\uXXXX` escapes stay far below this.
 */
export const API_BODY_LIMIT_BYTES = 256 * 1024;

/** An audience replaced in one PUT: 100,000 addresses of about 50 bytes (HERALD_MAX_TARGETS_PER_AUDIENCE's default); anything bigger is a mistake. */
export const AUDIENCE_BODY_LIMIT_BYTES = 5 * 1024 * 1024;

/**
 * Deepest nesting of arrays and objects a JSON body may have. Herald's own
 * bodies nest three levels (`webhooks[].url`); 32 leaves room for any
 * client's formatting while keeping the parse linear and shallow.
 */
export const MAX_JSON_DEPTH = 32;

/**
 * A body this large (only an audience's can be) takes milliseconds each to
 * decode, parse, check for ill-formed text and validate: each step is then
 * given a turn of the event loop of its own, so that together they never
 * hold it past contract §3's 100 ms.
 */
export const LARGE_BODY_BYTES = 64 * 1024;

const bodyBytes = new WeakMap<FastifyRequest, number>();

/** Whether the request's JSON body was at least {@link LARGE_BODY_BYTES}. */
export function isLargeBody(request: FastifyRequest): boolean {
  return (bodyBytes.get(request) ?? 0) >= LARGE_BODY_BYTES;
}

/** /v1 routes whose bodies may be larger than {@link API_BODY_LIMIT_BYTES}. */
const LARGE_BODY_ROUTES: ReadonlyMap<string, number> = new Map([['PUT /v1/audiences/:name', AUDIENCE_BODY_LIMIT_BYTES]]);

const OPEN_BRACE = 0x7b;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACE = 0x7d;
const CLOSE_BRACKET = 0x5d;
const QUOTE = 0x22;
const BACKSLASH = 0x5c;

/**
 * Follows how deeply a JSON text nests arrays and objects, chunk by chunk as
 * it arrives: brackets are counted outside strings. It does not validate
 * (JSON.parse does that next); it only decides whether parsing is safe to
 * start. Bytes suffice: every character it looks at is ASCII, and no byte of
 * a multi-byte UTF-8 character is ASCII.
 */
export class NestingGauge {
  private depth = 0;
  private inString = false;
  private escaped = false;

  constructor(readonly maxDepth: number) {}

  /** Reads the next chunk; true once the text has nested deeper than `maxDepth`. */
  exceededBy(chunk: Uint8Array): boolean {
    for (let i = 0; i < chunk.length; i++) {
      const c = chunk[i];
      if (this.inString) {
        if (this.escaped) this.escaped = false;
        else if (c === BACKSLASH) this.escaped = true;
        else if (c === QUOTE) this.inString = false;
      } else if (c === QUOTE) {
        this.inString = true;
      } else if (c === OPEN_BRACE || c === OPEN_BRACKET) {
        if (++this.depth > this.maxDepth) return true;
      } else if (c === CLOSE_BRACE || c === CLOSE_BRACKET) {
        this.depth--;
      }
    }
    return false;
  }
}

/**
 * Removes every body parser from `app`, so that no route reads a body unless
 * its scope adds a parser. Fastify never reads the body of a request with no
 * parser for an unknown route: the 404 answers at once and Node discards the
 * rest of the upload unparsed.
 */
export function parseNoBodies(app: FastifyInstance): void {
  app.removeAllContentTypeParsers();
}

/**
 * JSON bodies in `scope`, within the route's body limit, refused with 400
 * `body_too_deep` as soon as they nest deeper than {@link MAX_JSON_DEPTH}:
 * the nesting is followed as the body arrives, so such a body is neither
 * assembled nor parsed. Otherwise Fastify's own parser (which also refuses
 * `__proto__` and `constructor.prototype`).
 */
export function parseJsonBodies(scope: FastifyInstance): void {
  const parse = scope.getDefaultJsonParser('error', 'error');
  scope.addContentTypeParser('application/json', (request, payload, done) => {
    const limit = request.routeOptions.bodyLimit;
    const header = request.headers['content-length'];
    const declared = header === undefined ? undefined : Number(header);
    if (declared !== undefined && declared > limit) {
      done(new errorCodes.FST_ERR_CTP_BODY_TOO_LARGE(), undefined);
      return;
    }
    const gauge = new NestingGauge(MAX_JSON_DEPTH);
    const chunks: Buffer[] = [];
    let received = 0;

    const stop = (error: Error): void => {
      payload.removeListener('data', onData);
      payload.removeListener('end', onEnd);
      payload.removeListener('error', stop);
      done(error, undefined);
    };
    function onData(data: Buffer | string): void {
      const chunk = typeof data === 'string' ? Buffer.from(data) : data;
      received += chunk.length;
      if (received > limit) return stop(new errorCodes.FST_ERR_CTP_BODY_TOO_LARGE());
      if (gauge.exceededBy(chunk)) {
        return stop(
          new ApiError(400, 'body_too_deep', `the body nests arrays and objects more than ${MAX_JSON_DEPTH} levels deep`, {
            maxDepth: MAX_JSON_DEPTH,
          }),
        );
      }
      chunks.push(chunk);
    }
    function onEnd(): void {
      payload.removeListener('data', onData);
      payload.removeListener('error', stop);
      if (declared !== undefined && received !== declared) {
        done(new errorCodes.FST_ERR_CTP_INVALID_CONTENT_LENGTH(), undefined);
        return;
      }
      bodyBytes.set(request, received);
      const text = Buffer.concat(chunks, received).toString('utf8');
      if (received < LARGE_BODY_BYTES) parse(request, text, done);
      else void nextTurn().then(() => { parse(request, text, done); });
    }
    payload.on('data', onData);
    payload.once('end', onEnd);
    payload.once('error', stop);
  });
}

/**
 * Routes without auth in `scope`: at most {@link PUBLIC_BODY_LIMIT_BYTES} of
 * body (413 beyond, refused from Content-Length before reading), and a body
 * of a type no route here parses is read within that bound and dropped.
 * A route that needs a parsed body adds its parser in its own plugin.
 */
export function boundPublicBodies(scope: FastifyInstance): void {
  scope.addHook('onRoute', (route: RouteOptions) => {
    route.bodyLimit = Math.min(route.bodyLimit ?? PUBLIC_BODY_LIMIT_BYTES, PUBLIC_BODY_LIMIT_BYTES);
  });
  scope.addContentTypeParser('*', { parseAs: 'buffer' }, (_request, _body, done) => done(null, undefined));
}

/**
 * /v1 routes in `scope`: depth-bounded JSON, at most
 * {@link API_BODY_LIMIT_BYTES} of it except on the routes that need more.
 */
export function boundApiBodies(scope: FastifyInstance): void {
  parseJsonBodies(scope);
  scope.addHook('onRoute', (route: RouteOptions) => {
    if (route.bodyLimit !== undefined) return;
    for (const method of [route.method].flat()) {
      const large = LARGE_BODY_ROUTES.get(`${method} ${route.url}`);
      if (large !== undefined) {
        route.bodyLimit = large;
        return;
      }
    }
    route.bodyLimit = API_BODY_LIMIT_BYTES;
  });
}
