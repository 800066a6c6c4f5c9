import { sql, type Transaction } from 'kysely';
import { canTransition, type BookingStatus } from '../domain/model.js';
import type { Database } from './schema.js';
import { recordBookingStatusEvents } from './studio-events.js';

export interface BookingMove {
  bookingId: string;
  from: BookingStatus;
  to: BookingStatus;
  reason: string | null;
  actor: string;
}

/**
 * One booking's move from `from` to `to` and its history line, as two data-modifying CTEs (`moved`, `history`) that a
 * caller may extend with statements of its own, so a step that changes more than the booking still takes one round
 * trip. The history is written only if the booking was in `from` (a data-modifying WITH runs to completion whether or
 * not the final select reads it), so a step run twice moves it once. A move the status rules (domain/model.ts) do not
 * allow is a programming error: it throws.
 */
export function bookingMove(trx: Transaction<Database>, input: BookingMove) {
  if (!canTransition(input.from, input.to)) throw new Error(`a booking cannot go from ${input.from} to ${input.to}`);
  return trx
    .with('moved', (qc) =>
      qc
        .updateTable('bookings')
        .set({ status: input.to, status_reason: input.reason, updated_at: new Date() })
        .where('id', '=', input.bookingId)
        .where('status', '=', input.from)
        .returning(['id', 'session_id']),
    )
    .with('history', (qc) =>
      qc
        .insertInto('booking_status_history')
        .columns(['booking_id', 'from_status', 'to_status', 'reason', 'actor'])
        .expression((eb) =>
          eb
            .selectFrom('moved')
            .select([
              'moved.id',
              sql<BookingStatus>`${input.from}::text`.as('from_status'),
              sql<BookingStatus>`${input.to}::text`.as('to_status'),
              sql<string | null>`${input.reason}::text`.as('reason'),
              sql<string>`${input.actor}::text`.as('actor'),
            ]),
        )
        .returning('booking_id'),
    );
}

/**
 * Moves one booking from `from` to `to` and records the move in its history, if the booking is still `from`, and
 * announces it to the studio backend's event endpoints (in the move's transaction).
 */
export async function moveBooking(trx: Transaction<Database>, input: BookingMove): Promise<{ sessionId: string } | undefined> {
  const moved = await bookingMove(trx, input).selectFrom('moved').select('moved.session_id').executeTakeFirst();
  if (!moved) return undefined;
  // The move's event to the studio backend (booking.reserved, .cancelled, .attended, …), in the move's transaction.
  await recordBookingStatusEvents(trx, [input.bookingId], input.to);
  return { sessionId: moved.session_id };
}
