/**
 * Structured JSON logs. Anything that could hold a secret is redacted by
 * path, as a second line of defence: secrets are never logged on purpose.
 */
import { pino, type DestinationStream, type Logger } from 'pino';

export const REDACT_PATHS = [
  'req.headers.authorization',
  'headers.authorization',
  '*.token',
  '*.secret',
  '*.password',
  '*.pass',
  '*.smtpUrl',
  '*.appSecret',
  '*.accessSecret',
  '*.accessToken',
  'config',
];

/** An error as it is logged: what it is and what it says, nothing it carries. */
export interface LoggedError {
  name: string;
  code?: string | number;
  message: string;
  /** The call frames, without the first line (which repeats name and message). */
  stack?: string;
  cause?: LoggedError | string;
}

/** Causes followed when logging an error; a chain longer than this is a loop or noise. */
const MAX_CAUSE_DEPTH = 3;

/**
 * The `err` serializer: name, code, message, call frames and cause — and
 * nothing else. pino's default copies every enumerable property of an error,
 * and ioredis puts the refused command with its arguments on `command` (a
 * `PUT` of an audience refused by a full Redis would log its webhook secret)
 * and the errors of a transaction on `previousErrors`.
 */
export function serializeError(error: unknown, depth = 0): LoggedError | string {
  if (typeof error === 'string') return error;
  // Error-like objects too (another realm's errors, a library's plain `{name, message}`): never their other fields.
  if (typeof error !== 'object' || error === null || typeof (error as { message?: unknown }).message !== 'string') return String(error);
  const { name, message, code, stack, cause } = error as { name?: unknown; message: string; code?: unknown; stack?: unknown; cause?: unknown };
  const frames = typeof stack === 'string' ? stack.split('\n').filter((line) => /^\s+at /.test(line)).join('\n') : '';
  return {
    name: typeof name === 'string' ? name : 'Error',
    ...((typeof code === 'string' || typeof code === 'number') && { code }),
    message,
    ...(frames !== '' && { stack: frames }),
    ...(cause !== undefined && depth < MAX_CAUSE_DEPTH && { cause: serializeError(cause, depth + 1) }),
  };
}

/**
 * A JSON logger at `level`, writing to `destination` (stdout by default):
 * secret-bearing paths redacted, errors logged by {@link serializeError}.
 */
export function createLogger(level: string, destination?: DestinationStream): Logger {
  return pino(
    {
      level,
      base: { service: 'herald' },
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      serializers: { err: (error: unknown) => serializeError(error) },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    destination,
  );
}
