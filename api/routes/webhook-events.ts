import type { Db } from '../../db/index.js';
import { deadEventsOf, requeueDeadEvent } from '../../db/webhook-inbox.js';
import { companyOf } from '../auth.js';
import { ApiError } from '../errors.js';
import { defineRoute, type AnyRoute } from '../route.js';
import { AggregatorSchema, Uuid, listOf } from '../schemas.js';
import { z } from '../zod.js';

/** The inbox row's id: a positive 64-bit integer, as digits. */
const InboxId = z.string().regex(/^[1-9][0-9]{0,17}$/, 'must be the id of a webhook event (digits)');

const DeadWebhookEvent = z
  .object({
    id: InboxId,
    aggregator: AggregatorSchema,
    connectionId: Uuid,
    eventId: z.string(),
    eventType: z.string(),
    bookingNumber: z.string().nullable(),
    receivedAt: z.iso.datetime({ offset: true }),
    attempts: z.number().int(),
    lastError: z.string().nullable(),
    deadAt: z.iso.datetime({ offset: true }),
  })
  .meta({ id: 'DeadWebhookEvent', description: 'An aggregator event the service could not hand to its booking workflow after repeated attempts' });

const DeadListQuery = z.object({ limit: z.coerce.number().int().min(1).max(200).default(50) }).strict();

/**
 * The inbox's dead letters: events verified and acknowledged to the aggregator, but never handed to their booking
 * workflow after repeated attempts. A studio's ops see them here (and in the logs) and put one back in line once the
 * cause is fixed; nothing is lost meanwhile.
 */
export function webhookEventRoutes(db: Db): AnyRoute[] {
  const present = (row: Awaited<ReturnType<typeof deadEventsOf>>[number]) => ({
    id: String(row.id),
    aggregator: row.aggregator as z.infer<typeof AggregatorSchema>,
    connectionId: row.connection_id as string,
    eventId: row.event_id,
    eventType: row.event_type,
    bookingNumber: row.booking_number,
    receivedAt: row.received_at.toISOString(),
    attempts: row.handover_attempts,
    lastError: row.last_handover_error,
    deadAt: (row.dead_at as Date).toISOString(),
  });
  return [
    defineRoute({
      method: 'get',
      path: '/v1/webhook-events/dead',
      summary: "List the company's aggregator events that could not be handed to their booking workflow (dead letters), newest first",
      tag: 'Bookings',
      auth: 'company',
      query: DeadListQuery,
      response: { status: 200, description: 'Dead webhook events', schema: listOf(DeadWebhookEvent, 'DeadWebhookEventList') },
      handler: async ({ query, auth }) => ({ items: (await deadEventsOf(db, companyOf(auth), query.limit)).map(present) }),
    }),
    defineRoute({
      method: 'post',
      path: '/v1/webhook-events/{eventId}/retry',
      summary: 'Put a dead webhook event back in line for hand-over to its booking workflow, with fresh attempts',
      tag: 'Bookings',
      auth: 'company',
      params: z.object({ eventId: InboxId }),
      response: { status: 202, description: 'Back in line: the dispatcher hands it over within seconds', schema: z.object({ requeued: z.literal(true) }).meta({ id: 'Requeued' }) },
      errors: [404],
      handler: async ({ params, auth }) => {
        if (!(await requeueDeadEvent(db, companyOf(auth), params.eventId))) throw ApiError.notFound('dead webhook event');
        return { requeued: true as const };
      },
    }),
  ];
}
