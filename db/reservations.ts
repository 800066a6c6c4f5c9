import { sql } from 'kysely';
import { directOffer } from '../domain/free-spots.js';
import { SPOT_HOLDING_STATUSES, type BookingStatus } from '../domain/model.js';
import type { Db } from './index.js';
import { recordSessionChange, type OutboxRow } from './lifecycle-outbox.js';
import { moveBooking } from './bookings.js';
import { readSpotWindow, SESSION_PLACES_COLUMNS } from './spot-window.js';
import { recordBookingStatusEvents } from './studio-events.js';

/**
 * Taking and giving back spots in the ledger.
 *
 * Why a reservation can never overbook, however many requests race from every channel: each one first takes the
 * row lock on its session (SELECT ... FOR UPDATE), so reservations of one session run one after another; the spots
 * held are counted after the lock, in the same transaction, so each sees every booking committed before it, and the
 * check and the insert commit together. Two requests can never both see the last spot free. The partial unique index
 * on live (session, customer) bookings backs the "already booked" answer even if a check were skipped.
 *
 * A booking of an offered activity changes what every aggregator may show: the change for its lifecycle is written
 * to the outbox in the same transaction, so it reaches the aggregators even if the signal after the commit fails.
 */

export type DirectRefusal = 'session_not_found' | 'session_cancelled' | 'session_started' | 'already_booked' | 'full';

export async function reserveDirect(
  db: Db,
  input: { companyId: string; sessionId: string; customerId: string; actor: string; now: Date },
): Promise<{ bookingId: string; lifecycleChange: OutboxRow | undefined } | { refused: DirectRefusal }> {
  return db.transaction().execute(async (trx) => {
    const session = await trx
      .selectFrom('sessions')
      .innerJoin('activities', 'activities.id', 'sessions.activity_id')
      .select(SESSION_PLACES_COLUMNS)
      .where('sessions.id', '=', input.sessionId)
      .where('sessions.company_id', '=', input.companyId)
      .forUpdate('sessions')
      .executeTakeFirst();
    if (!session) return { refused: 'session_not_found' as const };
    if (session.status === 'cancelled') return { refused: 'session_cancelled' as const };
    if (session.starts_at.getTime() <= input.now.getTime()) return { refused: 'session_started' as const };
    const [held, window, quotas] = await Promise.all([
      trx
        .selectFrom('bookings')
        .select([
          sql<number>`count(*)`.as('total'),
          sql<number>`count(*) filter (where source <> 'direct')`.as('aggregators'),
          sql<number>`count(*) filter (where customer_id = ${input.customerId})`.as('mine'),
        ])
        .where('session_id', '=', session.id)
        .where('status', 'in', [...SPOT_HOLDING_STATUSES])
        .executeTakeFirstOrThrow(),
      // The spot options by the ledger's clock, under the lock (db/spot-window.ts).
      readSpotWindow(trx, session.id),
      trx.selectFrom('activity_aggregator_quotas').select('quota').where('activity_id', '=', session.activity_id).execute(),
    ]);
    if (Number(held.mine) > 0) return { refused: 'already_booked' as const };
    const free = directOffer({
      maxParticipants: session.max_participants,
      capacityOverride: session.capacity_override,
      aggregatorLimit: session.aggregator_limit,
      aggregatorLimitOverride: session.aggregator_limit_override,
      quotas: quotas.map((q) => q.quota),
      booked: { total: Number(held.total), aggregators: Number(held.aggregators) },
      holdBack: window.holdBack,
    });
    if (free <= 0) return { refused: 'full' as const };
    const booking = await trx
      .insertInto('bookings')
      .values({
        company_id: input.companyId,
        session_id: session.id,
        customer_id: input.customerId,
        source: 'direct',
        aggregator_booking_number: null,
        status: 'reserved',
        status_reason: null,
        product: null,
      })
      .returning('id')
      .executeTakeFirstOrThrow();
    await trx
      .insertInto('booking_status_history')
      .values({ booking_id: booking.id, from_status: null, to_status: 'reserved', reason: null, actor: input.actor })
      .execute();
    await recordBookingStatusEvents(trx, [booking.id], 'reserved');
    return { bookingId: booking.id, lifecycleChange: await recordSessionChange(trx, session.id, 'booking') };
  });
}

/**
 * Moves a booking from one status to another and records it, with the change for its activity's lifecycle in the
 * outbox; moved is false when it was no longer in `from`.
 */
export async function transitionBooking(
  db: Db,
  input: { bookingId: string; from: BookingStatus; to: BookingStatus; reason: string | null; actor: string },
): Promise<{ moved: false } | { moved: true; lifecycleChange: OutboxRow | undefined }> {
  return db.transaction().execute(async (trx) => {
    const moved = await moveBooking(trx, input);
    if (!moved) return { moved: false as const };
    return { moved: true as const, lifecycleChange: await recordSessionChange(trx, moved.sessionId, 'booking') };
  });
}
