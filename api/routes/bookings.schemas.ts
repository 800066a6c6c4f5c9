import type { Selectable } from 'kysely';
import type { BookingStatusHistoryTable, BookingsTable } from '../../db/schema.js';
import { BOOKING_STATUSES } from '../../domain/model.js';
import { iso, timestamp, Uuid } from '../schemas.js';
import { text } from '../text.js';
import { z } from '../zod.js';

export const CreateBookingBody = z.object({ customerId: Uuid }).strict().meta({ id: 'CreateBooking' });

export const CancelBookingBody = z
  .object({
    by: z.enum(['customer', 'gym']).default('customer').meta({ description: 'Who cancels: the customer (through the studio) or the studio' }),
    reason: text({ max: 500 }).optional(),
  })
  .strict()
  .meta({ id: 'CancelBooking' });

export const Booking = z
  .object({
    id: Uuid,
    sessionId: Uuid,
    customerId: Uuid,
    source: z.string().meta({ description: '`direct`, or the aggregator' }),
    bookingNumber: z.string().nullable().meta({ description: "The aggregator's booking number" }),
    status: z.enum(BOOKING_STATUSES),
    statusReason: z.string().nullable(),
    product: z.string().nullable(),
    paid: z.boolean(),
    history: z.array(
      z.object({ from: z.enum(BOOKING_STATUSES).nullable(), to: z.enum(BOOKING_STATUSES), reason: z.string().nullable(), actor: z.string(), at: timestamp }),
    ),
    createdAt: timestamp,
    updatedAt: timestamp,
  })
  .meta({ id: 'Booking' });

export const SignInList = z
  .object({
    sessionId: Uuid,
    items: z.array(
      z.object({
        bookingId: Uuid,
        customer: z.object({ id: Uuid, name: z.string().nullable() }),
        source: z.string(),
        product: z.string().nullable(),
        paid: z.boolean(),
        status: z.enum(BOOKING_STATUSES),
      }),
    ),
  })
  .meta({ id: 'SignInList' });

export function presentBooking(row: Selectable<BookingsTable>, history: Selectable<BookingStatusHistoryTable>[]) {
  return {
    id: row.id,
    sessionId: row.session_id,
    customerId: row.customer_id,
    source: row.source,
    bookingNumber: row.aggregator_booking_number,
    status: row.status,
    statusReason: row.status_reason,
    product: row.product,
    paid: row.paid,
    history: history.map((h) => ({ from: h.from_status, to: h.to_status, reason: h.reason, actor: h.actor, at: iso(h.at) })),
    createdAt: iso(row.created_at),
    updatedAt: iso(row.updated_at),
  };
}
