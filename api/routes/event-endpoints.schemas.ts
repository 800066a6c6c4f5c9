import type { Selectable } from 'kysely';
import type { EventDeliveryAttemptsTable, EventEndpointsTable, EventsTable } from '../../db/schema.js';
import { STUDIO_EVENT_TYPES } from '../../domain/studio-events.js';
import { iso, timestamp, Uuid, updateBody } from '../schemas.js';
import { text } from '../text.js';
import { z } from '../zod.js';

export const EventTypeSchema = z.enum(STUDIO_EVENT_TYPES).meta({ id: 'EventType' });

const endpointUrl = z
  .url({ protocol: /^https?$/ })
  .max(2000)
  .meta({
    description:
      'Where the events are POSTed. Refused with 422: a URL with credentials (user:password@), or pointing at a ' +
      'link-local or cloud metadata address; in production also a URL that is not https or whose host resolves to a ' +
      'loopback, private or other non-public address, unless the host is listed in AGGREGATOR_HOST_ALLOWLIST.',
  });
const eventTypes = z
  .array(EventTypeSchema)
  .min(1)
  .max(STUDIO_EVENT_TYPES.length * 2)
  .transform((types) => [...new Set(types)])
  .meta({ description: 'The event types this endpoint receives (at least one; repeats are ignored)' });
const description = text({ max: 500 });

export const CreateEventEndpointBody = z
  .object({
    url: endpointUrl,
    eventTypes,
    description: description.optional(),
    enabled: z.boolean().default(true),
  })
  .strict()
  .meta({ id: 'CreateEventEndpoint' });

export const UpdateEventEndpointBody = updateBody(
  {
    url: endpointUrl.optional(),
    eventTypes: eventTypes.optional(),
    description: description.nullable().optional(),
    enabled: z.boolean().optional().meta({ description: 'false: no new events are recorded for it, and those waiting are not sent' }),
    rotateSecret: z
      .literal(true)
      .optional()
      .meta({
        description:
          'A new signing secret, shown once in this answer; the one before it keeps signing beside it (two ' +
          '`v1,` signatures) for 24 hours, or until DELETE /v1/event-endpoints/{endpointId}/previous-secret',
      }),
  },
  'UpdateEventEndpoint',
);

export const EventEndpoint = z
  .object({
    id: Uuid,
    url: z.string(),
    eventTypes: z.array(EventTypeSchema),
    description: z.string().nullable(),
    enabled: z.boolean(),
    secret: z
      .string()
      .optional()
      .meta({ description: 'The signing secret (`whsec_…`): only in the answer that created the endpoint or rotated it' }),
    previousSecretUntil: timestamp.nullable().meta({ description: 'During a rotation: when the previous secret stops signing' }),
    createdAt: timestamp,
    updatedAt: timestamp,
  })
  .meta({ id: 'EventEndpoint' });

export const EventEndpointList = z.object({ items: z.array(EventEndpoint) }).meta({ id: 'EventEndpointList' });

export function presentEventEndpoint(row: Selectable<EventEndpointsTable>, previousSecretUntil: string | null, secret?: string) {
  return {
    id: row.id,
    url: row.url,
    eventTypes: row.event_types as z.input<typeof EventTypeSchema>[],
    description: row.description,
    enabled: row.enabled,
    ...(secret !== undefined ? { secret } : {}),
    previousSecretUntil,
    createdAt: iso(row.created_at),
    updatedAt: iso(row.updated_at),
  };
}

/** A page cursor: the last item's sequence number of the previous page. */
const cursor = z.string().regex(/^[0-9]{1,15}$/).meta({ description: 'The `nextAfter` of the previous page' });
const limit = z.coerce.number().int().min(1).max(500).default(100);

export const DeliveryListQuery = z.object({ after: cursor.optional(), limit }).strict();

export const Delivery = z
  .object({
    id: z.string(),
    eventId: z.string(),
    eventType: z.string(),
    attempt: z.int(),
    outcome: z.enum(['delivered', 'failed', 'gave_up']),
    statusCode: z.int().nullable().meta({ description: "The receiver's HTTP status; null when it gave none" }),
    error: z.string().nullable().meta({ description: 'Why it failed: the status and at most 200 cleaned characters of the answer, or the connection error' }),
    durationMs: z.int().nullable(),
    at: timestamp,
  })
  .meta({ id: 'EventDelivery' });

export const DeliveryList = z
  .object({ items: z.array(Delivery), nextAfter: z.string().nullable().meta({ description: 'Pass as `after` for the next page; null on the last' }) })
  .meta({ id: 'EventDeliveryList' });

export function presentDelivery(row: Selectable<EventDeliveryAttemptsTable>) {
  return {
    id: String(row.id),
    eventId: row.event_id,
    eventType: row.event_type,
    attempt: row.attempt,
    outcome: row.outcome,
    statusCode: row.status_code,
    error: row.error,
    durationMs: row.duration_ms,
    at: iso(row.at),
  };
}

export const EventId = z.string().regex(/^msg_[0-9a-f]{32}$/).meta({ description: 'The event id (its `webhook-id`)' });

export const ReplayAccepted = z
  .object({ endpointId: Uuid, eventId: z.string(), status: z.literal('queued') })
  .meta({ id: 'EventReplay' });

export const EventListQuery = z.object({ type: EventTypeSchema.optional(), after: cursor.optional(), limit }).strict();

export const StudioEvent = z
  .object({
    id: z.string(),
    type: EventTypeSchema,
    orderingKey: z.string().meta({ description: 'Events of one key (`booking:<id>`, `session:<id>`, `connection:<id>`) are delivered in order' }),
    createdAt: timestamp,
    payload: z.record(z.string(), z.unknown()).meta({ description: 'The body delivered: `{ type, timestamp, data }`' }),
  })
  .meta({ id: 'StudioEvent' });

export const StudioEventList = z
  .object({ items: z.array(StudioEvent), nextAfter: z.string().nullable().meta({ description: 'Pass as `after` for the next page; null on the last' }) })
  .meta({ id: 'StudioEventList' });

export function presentEvent(row: Selectable<EventsTable>) {
  return { id: row.id, type: row.type as z.input<typeof EventTypeSchema>, orderingKey: row.ordering_key, createdAt: iso(row.created_at), payload: row.payload };
}
