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

export function createLogger(level: string, destination?: DestinationStream): Logger {
  return pino(
    { level, base: { service: 'herald' }, redact: { paths: REDACT_PATHS, censor: '[redacted]' }, timestamp: pino.stdTimeFunctions.isoTime },
    destination,
  );
}
