import type { Selectable } from 'kysely';
import type { BookingRequestsTable } from '../../db/schema.js';
import { REQUEST_ANSWERS, REQUEST_DECISIONS } from '../../domain/model.js';
import { REJECT_REASONS, type RejectReason } from '../../domain/reasons.js';
import { timestamp, Uuid } from '../schemas.js';
import { text } from '../text.js';
import { z } from '../zod.js';

export const BookingRequest = z
  .object({
    aggregator: z.string(),
    bookingNumber: z.string(),
    bookingId: Uuid.nullable().meta({ description: 'null when the request named no session of ours' }),
    sessionId: Uuid.nullable(),
    customerId: Uuid.nullable(),
    decision: z.enum(REQUEST_DECISIONS),
    reason: z.enum(REJECT_REASONS).nullable(),
    message: z.string().nullable(),
    answer: z.enum(REQUEST_ANSWERS).meta({
      description:
        'What the aggregator was told: pending (not yet), sent (by its API), in_webhook_response (synchronous), refused ' +
        '(it refused our answer), unreachable (its own auto-reject at the deadline applies), not_needed (the member cancelled first)',
    }),
    requestedAt: timestamp,
    deadlineAt: timestamp.meta({ description: 'When the aggregator rejects the request on its own' }),
    answeredAt: timestamp.nullable(),
  })
  .meta({ id: 'BookingRequest' });

export const BookingRequestListQuery = z
  .object({
    decision: z.enum(REQUEST_DECISIONS).default('awaiting_approval'),
    sessionId: Uuid.optional(),
    limit: z.coerce.number().int().min(1).max(200).default(50),
  })
  .strict();

export const DeclineBookingBody = z
  .object({
    reason: z.enum(REJECT_REASONS).default('USAGE_RESTRICTION').meta({ description: 'The category the aggregator is told' }),
    message: text({ max: 500 }).optional(),
  })
  .strict()
  .meta({ id: 'DeclineBooking' });

export function presentBookingRequest(row: Selectable<BookingRequestsTable>) {
  return {
    aggregator: row.aggregator,
    bookingNumber: row.booking_number,
    bookingId: row.booking_id,
    sessionId: row.session_id,
    customerId: row.customer_id,
    decision: row.decision,
    reason: row.reason as RejectReason | null,
    message: row.message,
    answer: row.answer,
    requestedAt: row.requested_at.toISOString(),
    deadlineAt: row.deadline_at.toISOString(),
    answeredAt: row.answered_at?.toISOString() ?? null,
  };
}
