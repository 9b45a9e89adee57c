/**
 * `loadConfig`: the environment read once, validated, frozen. The
 * process-level tests (startup-refused.test.ts) show what `main` does with a
 * refusal; these show what a valid environment becomes.
 */
import { describe, expect, it } from 'vitest';
import { ConfigError, DEFAULT_REDIS_URL, loadConfig } from '../../src/config.js';

const TOKENS = 'ops:write-token-0123:write,viewer:read-token-0123:read';

describe('loadConfig', () => {
  describe('given only HERALD_API_TOKENS', () => {
    const config = loadConfig({ HERALD_API_TOKENS: TOKENS });

    it('takes the documented defaults', () => {
      expect(config).toMatchObject({
        port: 8080,
        host: '127.0.0.1',
        redisUrl: undefined,
        prefix: 'herald',
        publicUrl: 'http://127.0.0.1:8080',
        defaultCadenceSeconds: 1800,
        minCadenceSeconds: 60,
        reminderLeadSeconds: 300,
        templatesDir: undefined,
        slack: undefined,
        x: undefined,
        email: undefined,
        webhookAllowPrivate: false,
        signingSecret: undefined,
      });
      // REDIS_URL unset leaves the choice to resolveRedis, which looks here first.
      expect(DEFAULT_REDIS_URL).toBe('redis://127.0.0.1:6379');
    });

    it('enables only the webhook channel, which needs no credentials', () => {
      expect([...config.enabledChannels].sort()).toEqual(['webhook']);
    });

    it('is frozen, and so is its token list', () => {
      expect(Object.isFrozen(config)).toBe(true);
      expect(Object.isFrozen(config.apiTokens)).toBe(true);
      expect(() => {
        (config as { port: number }).port = 1;
      }).toThrow(TypeError);
      expect(config.port).toBe(8080);
    });
  });

  it('parses name:token:scope entries, trimming blanks and empty entries', () => {
    const config = loadConfig({ HERALD_API_TOKENS: ` ops:write-token-0123:write , ,viewer:read-token-0123:read,` });
    expect(config.apiTokens).toEqual([
      { name: 'ops', token: 'write-token-0123', scope: 'write' },
      { name: 'viewer', token: 'read-token-0123', scope: 'read' },
    ]);
  });

  it.each([
    ['no scope', 'ops:write-token-0123', /entry 1 must look like name:token:scope/],
    ['an unknown scope', 'ops:write-token-0123:admin', /entry 1 \("ops"\) has scope "admin"; expected read or write/],
    ['a short token', 'ops:short:write', /shorter than 8 characters/],
    ['a name used twice', 'ops:write-token-0123:write,ops:other-token-0123:read', /name "ops" appears twice/],
    ['a token used twice', 'ops:write-token-0123:write,viewer:write-token-0123:read', /entry 2 \("viewer"\) reuses another entry's token/],
    ['only commas', ',,', /names no token/],
  ])('refuses HERALD_API_TOKENS with %s, without echoing a token', (_, tokens, message) => {
    let thrown: unknown;
    try {
      loadConfig({ HERALD_API_TOKENS: tokens });
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(ConfigError);
    const error = thrown as ConfigError;
    expect(error.variable).toBe('HERALD_API_TOKENS');
    expect(error.message).toMatch(/^HERALD_API_TOKENS: /);
    expect(error.message).toMatch(message);
    expect(error.message).not.toContain('write-token-0123');
    expect(error.message).not.toContain('other-token-0123');
  });

  it.each([
    [{ HERALD_PREFIX: 'herald prod' }, 'HERALD_PREFIX', /may contain only/],
    [{ HERALD_SIGNING_SECRET: 'too-short' }, 'HERALD_SIGNING_SECRET', /at least 32 characters/],
    [{ HERALD_REMINDER_LEAD_SECONDS: '-5' }, 'HERALD_REMINDER_LEAD_SECONDS', /whole number/],
    [{ HERALD_PUBLIC_URL: 'ftp://status.example.com' }, 'HERALD_PUBLIC_URL', /must use http: or https:/],
    [{ SLACK_API_URL: 'slack.com/api' }, 'SLACK_API_URL', /is not a valid URL/],
    [{ EMAIL_FROM: 'status@example.com' }, 'SMTP_URL', /is required when EMAIL_FROM is set/],
    [{ SMTP_URL: 'smtp://mail.example', EMAIL_FROM: 'not an address' }, 'EMAIL_FROM', /is not an email address/],
    [{ HERALD_SHUTDOWN_GRACE_MS: '1e3' }, 'HERALD_SHUTDOWN_GRACE_MS', /whole number/],
  ])('refuses %o, naming %s', (env, variable, problem) => {
    let thrown: unknown;
    try {
      loadConfig({ HERALD_API_TOKENS: TOKENS, ...env });
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(ConfigError);
    expect((thrown as ConfigError).variable).toBe(variable);
    expect((thrown as ConfigError).message).toMatch(problem);
  });

  it('enables each channel whose credentials are all present', () => {
    const config = loadConfig({
      HERALD_API_TOKENS: TOKENS,
      SLACK_BOT_TOKEN: 'xoxb-slack-token',
      SLACK_API_URL: 'http://127.0.0.1:9/api',
      X_APP_KEY: 'k',
      X_APP_SECRET: 's',
      X_ACCESS_TOKEN: 't',
      X_ACCESS_SECRET: 'a',
      X_API_URL: 'https://127.0.0.1:9/2',
      SMTP_URL: 'smtp://mailer:smtp-pass@127.0.0.1:2525',
      EMAIL_FROM: 'Status <status@example.com>',
    });
    expect([...config.enabledChannels].sort()).toEqual(['email', 'slack', 'webhook', 'x']);
    // Frozen all the way down: a channel's settings cannot be changed after startup either.
    expect([config.slack, config.x, config.email].every((c) => Object.isFrozen(c))).toBe(true);
    // API base URLs get the trailing slash relative paths are resolved against.
    expect(config.slack).toEqual({ token: 'xoxb-slack-token', apiUrl: 'http://127.0.0.1:9/api/' });
    expect(config.x).toEqual({ appKey: 'k', appSecret: 's', accessToken: 't', accessSecret: 'a', apiUrl: 'https://127.0.0.1:9/2/' });
    expect(config.email).toEqual({ smtpUrl: 'smtp://mailer:smtp-pass@127.0.0.1:2525', from: 'Status <status@example.com>' });
  });

  it('reads the numbers, the flags and the URLs it is given', () => {
    const config = loadConfig({
      HERALD_API_TOKENS: TOKENS,
      PORT: '9090',
      HOST: '0.0.0.0',
      REDIS_URL: 'rediss://redis.internal:6380',
      HERALD_PREFIX: '{herald}',
      HERALD_MIN_CADENCE_SECONDS: '1',
      HERALD_DEFAULT_CADENCE_SECONDS: '1',
      HERALD_REMINDER_LEAD_SECONDS: '0',
      HERALD_WEBHOOK_ALLOW_PRIVATE: 'TRUE',
      HERALD_TEMPLATES_DIR: ' /etc/herald/templates ',
    });
    expect(config).toMatchObject({
      port: 9090,
      host: '0.0.0.0',
      redisUrl: 'rediss://redis.internal:6380',
      prefix: '{herald}',
      minCadenceSeconds: 1,
      defaultCadenceSeconds: 1,
      reminderLeadSeconds: 0,
      webhookAllowPrivate: true,
      templatesDir: '/etc/herald/templates',
      // A wildcard bind address is no place to send a reader: links use loopback.
      publicUrl: 'http://127.0.0.1:9090',
    });
  });

  it('accepts PORT=0 (any free port)', () => {
    expect(loadConfig({ HERALD_API_TOKENS: TOKENS, PORT: '0' }).port).toBe(0);
  });

  it('treats a blank variable as unset', () => {
    const config = loadConfig({ HERALD_API_TOKENS: TOKENS, PORT: '  ', REDIS_URL: '', SLACK_BOT_TOKEN: ' ' });
    expect(config.port).toBe(8080);
    expect(config.redisUrl).toBeUndefined();
    expect(config.enabledChannels.has('slack')).toBe(false);
  });

  it('drops a trailing slash from HERALD_PUBLIC_URL', () => {
    expect(loadConfig({ HERALD_API_TOKENS: TOKENS, HERALD_PUBLIC_URL: 'https://status.example.com/' }).publicUrl).toBe(
      'https://status.example.com',
    );
  });

  describe('Redis beyond one server', () => {
    it('is one server unless Sentinels or Cluster nodes are named; an acknowledged write waits for all replicas, if any, at most 1 s', () => {
      const config = loadConfig({ HERALD_API_TOKENS: TOKENS });
      expect(config.redis).toEqual({ kind: 'single' });
      expect(config.replicaWait).toEqual({ replicas: 'all', timeoutMs: 1000 });
      expect(loadConfig({ HERALD_API_TOKENS: TOKENS, HERALD_REDIS_WAIT_REPLICAS: 'ALL' }).replicaWait.replicas).toBe('all');
      expect(loadConfig({ HERALD_API_TOKENS: TOKENS, HERALD_REDIS_WAIT_REPLICAS: '2' }).replicaWait.replicas).toBe(2);
      expect(config.clusterShards).toBe(12);
    });

    it('reads REDIS_SENTINELS (default port 26379, IPv6 in brackets), the master\'s name (default mymaster) and the credentials', () => {
      const config = loadConfig({
        HERALD_API_TOKENS: TOKENS,
        REDIS_SENTINELS: 'sentinel-a:26380, 10.0.0.7 ,[::1]:26381',
        REDIS_USERNAME: 'herald',
        REDIS_PASSWORD: 'hunter2-hunter2',
        REDIS_SENTINEL_PASSWORD: 'sentinel-secret',
      });
      expect(config.redis).toEqual({
        kind: 'sentinel',
        sentinels: [
          { host: 'sentinel-a', port: 26380 },
          { host: '10.0.0.7', port: 26379 },
          { host: '::1', port: 26381 },
        ],
        master: 'mymaster',
        username: 'herald',
        password: 'hunter2-hunter2',
        sentinelPassword: 'sentinel-secret',
      });
      expect(loadConfig({ HERALD_API_TOKENS: TOKENS, REDIS_SENTINELS: 's:1', REDIS_SENTINEL_MASTER: 'herald-main' }).redis).toMatchObject({ master: 'herald-main' });
    });

    it('reads REDIS_CLUSTER_NODES (default port 6379), HERALD_CLUSTER_SHARDS and the replica wait', () => {
      const config = loadConfig({
        HERALD_API_TOKENS: TOKENS,
        REDIS_CLUSTER_NODES: '10.0.0.1:7000,10.0.0.2',
        HERALD_CLUSTER_SHARDS: '24',
        HERALD_REDIS_WAIT_REPLICAS: '0',
        HERALD_REDIS_WAIT_TIMEOUT_MS: '250',
      });
      expect(config.redis).toEqual({
        kind: 'cluster',
        nodes: [
          { host: '10.0.0.1', port: 7000 },
          { host: '10.0.0.2', port: 6379 },
        ],
        username: undefined,
        password: undefined,
      });
      expect(config.clusterShards).toBe(24);
      expect(config.replicaWait).toEqual({ replicas: 0, timeoutMs: 250 });
    });

    it.each([
      ['a node that is not host:port', { REDIS_CLUSTER_NODES: '10.0.0.1:7000,10.0.0.2:port' }, /REDIS_CLUSTER_NODES: "10.0.0.2:port" is not host:port/],
      ['a port out of range', { REDIS_SENTINELS: 'sentinel:70000' }, /REDIS_SENTINELS: "sentinel:70000" is not host:port/],
      ['no node at all', { REDIS_CLUSTER_NODES: ' , ' }, /REDIS_CLUSTER_NODES: names no node/],
      ['both Sentinels and Cluster nodes', { REDIS_CLUSTER_NODES: 'a:1', REDIS_SENTINELS: 'b:2' }, /REDIS_SENTINELS: cannot be set together with REDIS_CLUSTER_NODES/],
      ['credentials for one server', { REDIS_PASSWORD: 'hunter2' }, /REDIS_PASSWORD: is for REDIS_SENTINELS or REDIS_CLUSTER_NODES; a single Redis takes its credentials in REDIS_URL/],
      ['a hash tag in the prefix on a Cluster', { REDIS_CLUSTER_NODES: 'a:1', HERALD_PREFIX: '{herald}' }, /HERALD_PREFIX: "\{herald\}" has a hash tag/],
      ['no shards', { REDIS_CLUSTER_NODES: 'a:1', HERALD_CLUSTER_SHARDS: '0' }, /HERALD_CLUSTER_SHARDS: must be between 1 and 1024/],
      ['a replica count that is neither a number nor all', { HERALD_REDIS_WAIT_REPLICAS: 'most' }, /HERALD_REDIS_WAIT_REPLICAS: expected a whole number or "all", got "most"/],
    ])('refuses %s, naming the variable', (_, env, message) => {
      expect(() => loadConfig({ HERALD_API_TOKENS: TOKENS, ...env })).toThrow(message);
    });

    it('never puts a password in a refusal', () => {
      try {
        loadConfig({ HERALD_API_TOKENS: TOKENS, REDIS_PASSWORD: 'hunter2-secret' });
        expect.unreachable();
      } catch (error) {
        expect(error).toBeInstanceOf(ConfigError);
        expect(String(error)).not.toContain('hunter2');
      }
    });
  });
});
