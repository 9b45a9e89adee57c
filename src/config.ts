/**
 * Herald's configuration: read from the environment once at startup,
 * validated, and frozen. Everything else receives the parts it needs.
 */
import ipaddr from 'ipaddr.js';
import type { ChannelName } from './channels/channel.js';

export type TokenScope = 'read' | 'write';

export interface ApiToken {
  /** Recorded as the `author` of updates posted with this token. */
  name: string;
  token: string;
  scope: TokenScope;
}

export interface SlackConfig {
  token: string;
  apiUrl: string;
}

export interface XConfig {
  appKey: string;
  appSecret: string;
  accessToken: string;
  accessSecret: string;
  apiUrl: string;
}

export interface EmailConfig {
  smtpUrl: string;
  from: string;
}

/** A Redis node or Sentinel: `host:port`, `[v6]:port`, or a host alone. */
export interface RedisNode {
  host: string;
  port: number;
}

/**
 * Where Herald's Redis is: one server (`REDIS_URL`), a master that Sentinels
 * watch and fail over (`REDIS_SENTINELS`), or a Redis Cluster
 * (`REDIS_CLUSTER_NODES`).
 */
export type RedisTopology =
  | { kind: 'single' }
  | {
      kind: 'sentinel';
      sentinels: readonly RedisNode[];
      /** The master's name as the Sentinels know it. */
      master: string;
      username: string | undefined;
      password: string | undefined;
      /** The Sentinels' own password, when they require one. */
      sentinelPassword: string | undefined;
    }
  | { kind: 'cluster'; nodes: readonly RedisNode[]; username: string | undefined; password: string | undefined };

/**
 * How an acknowledged write is made to survive a failover: before answering
 * 2xx, wait until `replicas` replicas of the master have it (`all`: every
 * replica it has had lately, so that whichever is promoted has it; never
 * more than that), at most `timeoutMs`.
 */
export interface ReplicaWait {
  replicas: number | 'all';
  timeoutMs: number;
}

export interface Config {
  port: number;
  host: string;
  /** Undefined when `REDIS_URL` is unset: Herald may then start a private Redis. Ignored on Sentinel and Cluster. */
  redisUrl: string | undefined;
  redis: RedisTopology;
  replicaWait: ReplicaWait;
  /**
   * On a Cluster, how many hash-tag shards Herald spreads its incidents and
   * queues over (fixed when the cluster's Herald data is first written).
   */
  clusterShards: number;
  prefix: string;
  apiTokens: readonly ApiToken[];
  publicUrl: string;
  defaultCadenceSeconds: number;
  minCadenceSeconds: number;
  reminderLeadSeconds: number;
  templatesDir: string | undefined;
  slack: SlackConfig | undefined;
  x: XConfig | undefined;
  email: EmailConfig | undefined;
  webhookAllowPrivate: boolean;
  /** Webhooks need no credentials, so that channel is always on. */
  enabledChannels: ReadonlySet<ChannelName>;
  /** Signs unsubscribe links; generated and kept in Redis when unset. */
  signingSecret: string | undefined;
  /** How long shutdown waits for in-flight deliveries. */
  shutdownGraceMs: number;
  /** Request timeout for Slack, X and webhooks. */
  httpTimeoutMs: number;
  /** SMTP socket timeout. */
  smtpTimeoutMs: number;
  /** When set, every channel's retry policy uses these instead of its own. */
  retryOverride: { maxAttempts?: number; baseDelayMs?: number };
  /** How long a killed worker's job stays locked before another worker takes it over. */
  jobLockMs: number;
  /** Most connections kept open to one webhook origin. */
  webhookConnectionsPerOrigin: number;
  /** Most pooled SMTP connections. */
  smtpMaxConnections: number;
  /** Most audiences that may exist; a PUT of one more is refused (409). */
  maxAudiences: number;
  /** Most targets (Slack channels, X, email recipients, webhooks, …) one audience may name (413 beyond). */
  maxTargetsPerAudience: number;
  /**
   * Most bytes a request sent with an `Idempotency-Key` may carry (413
   * beyond, before any work), and the most bytes of an answer kept for its replay.
   */
  idempotencyMaxBytes: number;
  logLevel: string;
  /** Requests a minute one client address may make to routes without auth (public pages, unsubscribe); 0 = no limit. */
  rateLimitPublicPerMinute: number;
  /** Requests a minute one API token (or, without a known token, one address) may make under /v1; 0 = no limit. */
  rateLimitApiPerMinute: number;
  /** Reverse proxies whose `X-Forwarded-For` names the client (addresses or CIDR ranges); empty = the socket's peer is the client. */
  trustedProxies: readonly string[];
  /**
   * Tries of a queue job that fails for a reason no provider gave (a bug, a
   * record that cannot be read), with exponential backoff from `baseDelayMs`;
   * then its deliveries are given up. Failures from Redis being away never
   * count towards giving up.
   */
  jobRetry: { maxAttempts: number; baseDelayMs: number };
  /**
   * How long after an incident is resolved (a maintenance completed or
   * cancelled) the records of its single deliveries, its lanes and its
   * thread state are kept; each update's totals stay (contract §6).
   */
  retentionSeconds: number;
}

export const DEFAULT_REDIS_URL = 'redis://127.0.0.1:6379';

/** A bad value in the environment; the message names the variable. */
export class ConfigError extends Error {
  readonly variable: string;

  constructor(variable: string, problem: string) {
    super(`${variable}: ${problem}`);
    this.name = 'ConfigError';
    this.variable = variable;
  }
}

type Env = Readonly<Record<string, string | undefined>>;

function value(env: Env, name: string): string | undefined {
  const raw = env[name];
  if (raw === undefined) return undefined;
  const trimmed = raw.trim();
  return trimmed === '' ? undefined : trimmed;
}

function integer(env: Env, name: string, fallback: number, min: number, max: number): number {
  const raw = value(env, name);
  if (raw === undefined) return fallback;
  if (!/^\d+$/.test(raw)) throw new ConfigError(name, `expected a whole number, got "${raw}"`);
  const n = Number(raw);
  if (n < min || n > max) throw new ConfigError(name, `must be between ${min} and ${max}, got ${n}`);
  return n;
}

function boolean(env: Env, name: string, fallback: boolean): boolean {
  const raw = value(env, name);
  if (raw === undefined) return fallback;
  const lower = raw.toLowerCase();
  if (['true', '1', 'yes', 'on'].includes(lower)) return true;
  if (['false', '0', 'no', 'off'].includes(lower)) return false;
  throw new ConfigError(name, `expected true or false, got "${raw}"`);
}

function url(env: Env, name: string, fallback: string | undefined, protocols: readonly string[]): string | undefined {
  const raw = value(env, name) ?? fallback;
  if (raw === undefined) return undefined;
  let parsed: URL;
  try {
    parsed = new URL(raw);
  } catch {
    // The value may carry credentials (SMTP_URL): never echo it.
    throw new ConfigError(name, 'is not a valid URL');
  }
  if (!protocols.includes(parsed.protocol)) {
    throw new ConfigError(name, `must use ${protocols.join(' or ')}, got ${parsed.protocol}`);
  }
  return raw;
}

/** `host:port,host:port,…`; IPv6 hosts in brackets; a missing port is `defaultPort`. */
function redisNodes(env: Env, name: string, defaultPort: number): RedisNode[] | undefined {
  const raw = value(env, name);
  if (raw === undefined) return undefined;
  const nodes: RedisNode[] = [];
  for (const entry of raw.split(',').map((e) => e.trim()).filter((e) => e !== '')) {
    const match = /^(?:\[([0-9a-fA-F:.]+)\]|([^\s:[\]]+))(?::(\d{1,5}))?$/.exec(entry);
    const port = match?.[3] === undefined ? defaultPort : Number(match[3]);
    if (match === null || port < 1 || port > 65535) {
      throw new ConfigError(name, `"${entry}" is not host:port (e.g. 10.0.0.5:${defaultPort}, [::1]:${defaultPort})`);
    }
    nodes.push({ host: match[1] ?? match[2]!, port });
  }
  if (nodes.length === 0) throw new ConfigError(name, 'names no node');
  return nodes;
}

function redisTopology(env: Env): RedisTopology {
  const clusterNodes = redisNodes(env, 'REDIS_CLUSTER_NODES', 6379);
  const sentinels = redisNodes(env, 'REDIS_SENTINELS', 26379);
  const username = value(env, 'REDIS_USERNAME');
  const password = value(env, 'REDIS_PASSWORD');
  if (clusterNodes !== undefined && sentinels !== undefined) {
    throw new ConfigError('REDIS_SENTINELS', 'cannot be set together with REDIS_CLUSTER_NODES: Herald uses either a Cluster or a Sentinel-watched master');
  }
  if (clusterNodes !== undefined) return { kind: 'cluster', nodes: clusterNodes, username, password };
  if (sentinels !== undefined) {
    const master = value(env, 'REDIS_SENTINEL_MASTER') ?? 'mymaster';
    return { kind: 'sentinel', sentinels, master, username, password, sentinelPassword: value(env, 'REDIS_SENTINEL_PASSWORD') };
  }
  for (const name of ['REDIS_USERNAME', 'REDIS_PASSWORD', 'REDIS_SENTINEL_MASTER', 'REDIS_SENTINEL_PASSWORD']) {
    if (value(env, name) !== undefined) {
      throw new ConfigError(name, 'is for REDIS_SENTINELS or REDIS_CLUSTER_NODES; a single Redis takes its credentials in REDIS_URL (redis://user:password@host:port)');
    }
  }
  return { kind: 'single' };
}

/** `name:token:scope,…` — names and tokens must be unique. */
function apiTokens(env: Env): ApiToken[] {
  const name = 'HERALD_API_TOKENS';
  const raw = value(env, name);
  if (raw === undefined) {
    throw new ConfigError(name, 'is required: comma-separated name:token:scope entries, scope read or write');
  }
  const tokens: ApiToken[] = [];
  const entries = raw.split(',').map((e) => e.trim()).filter((e) => e !== '');
  for (const [i, entry] of entries.entries()) {
    const parts = entry.split(':');
    const [tokenName, token, scope] = parts;
    const where = `entry ${i + 1}`;
    if (parts.length !== 3 || !tokenName || !token || !scope) {
      throw new ConfigError(name, `${where} must look like name:token:scope`);
    }
    if (scope !== 'read' && scope !== 'write') {
      throw new ConfigError(name, `${where} ("${tokenName}") has scope "${scope}"; expected read or write`);
    }
    if (token.length < 8) throw new ConfigError(name, `${where} ("${tokenName}") has a token shorter than 8 characters`);
    if (tokens.some((t) => t.name === tokenName)) throw new ConfigError(name, `name "${tokenName}" appears twice`);
    if (tokens.some((t) => t.token === token)) throw new ConfigError(name, `${where} ("${tokenName}") reuses another entry's token`);
    tokens.push({ name: tokenName, token, scope });
  }
  if (tokens.length === 0) throw new ConfigError(name, 'names no token');
  return tokens;
}

/** Comma-separated IP addresses or CIDR ranges (`10.0.0.0/8`, `::1`). */
function addressRanges(env: Env, name: string): string[] {
  const raw = value(env, name);
  if (raw === undefined) return [];
  const entries = raw.split(',').map((e) => e.trim()).filter((e) => e !== '');
  for (const entry of entries) {
    const valid = entry.includes('/') ? isValidCIDR(entry) : ipaddr.isValid(entry);
    if (!valid) throw new ConfigError(name, `"${entry}" is not an IP address or CIDR range (e.g. 10.0.0.0/8)`);
  }
  return entries;
}

function isValidCIDR(entry: string): boolean {
  try {
    ipaddr.parseCIDR(entry);
    return true;
  } catch {
    return false;
  }
}

function withTrailingSlash(u: string): string {
  return u.endsWith('/') ? u : `${u}/`;
}

/** Parses and validates the environment; throws {@link ConfigError} on the first bad value. */
export function loadConfig(env: Env = process.env): Readonly<Config> {
  const port = integer(env, 'PORT', 8080, 0, 65535);
  const host = value(env, 'HOST') ?? '127.0.0.1';
  const redisUrl = url(env, 'REDIS_URL', undefined, ['redis:', 'rediss:']);
  const redis = redisTopology(env);
  // An acknowledged write waits until the master's replicas have it: any of them may be the next master.
  const waitReplicas = value(env, 'HERALD_REDIS_WAIT_REPLICAS');
  if (waitReplicas !== undefined && waitReplicas.toLowerCase() !== 'all' && !/^\d+$/.test(waitReplicas)) {
    throw new ConfigError('HERALD_REDIS_WAIT_REPLICAS', `expected a whole number or "all", got "${waitReplicas}"`);
  }
  const replicaWait: ReplicaWait = {
    replicas: waitReplicas === undefined || waitReplicas.toLowerCase() === 'all' ? 'all' : integer(env, 'HERALD_REDIS_WAIT_REPLICAS', 0, 0, 16),
    timeoutMs: integer(env, 'HERALD_REDIS_WAIT_TIMEOUT_MS', 1000, 1, 60_000),
  };
  const clusterShards = integer(env, 'HERALD_CLUSTER_SHARDS', 12, 1, 1024);

  const prefix = value(env, 'HERALD_PREFIX') ?? 'herald';
  if (!/^[\w{}:.-]+$/.test(prefix)) {
    throw new ConfigError('HERALD_PREFIX', 'may contain only letters, digits, _ - . : { }');
  }
  if (redis.kind === 'cluster' && /[{}]/.test(prefix)) {
    // Redis hashes the first {…} of a key: a tag in the prefix would put every key in one slot.
    throw new ConfigError('HERALD_PREFIX', `"${prefix}" has a hash tag; on a Cluster Herald adds its own, so that its keys spread over every master`);
  }

  const minCadenceSeconds = integer(env, 'HERALD_MIN_CADENCE_SECONDS', 60, 1, 86_400);
  const defaultCadenceSeconds = integer(env, 'HERALD_DEFAULT_CADENCE_SECONDS', 1800, 1, 7 * 86_400);
  if (defaultCadenceSeconds < minCadenceSeconds) {
    throw new ConfigError(
      'HERALD_DEFAULT_CADENCE_SECONDS',
      `${defaultCadenceSeconds} is below HERALD_MIN_CADENCE_SECONDS (${minCadenceSeconds})`,
    );
  }
  const reminderLeadSeconds = integer(env, 'HERALD_REMINDER_LEAD_SECONDS', 300, 0, 7 * 86_400);

  const publicHost = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host;
  const publicUrl = url(env, 'HERALD_PUBLIC_URL', `http://${publicHost.includes(':') ? `[${publicHost}]` : publicHost}:${port}`, [
    'http:',
    'https:',
  ])!.replace(/\/+$/, '');

  const slackToken = value(env, 'SLACK_BOT_TOKEN');
  const slackApiUrl = url(env, 'SLACK_API_URL', 'https://slack.com/api/', ['http:', 'https:'])!;
  const slack = slackToken === undefined ? undefined : Object.freeze({ token: slackToken, apiUrl: withTrailingSlash(slackApiUrl) });

  const xNames = ['X_APP_KEY', 'X_APP_SECRET', 'X_ACCESS_TOKEN', 'X_ACCESS_SECRET'] as const;
  const xValues = xNames.map((n) => value(env, n));
  const xApiUrl = url(env, 'X_API_URL', 'https://api.x.com/2/', ['https:'])!;
  let x: XConfig | undefined;
  if (xValues.some((v) => v !== undefined)) {
    const missing = xNames.filter((_, i) => xValues[i] === undefined);
    if (missing.length > 0) {
      throw new ConfigError(missing[0]!, `is missing; the X channel needs all of ${xNames.join(', ')}`);
    }
    const [appKey, appSecret, accessToken, accessSecret] = xValues as string[];
    x = Object.freeze({ appKey: appKey!, appSecret: appSecret!, accessToken: accessToken!, accessSecret: accessSecret!, apiUrl: withTrailingSlash(xApiUrl) });
  }

  const smtpUrl = url(env, 'SMTP_URL', undefined, ['smtp:', 'smtps:']);
  const from = value(env, 'EMAIL_FROM');
  let email: EmailConfig | undefined;
  if (smtpUrl !== undefined) {
    if (from === undefined) throw new ConfigError('EMAIL_FROM', 'is required when SMTP_URL is set');
    if (!/^(?:[^<>]*<)?[^\s@<>]+@[^\s@<>]+\.?[^\s@<>]*>?$/.test(from)) {
      throw new ConfigError('EMAIL_FROM', `"${from}" is not an email address (e.g. "Status <status@example.com>")`);
    }
    email = Object.freeze({ smtpUrl, from });
  } else if (from !== undefined) {
    throw new ConfigError('SMTP_URL', 'is required when EMAIL_FROM is set');
  }

  const enabled = new Set<ChannelName>(['webhook']);
  if (slack) enabled.add('slack');
  if (x) enabled.add('x');
  if (email) enabled.add('email');

  const signingSecret = value(env, 'HERALD_SIGNING_SECRET');
  if (signingSecret !== undefined && signingSecret.length < 32) {
    throw new ConfigError('HERALD_SIGNING_SECRET', 'must be at least 32 characters');
  }

  const config: Config = {
    port,
    host,
    redisUrl,
    redis,
    replicaWait,
    clusterShards,
    prefix,
    apiTokens: Object.freeze(apiTokens(env)),
    publicUrl,
    defaultCadenceSeconds,
    minCadenceSeconds,
    reminderLeadSeconds,
    templatesDir: value(env, 'HERALD_TEMPLATES_DIR'),
    slack,
    x,
    email,
    webhookAllowPrivate: boolean(env, 'HERALD_WEBHOOK_ALLOW_PRIVATE', false),
    enabledChannels: enabled,
    signingSecret,
    shutdownGraceMs: integer(env, 'HERALD_SHUTDOWN_GRACE_MS', 10_000, 0, 600_000),
    httpTimeoutMs: integer(env, 'HERALD_HTTP_TIMEOUT_MS', 10_000, 100, 300_000),
    smtpTimeoutMs: integer(env, 'HERALD_SMTP_TIMEOUT_MS', 30_000, 100, 600_000),
    retryOverride: Object.freeze({
      ...(value(env, 'HERALD_RETRY_MAX_ATTEMPTS') !== undefined && {
        maxAttempts: integer(env, 'HERALD_RETRY_MAX_ATTEMPTS', 1, 1, 100),
      }),
      ...(value(env, 'HERALD_RETRY_BASE_DELAY_MS') !== undefined && {
        baseDelayMs: integer(env, 'HERALD_RETRY_BASE_DELAY_MS', 1, 1, 3_600_000),
      }),
    }),
    jobLockMs: integer(env, 'HERALD_JOB_LOCK_MS', 30_000, 1000, 600_000),
    webhookConnectionsPerOrigin: integer(env, 'HERALD_WEBHOOK_CONNECTIONS_PER_ORIGIN', 8, 1, 1024),
    smtpMaxConnections: integer(env, 'HERALD_SMTP_MAX_CONNECTIONS', 5, 1, 256),
    // Every broadcast reads every audience: a thousand is far beyond any real
    // organisation's list of partners, and keeps that read small.
    maxAudiences: integer(env, 'HERALD_MAX_AUDIENCES', 1000, 1, 1_000_000),
    // The schema's own per-list bounds (100,000 emails, 10,000 webhooks, 1,000 Slack channels) taken together.
    maxTargetsPerAudience: integer(env, 'HERALD_MAX_TARGETS_PER_AUDIENCE', 100_000, 1, 10_000_000),
    // A key's answer is kept 24 h; an incident or update fits easily, and an
    // audience PUT (the large bodies) is idempotent without a key.
    idempotencyMaxBytes: integer(env, 'HERALD_IDEMPOTENCY_MAX_BYTES', 64 * 1024, 1024, 16 * 1024 * 1024),
    logLevel: value(env, 'LOG_LEVEL') ?? 'info',
    rateLimitPublicPerMinute: integer(env, 'HERALD_RATE_LIMIT_PUBLIC', 120, 0, 1_000_000),
    rateLimitApiPerMinute: integer(env, 'HERALD_RATE_LIMIT_API', 1200, 0, 1_000_000),
    trustedProxies: Object.freeze(addressRanges(env, 'HERALD_TRUSTED_PROXIES')),
    // 10 tries from 1 s: about 8.5 minutes of trouble before a job is given up.
    jobRetry: Object.freeze({
      maxAttempts: integer(env, 'HERALD_JOB_MAX_ATTEMPTS', 10, 1, 100),
      baseDelayMs: integer(env, 'HERALD_JOB_BASE_DELAY_MS', 1000, 1, 3_600_000),
    }),
    retentionSeconds: integer(env, 'HERALD_RETENTION_SECONDS', 30 * 86_400, 0, 100 * 365 * 86_400),
  };
  return Object.freeze(config);
}
