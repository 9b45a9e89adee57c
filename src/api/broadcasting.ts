/**
 * What the incident and maintenance routes share: choosing audiences,
 * queueing a stored update's broadcast, and counting what it will reach.
 */
import type { FastifyBaseLogger } from 'fastify';
import { CHANNEL_NAMES, type ChannelName } from '../channels/channel.js';
import { audienceMatches, targetKeysInSteps, type AudienceSummary } from '../domain/audience.js';
import type { IncidentUpdate } from '../domain/incident.js';
import { inTurns, nextTurn } from '../event-loop.js';
import type { AudienceSummaries } from '../store/audience-store.js';
import type { ApiDeps } from './app.js';
import { badRequest } from './errors.js';

/** The named audiences (each must exist), or, when none are named, every audience matching the components. */
export async function chooseAudiences(deps: ApiDeps, named: readonly string[] | undefined, components: readonly string[]): Promise<string[]> {
  const { summaries: audiences } = await deps.audiences.summaries();
  if (named === undefined) {
    return [...audiences]
      .filter(([, a]) => audienceMatches(a, components))
      .map(([name]) => name)
      .sort((a, b) => a.localeCompare(b));
  }
  const unknown = named.filter((n) => !audiences.has(n));
  if (unknown.length > 0) {
    throw badRequest(
      'unknown_audience',
      `body.audiences names audiences that do not exist: ${unknown.join(', ')}`,
      unknown.map((name) => ({ field: `body.audiences[${named.indexOf(name)}]`, message: `no audience "${name}"` })),
    );
  }
  return [...named];
}

/** Queues the broadcast; if that fails, the stored pending mark still gets it out (see the sweeper). */
export async function queueBroadcast(deps: ApiDeps, update: IncidentUpdate, log: FastifyBaseLogger): Promise<void> {
  try {
    await deps.queues.enqueueBroadcast({ incidentId: update.incidentId, updateId: update.id });
  } catch (error) {
    log.warn({ err: error, updateId: update.id }, 'could not queue the broadcast now; the sweeper will');
  }
}

/** Planned counts per audience version and audience list: audiences that share a channel are counted by reading them. */
const plannedCounts = new WeakMap<AudienceSummaries, Map<string, number>>();

/**
 * How many deliveries a broadcast to these audiences plans now: what
 * resolveTargets would find, counted from the audiences' summaries. A
 * target in two audiences is one delivery, so where two or more audiences
 * have targets on the same channel, their keys on it are read and counted
 * once each (an audience and a slice at a time, the event loop turning in
 * between); otherwise each audience's own count is exact.
 */
export async function plannedDeliveries(deps: ApiDeps, audienceNames: readonly string[]): Promise<{ planned: number }> {
  const snapshot = await deps.audiences.summaries();
  let counts = plannedCounts.get(snapshot);
  if (counts === undefined) plannedCounts.set(snapshot, (counts = new Map()));
  const key = audienceNames.join('\n');
  let planned = counts.get(key);
  if (planned === undefined) {
    planned = 0;
    const chosen = audienceNames.flatMap((name) => snapshot.summaries.get(name) ?? []);
    for (const channel of deps.config.enabledChannels) {
      const sharing = audienceNames.filter((name) => (snapshot.summaries.get(name)?.targets[channel] ?? 0) > 0);
      if (sharing.length <= 1 || channel === 'x') {
        planned += channel === 'x' ? Math.min(1, sharing.length) : chosen.reduce((sum, s) => sum + s.targets[channel], 0);
        continue;
      }
      const keys = new Set<string>();
      // One audience in memory at a time: a hundred named audiences of 100,000 addresses would be gigabytes.
      for (const name of sharing) {
        const audience = await deps.audiences.get(name);
        if (audience !== null) await inTurns(targetKeysInSteps(audience, channel, keys));
        await nextTurn();
      }
      planned += keys.size;
    }
    counts.set(key, planned);
  }
  return { planned };
}

/**
 * What a 201 says about a broadcast's reach: the deliveries it plans and,
 * when that is none, why nobody will hear it (contract §3). `warnings` is
 * absent whenever anything is planned.
 */
export interface BroadcastReach {
  deliveries: { planned: number };
  warnings?: string[];
}

/** The settings that enable each channel, for a warning that names what is missing. */
const CHANNEL_SETTINGS: Readonly<Record<ChannelName, string>> = {
  slack: 'SLACK_BOT_TOKEN',
  x: 'X_APP_KEY, X_APP_SECRET, X_ACCESS_TOKEN and X_ACCESS_SECRET',
  email: 'SMTP_URL and EMAIL_FROM',
  webhook: 'nothing',
};

/**
 * The deliveries a broadcast to `audienceNames` plans now and, when none,
 * the warnings that say why. `components` are the incident's (or the
 * maintenance's), to name them when no audience matched; read only then.
 */
export async function broadcastReach(
  deps: ApiDeps,
  audienceNames: readonly string[],
  components: readonly string[] | (() => Promise<readonly string[]>),
): Promise<BroadcastReach> {
  const deliveries = await plannedDeliveries(deps, audienceNames);
  if (deliveries.planned > 0) return { deliveries };
  const { summaries: audiences } = await deps.audiences.summaries();
  const touched = typeof components === 'function' ? await components() : components;
  return { deliveries, warnings: whyNobodyHears(audiences, audienceNames, touched, deps.config.enabledChannels) };
}

const quoted = (names: Iterable<string>): string => [...names].map((n) => `"${n}"`).join(', ');

/** One sentence per reason the broadcast reaches no target. */
function whyNobodyHears(
  audiences: ReadonlyMap<string, Readonly<AudienceSummary>>,
  audienceNames: readonly string[],
  components: readonly string[],
  enabled: ReadonlySet<ChannelName>,
): string[] {
  if (audienceNames.length === 0) {
    if (audiences.size === 0) return ['nobody will hear this: no audience exists yet (create one with PUT /v1/audiences/:name)'];
    const listened = new Set([...audiences.values()].flatMap((a) => a.components ?? []));
    const heard = listened.size === 0 ? 'no audience listens to any component' : `audiences listen only to the components ${quoted([...listened].sort())}`;
    return [
      components.length === 0
        ? `nobody will hear this: no audience matched, since it names no components and ${heard}`
        : `nobody will hear this: no audience matched the components ${quoted(components)}; ${heard}`,
    ];
  }
  const warnings: string[] = [];
  for (const name of audienceNames) {
    const audience = audiences.get(name);
    if (audience === undefined) {
      warnings.push(`nobody in audience "${name}" will hear this: the audience no longer exists`);
      continue;
    }
    const channels = CHANNEL_NAMES.filter((c) => audience.targets[c] > 0);
    if (channels.length === 0) {
      const gone = audience.disabledWebhooks;
      warnings.push(
        gone > 0
          ? `nobody in audience "${name}" will hear this: it has no targets but webhooks disabled after answering 410 Gone (${gone})`
          : `nobody in audience "${name}" will hear this: it has no targets`,
      );
      continue;
    }
    const disabled = channels.filter((c) => !enabled.has(c));
    warnings.push(
      `nobody in audience "${name}" will hear this: its targets are only on disabled channels: ${disabled
        .map((c) => `${c} (${CHANNEL_SETTINGS[c]} not set)`)
        .join(', ')}`,
    );
  }
  return warnings;
}
