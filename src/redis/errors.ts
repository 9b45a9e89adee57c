/**
 * Which errors mean Redis cannot serve now — so the API answers 503 with
 * Retry-After, and a job is tried again until Redis is back instead of being
 * given up — rather than that the request or the job is wrong.
 */

/**
 * The client's own errors while Redis is unreachable: refused, reset or lost
 * connections, timeouts, the offline queue off, retries exhausted, and the
 * Sentinel/Cluster equivalents.
 */
const UNREACHABLE =
  /ECONNREFUSED|ECONNRESET|EPIPE|ETIMEDOUT|EHOSTUNREACH|ENOTFOUND|EAI_AGAIN|connection is closed|stream isn't writeable|max ?retries ?per ?request|command timed out|enableOfflineQueue|socket closed|connection lost|none of the sentinels are available|failed to refresh slots cache|cluster is not ready/i;

/**
 * Redis' answers that mean "not now": out of memory under `noeviction` (OOM),
 * a replica (READONLY), a failed RDB save that stops writes (MISCONF), too
 * few replicas (NOREPLICAS), a cluster or master down (CLUSTERDOWN,
 * MASTERDOWN), a slot moving (TRYAGAIN), a dataset loading at start
 * (LOADING), a script running too long (BUSY). Each is the error's first
 * word, also when a script's command was refused ("OOM … script: …").
 */
const REFUSED_FOR_NOW = /^(?:OOM|READONLY|MISCONF|NOREPLICAS|CLUSTERDOWN|MASTERDOWN|TRYAGAIN|LOADING|BUSY)\b/;

/** How many wrapped causes are followed: a store may wrap the Redis error once or twice; a cycle must end. */
const MAX_CAUSE_DEPTH = 3;

/**
 * Does `error` mean Redis is away or refusing for now? A transaction refused
 * so fails as EXECABORT, with the reasons on ioredis' `previousErrors`.
 */
export function isRedisUnavailable(error: unknown, depth = 0): boolean {
  if (!(error instanceof Error)) return false;
  if (UNREACHABLE.test(`${error.name} ${error.message}`) || REFUSED_FOR_NOW.test(error.message)) return true;
  const previous = (error as { previousErrors?: unknown }).previousErrors;
  if (Array.isArray(previous) && previous.some((e) => e instanceof Error && REFUSED_FOR_NOW.test(e.message))) return true;
  return depth < MAX_CAUSE_DEPTH && isRedisUnavailable(error.cause, depth + 1);
}
