/**
 * Request schemas. Validated by Fastify (Ajv) before a handler runs, and the
 * source of the handlers' types. Unknown fields are refused, not dropped, so
 * a typo is reported instead of silently ignored.
 */
import { Type, type Static } from 'typebox';
import { INCIDENT_KINDS, SEVERITIES, STATUSES } from '../domain/incident.js';

const strict = { additionalProperties: false } as const;

export const AudienceName = Type.String({ pattern: '^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$' });
export const AudienceParams = Type.Object({ name: AudienceName });

/** Slack channel ids (C…, G…) or names (#status); Slack resolves both. */
const SlackChannel = Type.String({ minLength: 1, maxLength: 80, pattern: '^[#A-Za-z0-9_.-]+$' });
const Component = Type.String({ minLength: 1, maxLength: 64 });
const Components = Type.Array(Component, { maxItems: 100, uniqueItems: true });
const Email = Type.String({ format: 'email', maxLength: 254 });

export const AudienceBody = Type.Object(
  {
    slack: Type.Optional(Type.Object({ channels: Type.Array(SlackChannel, { maxItems: 1000, uniqueItems: true }) }, strict)),
    x: Type.Optional(Type.Object({ enabled: Type.Boolean() }, strict)),
    email: Type.Optional(Type.Object({ recipients: Type.Array(Email, { maxItems: 100_000 }) }, strict)),
    webhooks: Type.Optional(
      Type.Array(
        Type.Object(
          {
            url: Type.String({ minLength: 1, maxLength: 2048 }),
            // Standard Webhooks: "whsec_" + base64 of 24–64 random bytes; accept 16 and up.
            secret: Type.String({ pattern: '^whsec_[A-Za-z0-9+/]{22,}={0,2}$', maxLength: 200 }),
          },
          strict,
        ),
        { maxItems: 10_000 },
      ),
    ),
    components: Type.Optional(Components),
  },
  strict,
);
export type AudienceBody = Static<typeof AudienceBody>;

const Commander = Type.Object(
  {
    name: Type.Optional(Type.String({ minLength: 1, maxLength: 120 })),
    email: Type.Optional(Email),
    slackUserId: Type.Optional(Type.String({ pattern: '^[UW][A-Z0-9]{2,}$' })),
  },
  strict,
);

const Message = Type.String({ minLength: 1, maxLength: 10_000 });
const Status = Type.Enum([...STATUSES]);
const Title = Type.String({ minLength: 1, maxLength: 200 });

export function incidentBody(minCadenceSeconds: number) {
  return Type.Object(
    {
      title: Title,
      severity: Type.Enum([...SEVERITIES]),
      status: Type.Optional(Status),
      message: Message,
      components: Type.Optional(Components),
      audiences: Type.Optional(Type.Array(AudienceName, { maxItems: 100, uniqueItems: true })),
      cadenceSeconds: Type.Optional(cadence(minCadenceSeconds)),
      commander: Type.Optional(Commander),
    },
    strict,
  );
}
export type IncidentBody = Static<ReturnType<typeof incidentBody>>;

export function cadence(minCadenceSeconds: number) {
  return Type.Integer({ minimum: minCadenceSeconds, maximum: 7 * 86_400 });
}

export function previewBody(minCadenceSeconds: number) {
  const base = incidentBody(minCadenceSeconds);
  return Type.Object({ ...base.properties, kind: Type.Optional(Type.Enum([...INCIDENT_KINDS])) }, strict);
}
export type PreviewBody = Static<ReturnType<typeof previewBody>>;

export const UpdateBody = Type.Object({ message: Message, status: Type.Optional(Status) }, strict);
export type UpdateBody = Static<typeof UpdateBody>;

export const ResolveBody = Type.Object({ message: Message }, strict);
export type ResolveBody = Static<typeof ResolveBody>;

export function patchBody(minCadenceSeconds: number) {
  return Type.Object(
    {
      title: Type.Optional(Title),
      components: Type.Optional(Components),
      cadenceSeconds: Type.Optional(cadence(minCadenceSeconds)),
    },
    { ...strict, minProperties: 1 },
  );
}
export type PatchBody = Static<ReturnType<typeof patchBody>>;

export const IncidentParams = Type.Object({ id: Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9_-]+$' }) });
export const IncidentListQuery = Type.Object(
  {
    state: Type.Optional(Type.Enum(['open', 'resolved'])),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 500 })),
  },
  strict,
);
export const DeliveryListQuery = Type.Object(
  {
    channel: Type.Optional(Type.Enum(['slack', 'x', 'email', 'webhook'])),
    state: Type.Optional(Type.Enum(['queued', 'sent', 'failed', 'dead'])),
    updateId: Type.Optional(Type.String({ maxLength: 64 })),
  },
  strict,
);

/** Lead times (seconds) before a maintenance starts at which audiences are reminded: up to 30 days, 10 at most. */
const RemindBefore = Type.Array(Type.Integer({ minimum: 1, maximum: 30 * 86_400 }), { maxItems: 10, uniqueItems: true });
const Instant = Type.String({ format: 'date-time' });

export const MaintenanceBody = Type.Object(
  {
    title: Title,
    message: Message,
    components: Type.Optional(Components),
    audiences: Type.Optional(Type.Array(AudienceName, { maxItems: 100, uniqueItems: true })),
    startsAt: Instant,
    endsAt: Instant,
    remindBeforeSeconds: Type.Optional(RemindBefore),
  },
  strict,
);
export type MaintenanceBody = Static<typeof MaintenanceBody>;

export const MaintenancePatch = Type.Object(
  {
    title: Type.Optional(Title),
    message: Type.Optional(Message),
    components: Type.Optional(Components),
    startsAt: Type.Optional(Instant),
    endsAt: Type.Optional(Instant),
    remindBeforeSeconds: Type.Optional(RemindBefore),
  },
  { ...strict, minProperties: 1 },
);
export type MaintenancePatch = Static<typeof MaintenancePatch>;

export const MaintenanceListQuery = Type.Object(
  {
    status: Type.Optional(Type.Enum(['scheduled', 'in_progress', 'completed', 'cancelled'])),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 500 })),
  },
  strict,
);
