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

/** The single X account Herald posts as. */
export const X_TARGET_KEY = 'account';

/** Normalises an email address for de-duplication: the domain is case-insensitive. */
export function emailKey(address: string): string {
  const at = address.lastIndexOf('@');
  return at < 0 ? address : address.slice(0, at) + address.slice(at).toLowerCase();
}

/**
 * Every distinct target of the given audiences, in a stable order (audience
 * order, then declaration order), without targets on disabled channels.
 */
export function resolveTargets(
  audiences: readonly Audience[],
  enabled: ReadonlySet<DeliveryTarget['channel']>,
): DeliveryTarget[] {
  const byKey = new Map<string, DeliveryTarget>();
  const add = (target: DeliveryTarget): void => {
    const id = `${target.channel}:${target.key}`;
    const existing = byKey.get(id);
    if (existing === undefined) byKey.set(id, target);
    else if (existing.channel === 'email' && target.channel === 'email') {
      for (const a of target.audiences) if (!existing.audiences.includes(a)) existing.audiences.push(a);
    }
  };
  for (const audience of audiences) {
    if (enabled.has('slack')) {
      for (const c of audience.slack?.channels ?? []) add({ channel: 'slack', key: c, slackChannel: c });
    }
    if (enabled.has('x') && audience.x?.enabled === true) add({ channel: 'x', key: X_TARGET_KEY });
    if (enabled.has('email')) {
      for (const r of audience.email?.recipients ?? []) {
        add({ channel: 'email', key: emailKey(r), address: r, audiences: [audience.name] });
      }
    }
    if (enabled.has('webhook')) {
      for (const w of audience.webhooks ?? []) {
        if (w.disabledAt === undefined) add({ channel: 'webhook', key: w.url, url: w.url, secret: w.secret });
      }
    }
  }
  return [...byKey.values()];
}
