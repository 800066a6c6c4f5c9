import type { Db } from '../../db/index.js';
import { companyOf } from '../auth.js';
import type { BookingRequestControl } from '../clients/booking-request.js';
import { ApiError, found } from '../errors.js';
import { defineRoute, type AnyRoute } from '../route.js';
import { Uuid, listOf } from '../schemas.js';
import { BookingRequest, BookingRequestListQuery, DeclineBookingBody, presentBookingRequest } from './booking-requests.schemas.js';
import { z } from '../zod.js';
import type { ApprovalInput } from '../../workflows/booking-request/contract.js';

/** Aggregator booking requests: the ones held for the studio's approval, and the approval itself. */
export function bookingRequestRoutes(db: Db, bookings: BookingRequestControl): AnyRoute[] {
  const requestOfBooking = (companyId: string, bookingId: string) =>
    db.selectFrom('booking_requests').selectAll().where('company_id', '=', companyId).where('booking_id', '=', bookingId).executeTakeFirst();

  /** Hands the studio's answer to the request's workflow, which tells the aggregator before its deadline. */
  async function settle(companyId: string, bookingId: string, approval: Omit<ApprovalInput, 'actor'>, actor: string) {
    const request = found(await requestOfBooking(companyId, bookingId), 'booking request');
    if (request.decision !== 'awaiting_approval') {
      throw ApiError.conflict(`the request is not waiting for approval (its decision is ${request.decision})`);
    }
    await bookings.approve({ aggregator: request.aggregator, connectionId: request.connection_id, bookingNumber: request.booking_number }, { ...approval, actor });
    return presentBookingRequest(found(await requestOfBooking(companyId, bookingId), 'booking request'));
  }

  return [
    defineRoute({
      method: 'get',
      path: '/v1/booking-requests',
      summary: 'List aggregator booking requests by decision, oldest first: by default those waiting for the studio to approve them',
      tag: 'Bookings',
      auth: 'company',
      query: BookingRequestListQuery,
      response: { status: 200, description: 'Booking requests', schema: listOf(BookingRequest, 'BookingRequestList') },
      handler: async ({ query, auth }) => {
        let q = db.selectFrom('booking_requests').selectAll().where('company_id', '=', companyOf(auth)).where('decision', '=', query.decision);
        if (query.sessionId !== undefined) q = q.where('session_id', '=', query.sessionId);
        const rows = await q.orderBy('created_at').orderBy('booking_number').limit(query.limit).execute();
        return { items: rows.map(presentBookingRequest) };
      },
    }),
    defineRoute({
      method: 'post',
      path: '/v1/bookings/{bookingId}/approve',
      summary: 'Approve an aggregator booking request held for approval: the aggregator is told RESERVED',
      tag: 'Bookings',
      auth: 'company',
      params: z.object({ bookingId: Uuid }),
      response: { status: 200, description: 'The request with its decision', schema: BookingRequest },
      errors: [404, 409, 503],
      handler: async ({ params, auth }) => settle(companyOf(auth), params.bookingId, { approve: true }, `api:${companyOf(auth)}`),
    }),
    defineRoute({
      method: 'post',
      path: '/v1/bookings/{bookingId}/decline',
      summary: 'Decline an aggregator booking request held for approval: the aggregator is told REJECTED with the reason',
      tag: 'Bookings',
      auth: 'company',
      params: z.object({ bookingId: Uuid }),
      body: DeclineBookingBody,
      response: { status: 200, description: 'The request with its decision', schema: BookingRequest },
      errors: [404, 409, 503],
      handler: async ({ params, body, auth }) =>
        settle(companyOf(auth), params.bookingId, { approve: false, reason: body.reason, message: body.message }, `api:${companyOf(auth)}`),
    }),
  ];
}
