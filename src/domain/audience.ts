/**
 * Audiences: who hears about what. Pure rules only.
 */

export interface WebhookTarget {
  url: string;
  /** `whsec_…` (Standard Webhooks); never echoed back by the API. */
  secret: string;
  /** Set when the receiver answered `410 Gone`; no more deliveries go there. */
  disabledAt?: string;
}

export interface Audience {
  name: string;
  slack?: { channels: string[] };
  x?: { enabled: boolean };
  email?: { recipients: string[] };
  webhooks?: WebhookTarget[];
  /** When present, the audience hears only of incidents touching one of these. */
  components?: string[];
  createdAt: string;
  updatedAt: string;
}

/** Does an audience without explicit selection hear about these components? */
export function audienceMatches(audience: Pick<Audience, 'components'>, components: readonly string[]): boolean {
  if (audience.components === undefined) return true;
  return audience.components.some((c) => components.includes(c));
}

/**
 * One place a delivery goes. `key` identifies the target within its channel
 * so that a target in two audiences still hears each update once.
 */
export type DeliveryTarget =
  | { channel: 'slack'; key: string; slackChannel: string }
  | { channel: 'x'; key: string }
  | { channel: 'email'; key: string; address: string; audiences: string[] }
  | { channel: 'webhook'; key: string; url: string; secret: string };

export type ChannelTarget<C extends DeliveryTarget['channel']> = Extract<DeliveryTarget, { channel: C }>;

/**
 * What a delivery record keeps of its target: everything but a webhook's
 * secret, which stays in its audience alone and is looked up when sending
 * (one copy to rotate or remove, not one per delivery).
 */
export type RecordedTarget = Exclude<DeliveryTarget, { channel: 'webhook' }> | Omit<ChannelTarget<'webhook'>, 'secret'>;

/**
 * The target a lane's key names, for a delivery whose own record can no
 * longer be read: enough to describe it and to pop it off its lane.
 */
export function targetFromKey(channel: DeliveryTarget['channel'], key: string): RecordedTarget {
  switch (channel) {
    case 'slack':
      return { channel, key, slackChannel: key };
    case 'x':
      return { channel, key };
    case 'email':
      return { channel, key, address: key, audiences: [] };
    case 'webhook':
      return { channel, key, url: key };
  }
}

/**
 * Each webhook URL's signing secret in these audiences. A URL in several
 * audiences is one target (its key); the first audience naming it wins, as
 * in {@link resolveTargets}, and an enabled one before a disabled one.
 */
export function webhookSecrets(audiences: Iterable<Pick<Audience, 'webhooks'>>): Map<string, string> {
  const secrets = new Map<string, string>();
  const disabled: WebhookTarget[] = [];
  for (const audience of audiences) {
    for (const w of audience.webhooks ?? []) {
      if (w.disabledAt !== undefined) disabled.push(w);
      else if (!secrets.has(w.url)) secrets.set(w.url, w.secret);
    }
  }
  // A disabled target's retries still sign with its secret; an enabled copy of the URL wins.
  for (const w of disabled) if (!secrets.has(w.url)) secrets.set(w.url, w.secret);
  return secrets;
}

/** The single X account Herald posts as. */
export const X_TARGET_KEY = 'account';

/** Normalises an email address for de-duplication: the domain is case-insensitive. */
export function emailKey(address: string): string {
  const at = address.lastIndexOf('@');
  if (at < 0) return address;
  // Most domains are written in lowercase ASCII already: no new string for each of 100,000 addresses.
  for (let i = at + 1; i < address.length; i++) {
    const c = address.charCodeAt(i);
    if ((c >= 0x41 && c <= 0x5a) || c > 0x7f) return address.slice(0, at) + address.slice(at).toLowerCase();
  }
  return address;
}

/** Items (recipients, channels, webhooks) handled per step by the step-wise functions below. */
export const ITEMS_PER_STEP = 1000;

/**
 * Work done in steps: each `yield` is a point where the caller may let other
 * work run (a 100,000-recipient audience takes longer to resolve than any
 * request may hold the event loop). Driven to the end by {@link finish}.
 */
export type Steps<T> = Generator<void, T, void>;

/** Runs step-wise work to the end at once. */
export function finish<T>(steps: Steps<T>): T {
  for (;;) {
    const step = steps.next();
    if (step.done === true) return step.value;
  }
}

/**
 * Every distinct target of the given audiences, in a stable order (audience
 * order, then declaration order), without targets on disabled channels.
 */
export function resolveTargets(
  audiences: readonly Audience[],
  enabled: ReadonlySet<DeliveryTarget['channel']>,
): DeliveryTarget[] {
  return finish(resolveTargetsInSteps(audiences, enabled));
}

/** {@link resolveTargets}, a step every {@link ITEMS_PER_STEP} items. */
export function* resolveTargetsInSteps(
  audiences: readonly Audience[],
  enabled: ReadonlySet<DeliveryTarget['channel']>,
): Steps<DeliveryTarget[]> {
  const targets: DeliveryTarget[] = [];
  // A map per channel, by the target's own key: no "channel:key" string made per target (100,000 of them in a large fan-out).
  const byKey = new Map<DeliveryTarget['channel'], Map<string, DeliveryTarget>>();
  const add = (target: DeliveryTarget): void => {
    let channel = byKey.get(target.channel);
    if (channel === undefined) byKey.set(target.channel, (channel = new Map()));
    const existing = channel.get(target.key);
    if (existing === undefined) {
      channel.set(target.key, target);
      targets.push(target);
    } else if (existing.channel === 'email' && target.channel === 'email') {
      for (const a of target.audiences) if (!existing.audiences.includes(a)) existing.audiences.push(a);
    }
  };
  let items = 0;
  for (const audience of audiences) {
    if (enabled.has('slack')) {
      for (const c of audience.slack?.channels ?? []) add({ channel: 'slack', key: c, slackChannel: c });
    }
    if (enabled.has('x') && audience.x?.enabled === true) add({ channel: 'x', key: X_TARGET_KEY });
    if (enabled.has('email')) {
      for (const r of audience.email?.recipients ?? []) {
        add({ channel: 'email', key: emailKey(r), address: r, audiences: [audience.name] });
        if (++items % ITEMS_PER_STEP === 0) yield;
      }
    }
    if (enabled.has('webhook')) {
      for (const w of audience.webhooks ?? []) {
        if (w.disabledAt === undefined) add({ channel: 'webhook', key: w.url, url: w.url, secret: w.secret });
        if (++items % ITEMS_PER_STEP === 0) yield;
      }
    }
    yield;
  }
  return targets;
}

/**
 * What the API needs to know of an audience without reading it whole:
 * which components it listens to and how many targets it has. Kept beside
 * the audience and written with it, so that choosing audiences and counting
 * a broadcast's reach never parse 100,000 addresses.
 */
export interface AudienceSummary {
  /** As in {@link Audience.components}. */
  components?: string[];
  /** Distinct targets per channel, as {@link resolveTargets} would find them in this audience alone on every channel. */
  targets: Record<DeliveryTarget['channel'], number>;
  /** Webhooks disabled after answering 410 Gone (not among `targets`). */
  disabledWebhooks: number;
  createdAt: string;
}

/** The keys of an audience's targets on one channel (the keys {@link resolveTargets} de-duplicates by), a step every {@link ITEMS_PER_STEP}. */
export function* targetKeysInSteps(audience: Audience, channel: DeliveryTarget['channel'], into = new Set<string>()): Steps<Set<string>> {
  switch (channel) {
    case 'slack':
      for (const c of audience.slack?.channels ?? []) into.add(c);
      break;
    case 'x':
      if (audience.x?.enabled === true) into.add(X_TARGET_KEY);
      break;
    case 'email': {
      const recipients = audience.email?.recipients ?? [];
      for (let i = 0; i < recipients.length; i++) {
        into.add(emailKey(recipients[i]!));
        if ((i + 1) % ITEMS_PER_STEP === 0) yield;
      }
      break;
    }
    case 'webhook':
      for (const w of audience.webhooks ?? []) if (w.disabledAt === undefined) into.add(w.url);
      break;
  }
  return into;
}

/** An audience's {@link AudienceSummary}, in steps. */
export function* summarizeInSteps(audience: Audience): Steps<AudienceSummary> {
  const count = function* (channel: DeliveryTarget['channel']): Steps<number> {
    return (yield* targetKeysInSteps(audience, channel)).size;
  };
  return {
    ...(audience.components !== undefined && { components: audience.components }),
    targets: { slack: yield* count('slack'), x: yield* count('x'), email: yield* count('email'), webhook: yield* count('webhook') },
    disabledWebhooks: (audience.webhooks ?? []).filter((w) => w.disabledAt !== undefined).length,
    createdAt: audience.createdAt,
  };
}
