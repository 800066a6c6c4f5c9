import { findCustomer, findSession } from '../../db/company-scope.js';
import type { Db } from '../../db/index.js';
import { reserveDirect, transitionBooking, type DirectRefusal } from '../../db/reservations.js';
import { companyOf } from '../auth.js';
import type { LifecycleSignals } from '../lifecycle-relay.js';
import { ApiError, found } from '../errors.js';
import { defineRoute, type AnyRoute } from '../route.js';
import { Uuid } from '../schemas.js';
import { Booking, CancelBookingBody, CreateBookingBody, presentBooking, SignInList } from './bookings.schemas.js';
import { z } from '../zod.js';

const REFUSALS: Record<Exclude<DirectRefusal, 'session_not_found'>, string> = {
  session_cancelled: 'the session has been cancelled',
  session_started: 'the session has started',
  already_booked: 'the customer already holds a booking in this session',
  full: 'the session is full',
};

/** Direct bookings (the studio's own channel) and reading any booking; they take spots through the same ledger lock. */
export function bookingRoutes(db: Db, signals: LifecycleSignals): AnyRoute[] {
  async function present(companyId: string, bookingId: string) {
    const row = found(
      await db.selectFrom('bookings').selectAll().where('id', '=', bookingId).where('company_id', '=', companyId).executeTakeFirst(),
      'booking',
    );
    const history = await db.selectFrom('booking_status_history').selectAll().where('booking_id', '=', row.id).orderBy('id').execute();
    return presentBooking(row, history);
  }

  return [
    defineRoute({
      method: 'post',
      path: '/v1/sessions/{sessionId}/bookings',
      summary: 'Book a customer into a session directly (the studio channel); refused with 409 when the session is full',
      tag: 'Bookings',
      auth: 'company',
      params: z.object({ sessionId: Uuid }),
      body: CreateBookingBody,
      response: { status: 201, description: 'Reserved', schema: Booking },
      errors: [404, 409],
      location: (b) => `/v1/bookings/${b.id}`,
      handler: async ({ params, body, auth }) => {
        const companyId = companyOf(auth);
        found(await findCustomer(db, companyId, body.customerId), 'customer');
        const result = await reserveDirect(db, { companyId, sessionId: params.sessionId, customerId: body.customerId, actor: 'api', now: new Date() });
        if ('refused' in result) {
          if (result.refused === 'session_not_found') throw ApiError.notFound('session');
          throw ApiError.conflict(REFUSALS[result.refused]);
        }
        // Every aggregator's free spots follow: signalled now, and by the outbox's relay if that fails.
        await signals.deliver([result.lifecycleChange]);
        return present(companyId, result.bookingId);
      },
    }),
    defineRoute({
      method: 'get',
      path: '/v1/sessions/{sessionId}/bookings',
      summary: "A session's sign-in list: every booking with its customer, source, product, paid flag and status",
      tag: 'Bookings',
      auth: 'company',
      params: z.object({ sessionId: Uuid }),
      response: { status: 200, description: 'The sign-in list', schema: SignInList },
      errors: [404],
      handler: async ({ params, auth }) => {
        const session = found(await findSession(db, companyOf(auth), params.sessionId), 'session');
        const rows = await db
          .selectFrom('bookings')
          .innerJoin('customers', 'customers.id', 'bookings.customer_id')
          .select(['bookings.id', 'bookings.source', 'bookings.product', 'bookings.paid', 'bookings.status', 'customers.id as customerId', 'customers.name'])
          .where('bookings.session_id', '=', session.id)
          .orderBy('bookings.created_at')
          .execute();
        return {
          sessionId: session.id,
          items: rows.map((r) => ({
            bookingId: r.id,
            customer: { id: r.customerId, name: r.name },
            source: r.source,
            product: r.product,
            paid: r.paid,
            status: r.status,
          })),
        };
      },
    }),
    defineRoute({
      method: 'get',
      path: '/v1/bookings/{bookingId}',
      summary: 'Read a booking with its status history',
      tag: 'Bookings',
      auth: 'company',
      params: z.object({ bookingId: Uuid }),
      response: { status: 200, description: 'The booking', schema: Booking },
      errors: [404],
      handler: async ({ params, auth }) => present(companyOf(auth), params.bookingId),
    }),
    defineRoute({
      method: 'post',
      path: '/v1/bookings/{bookingId}/cancel',
      summary: "Cancel a direct booking; an aggregator's booking is refused (409): cancel its session instead",
      tag: 'Bookings',
      auth: 'company',
      params: z.object({ bookingId: Uuid }),
      body: CancelBookingBody,
      response: { status: 200, description: 'The cancelled booking', schema: Booking },
      errors: [404, 409],
      handler: async ({ params, body, auth }) => {
        const companyId = companyOf(auth);
        const booking = await present(companyId, params.bookingId);
        if (booking.source !== 'direct') {
          throw ApiError.conflict(
            `a ${booking.source} booking cannot be cancelled by the studio one by one: cancel the session, which cancels it at ${booking.source}`,
          );
        }
        const to = body.by === 'gym' ? 'cancelled_by_gym' : 'cancelled_by_customer';
        if (booking.status === to) return booking;
        const moved =
          booking.status === 'reserved'
            ? await transitionBooking(db, { bookingId: booking.id, from: 'reserved', to, reason: body.reason ?? null, actor: 'api' })
            : { moved: false as const };
        if (!moved.moved) throw ApiError.conflict(`the booking is ${booking.status}, not reserved`);
        await signals.deliver([moved.lifecycleChange]);
        return present(companyId, booking.id);
      },
    }),
  ];
}
