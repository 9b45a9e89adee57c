/**
 * Herald's entry point.
 *
 *   node dist/src/main.js                   API + workers (single-node mode)
 *   node dist/src/main.js --role api        the API only
 *   node dist/src/main.js --role workers    the workers only
 *
 * Exits 1 with one clear line on bad configuration, a broken template or no
 * Redis; exits 0 after a clean shutdown on SIGTERM or SIGINT.
 */
import { parseArgs } from 'node:util';
import { setFlagsFromString } from 'node:v8';
import ipaddr from 'ipaddr.js';
import { destination } from 'pino';
import { sourceNewerThanBuild } from './build-freshness.js';
import { ConfigError, loadConfig, type Config } from './config.js';
import { startHerald, type Role, type RunningHerald } from './herald.js';
import { createLogger } from './logger.js';
import { RedisUnavailableError } from './redis/private-server.js';
import { TemplateError } from './render/templates.js';

/**
 * How far V8 may grow the old generation beyond the live data before the
 * next full collection, in percent. Left to itself it goes up to 300% with a
 * fast-allocating worker: one fanning out to 100,000 targets peaked at about
 * 370 MB of RSS with under 160 MB live. At 100% it peaks at about 250 MB
 * and delivers as fast (README, Performance). The heap reads the setting at
 * every collection, so setting it at startup takes effect; an operator's own
 * `--heap-growing-percent` on the command line wins. Not a command-line flag
 * of the start scripts: Node refuses to start on a V8 flag it does not know,
 * and a later V8 may drop this one.
 */
const HEAP_GROWING_PERCENT = 100;

function tuneHeap(): void {
  if (process.execArgv.some((arg) => /^--heap[-_]growing[-_]percent/.test(arg))) return;
  setFlagsFromString(`--heap-growing-percent=${HEAP_GROWING_PERCENT}`);
}

/** Beyond the delivery grace period, how long closing everything may take. */
const SHUTDOWN_SLACK_MS = 5_000;

/**
 * A signal this soon after the first is the same stop request, not a second
 * one. A terminal's Ctrl-C under `npm start` reaches Herald twice: the
 * terminal signals its whole foreground process group (npm and Herald), and
 * npm forwards the signal to its script too — a few milliseconds apart when
 * idle, more when npm's own event loop is busy on a loaded machine. An
 * operator who means "exit now" presses again after seeing the shutdown line,
 * which takes longer than this.
 */
const SAME_SIGNAL_WINDOW_MS = 1_000;

function fail(message: string): never {
  process.stderr.write(`herald: ${message}\n`);
  process.exit(1);
}

function roles(role: string | undefined): Set<Role> {
  switch (role) {
    case undefined:
    case 'all':
      return new Set<Role>(['api', 'workers']);
    case 'api':
    case 'workers':
      return new Set<Role>([role]);
    default:
      return fail(`--role must be api, workers or all, got "${role}"`);
  }
}

async function main(): Promise<void> {
  tuneHeap();
  let values: { role?: string | undefined };
  try {
    ({ values } = parseArgs({ options: { role: { type: 'string' } } }));
  } catch (error) {
    // A mistyped option is the operator's mistake: one line, not a stack trace.
    return fail(error instanceof Error ? error.message : String(error));
  }
  let config;
  try {
    config = loadConfig();
  } catch (error) {
    if (error instanceof ConfigError) fail(`configuration: ${error.message}`);
    throw error;
  }
  // Synchronous writes: every exit below is a process.exit, which would drop
  // lines still queued in pino's default asynchronous stream ("stopped cleanly" among them).
  const logger = createLogger(config.logLevel, destination({ dest: 1, sync: true }));
  for (const warning of publicUrlWarnings(config)) logger.warn(warning);
  const changed = sourceNewerThanBuild(import.meta.url);
  if (changed !== undefined) {
    logger.warn({ changed }, 'the build in dist/ is older than the sources: this runs the old code; run `npm run build`');
  }
  // Signals are handled from the start: one that arrives while Herald is
  // still starting stops it as soon as it is up (a private Redis included).
  let stopping: { signal: NodeJS.Signals; at: number } | undefined;
  let running: RunningHerald | undefined;
  const stop = (herald: RunningHerald, signal: NodeJS.Signals): void => {
    logger.info({ signal }, 'shutting down: no new requests, finishing in-flight deliveries');
    // In-flight deliveries get their grace period; if closing connections then
    // hangs (Redis gone: a close waits for a reconnect that never comes), the
    // process leaves anyway rather than never.
    setTimeout(() => {
      logger.warn('stopped (some connections did not close in time)');
      process.exit(0);
    }, config.shutdownGraceMs + SHUTDOWN_SLACK_MS).unref();
    herald.stop().then(
      () => {
        logger.info('stopped cleanly');
        process.exit(0);
      },
      (error: unknown) => {
        logger.error({ err: error }, 'error during shutdown');
        process.exit(1);
      },
    );
  };
  const onSignal = (signal: NodeJS.Signals): void => {
    if (stopping !== undefined) {
      const afterMs = Date.now() - stopping.at;
      if (afterMs < SAME_SIGNAL_WINDOW_MS) {
        logger.info({ signal, afterMs }, 'signal repeated at once (a terminal\'s Ctrl-C reaches npm and Herald): already stopping');
        return;
      }
      logger.warn({ signal, afterMs }, 'second signal: exiting now, without waiting for in-flight deliveries');
      process.exit(1);
    }
    stopping = { signal, at: Date.now() };
    if (running !== undefined) stop(running, signal);
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);

  try {
    running = await startHerald({ config, roles: roles(values.role), logger });
  } catch (error) {
    if (error instanceof TemplateError) fail(`template: ${oneLine(error.message)}`);
    if (error instanceof RedisUnavailableError) fail(error.message);
    if (error instanceof ConfigError) fail(`configuration: ${error.message}`);
    if (error instanceof Error && /listen|EADDRINUSE|EACCES/.test(error.message)) fail(`cannot listen: ${error.message}`);
    throw error;
  }
  if (stopping !== undefined) return stop(running, stopping.signal);
  // A workers-only process serves no URL; this line tells its operator (and
  // a supervisor) that startup is over and a signal now stops it cleanly.
  if (running.url === undefined) logger.info('Herald workers running (no HTTP in this role)');
}

/** `localhost`, 127.0.0.0/8, `::1` (a URL's brackets allowed). */
function isLoopback(host: string): boolean {
  const bare = host.replace(/^\[(.*)\]$/, '$1');
  if (bare.toLowerCase() === 'localhost') return true;
  return ipaddr.isValid(bare) && ipaddr.process(bare).range() === 'loopback';
}

/**
 * Startup warnings about the links Herald puts in messages. Each names what
 * would go wrong for partners and the setting that fixes it; the default
 * (HOST and the links on loopback: a developer's machine) warns of nothing.
 */
function publicUrlWarnings(config: Pick<Readonly<Config>, 'host' | 'port' | 'publicUrl'>): string[] {
  const warnings: string[] = [];
  const links = new URL(config.publicUrl);
  // Links to loopback reach no partner; links to the listening address itself are what an unset HERALD_PUBLIC_URL gives.
  const linksPort = links.port === '' ? (links.protocol === 'https:' ? '443' : '80') : links.port;
  const listeningAddress = links.hostname.replace(/^\[(.*)\]$/, '$1') === config.host && linksPort === String(config.port);
  if (!isLoopback(config.host) && (isLoopback(links.hostname) || listeningAddress)) {
    warnings.push(
      `links in messages (incident pages, unsubscribe) will point at ${config.publicUrl}, an address of this machine ` +
        `that partners cannot reach (HOST=${config.host}); set HERALD_PUBLIC_URL to the URL they reach Herald at`,
    );
  }
  if (links.protocol === 'http:' && !isLoopback(links.hostname)) {
    // RFC 8058 §3.1: the List-Unsubscribe URI for one-click unsubscribe MUST be HTTPS.
    warnings.push(
      `HERALD_PUBLIC_URL (${config.publicUrl}) is plain http: mail clients offer one-click unsubscribe (RFC 8058) only for an https link; use https`,
    );
  }
  return warnings;
}

/** Handlebars' parse errors carry a code excerpt over several lines. */
function oneLine(message: string): string {
  return message
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '')
    .join(' | ');
}

main().catch((error: unknown) => {
  fail(error instanceof Error ? (error.stack ?? error.message) : String(error));
});
