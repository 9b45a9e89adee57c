/**
 * Which errors mean Redis cannot serve now — so the API answers 503 with
 * Retry-After, and a job is tried again until Redis is back instead of being
 * given up — rather than that the request or the job is wrong.
 */

/**
 * The client's own errors while Redis is unreachable: refused, reset or lost
 * connections, timeouts, the offline queue off, retries exhausted, and the
 * Sentinel/Cluster equivalents (a cluster still redirecting after a
 * failover or a slot move gives up with "Too many Cluster redirections").
 */
const UNREACHABLE =
  /ECONNREFUSED|ECONNRESET|EPIPE|ETIMEDOUT|EHOSTUNREACH|ENOTFOUND|EAI_AGAIN|connection is closed|stream isn't writeable|max ?retries ?per ?request|command timed out|enableOfflineQueue|socket closed|connection lost|none of the sentinels are available|failed to refresh slots cache|cluster is not ready|too many cluster redirections/i;

/**
 * Redis' answers that mean "not now", each with a word that says why and is
 * safe to show anyone: out of memory under `noeviction` (OOM), a replica
 * (READONLY), a failed RDB save that stops writes (MISCONF), a dataset
 * loading at start (LOADING), too few replicas, a cluster or master down, a
 * slot moving (NOREPLICAS, CLUSTERDOWN, MASTERDOWN, TRYAGAIN), a script
 * running too long (BUSY), a blocked command (WAIT, BZPOPMIN) cut short
 * by a master turning replica in a failover (UNBLOCKED). Each is the
 * error's first word, also when a script's command was refused ("OOM …
 * script: …").
 */
const REFUSALS: ReadonlyArray<readonly [RegExp, string]> = [
  [/^READONLY\b/, 'read-only'],
  [/^OOM\b/, 'out-of-memory'],
  [/^MISCONF\b/, 'persistence-failing'],
  [/^LOADING\b/, 'loading'],
  [/^(?:NOREPLICAS|CLUSTERDOWN|MASTERDOWN|TRYAGAIN)\b/, 'refusing-writes'],
  [/^BUSY\b/, 'busy'],
  [/^UNBLOCKED\b/, 'failing-over'],
  // WAIT sent to a master that a failover has just made a replica.
  [/^ERR WAIT cannot be used with replica/, 'failing-over'],
];

/** Why Redis refuses for now (`read-only`, `out-of-memory`, …), or undefined when `error` is no such refusal. */
export function redisRefusal(error: unknown): string | undefined {
  const message = error instanceof Error ? error.message : '';
  return REFUSALS.find(([pattern]) => pattern.test(message))?.[1];
}

/** How many wrapped causes are followed: a store may wrap the Redis error once or twice; a cycle must end. */
const MAX_CAUSE_DEPTH = 3;

/**
 * Does `error` mean Redis is away or refusing for now? A transaction refused
 * so fails as EXECABORT, with the reasons on ioredis' `previousErrors`.
 */
export function isRedisUnavailable(error: unknown, depth = 0): boolean {
  if (!(error instanceof Error)) return false;
  if (UNREACHABLE.test(`${error.name} ${error.message}`) || redisRefusal(error) !== undefined) return true;
  const previous = (error as { previousErrors?: unknown }).previousErrors;
  if (Array.isArray(previous) && previous.some((e) => redisRefusal(e) !== undefined)) return true;
  return depth < MAX_CAUSE_DEPTH && isRedisUnavailable(error.cause, depth + 1);
}
