import { randomUUID } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import type { Express } from 'express';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signWebhook } from '../../aggregators/partner/signature.js';
import type { Db } from '../../db/index.js';
import { eventually, useApiHarness } from '../support/harness.js';
import { startBookingWorld, type BookingWorld } from '../support/booking-world.js';

// Onefit reads the decision from the webhook response and gives up waiting after about a second. Whether our response
// reached it is recorded durably by the webhook route (the inbox row) and read by the booking workflow: it must not
// depend on an event listener attached too late, or on a signal that may not reach the workflow.

let app: Express;
let db: Db;
useApiHarness((h) => ({ app, db } = h));

let w: BookingWorld;
beforeAll(async () => {
  w = await startBookingWorld(app, db, { aggregators: ['onefit'] });
});
afterAll(async () => {
  await w?.close();
});

/** Posts a signed Onefit booking request and hangs up after `hangUpAfterMs`, as Onefit does when no answer comes. */
function postAndHangUp(body: Buffer, hangUpAfterMs: number): Promise<void> {
  const headers = { 'content-type': 'application/json', ...signWebhook(w.world.sandboxes.onefit.connection.webhookSecret, body, Date.now() / 1000) };
  return new Promise((resolve) => {
    const req = httpRequest(`${w.baseUrl}/webhooks/onefit`, { method: 'POST', headers });
    req.on('error', () => resolve());
    req.on('response', (res) => {
      res.resume();
      res.on('end', () => resolve());
    });
    setTimeout(() => {
      req.destroy();
      resolve();
    }, hangUpAfterMs).unref();
    req.end(body);
  });
}

/** A signed-to-be Onefit booking request for the session, as Onefit would send it. */
function onefitRequest(o: { bookingId: string; sessionRef: string; activityRef: string; member: string }): Buffer {
  return Buffer.from(
    JSON.stringify({
      id: `evt_${randomUUID()}`,
      created_at: new Date().toISOString(),
      type: 'booking.requested',
      data: {
        venue_id: w.world.sandboxes.onefit.connection.externalVenueId,
        booking_id: o.bookingId,
        session_reference: o.sessionRef,
        activity_reference: o.activityRef,
        member: { id: o.member, name: 'Sam Doe' },
        respond_by: new Date(Date.now() + 1_000).toISOString(),
      },
    }),
  );
}

async function offered() {
  const { activityId, sessionIds } = await w.offer({ maxParticipants: 3 });
  const sessionId = sessionIds[0] as string;
  const sessionRef = await w.externalSessionId('onefit', sessionId);
  const activityRef = await db
    .selectFrom('activity_publications')
    .select('external_id')
    .where('activity_id', '=', activityId)
    .where('connection_id', '=', w.connectionIds.onefit)
    .executeTakeFirstOrThrow();
  return { sessionId, sessionRef, activityRef: activityRef.external_id as string };
}

describe("Onefit's answer in the webhook response", () => {
  it('frees the spot when Onefit hung up before the decision reached it, though the workflow was never signalled and the booking cannot be read back', async () => {
    const { sessionId, sessionRef, activityRef } = await offered();
    // The read-back finds nothing to go by: only what the route recorded can tell the workflow the answer was lost.
    await w.world.fault('onefit', { status: 404, method: 'GET', path: '/bookings/' });

    const bookingId = `bk_${randomUUID()}`;
    const body = onefitRequest({ bookingId, sessionRef, activityRef, member: 'member-gone-early' });

    // The decision waits for the session's row lock, held here until Onefit has hung up; then it reserves the spot
    // and the route writes its answer to a connection that is already closed.
    await db.transaction().execute(async (trx) => {
      await sql`SELECT id FROM sessions WHERE id = ${sessionId} FOR UPDATE`.execute(trx);
      await postAndHangUp(body, 150);
      await new Promise((resolve) => setTimeout(resolve, 100));
    });

    const inbox = await eventually(async () => {
      const row = await db.selectFrom('webhook_inbox').select(['response_delivered']).where('connection_id', '=', w.connectionIds.onefit).where('booking_number', '=', bookingId).executeTakeFirst();
      return row?.response_delivered === null || row === undefined ? undefined : row;
    }, 10_000, 'the route to record whether the answer went out');
    expect(inbox.response_delivered).toBe(false);

    const request = await eventually(async () => {
      const row = await db.selectFrom('booking_requests').selectAll().where('connection_id', '=', w.connectionIds.onefit).where('booking_number', '=', bookingId).executeTakeFirst();
      return row && row.answer !== 'pending' ? row : undefined;
    }, 20_000, 'the request to be settled');
    expect(request).toMatchObject({ decision: 'reject', reason: 'TECHNICAL_ERROR', answer: 'unreachable' });
    const booking = await db.selectFrom('bookings').select('status').where('id', '=', request.booking_id as string).executeTakeFirstOrThrow();
    expect(booking.status).toBe('rejected');
  });

  it('answers copies of one request sent at once with the one decision, and its workflow settles it', async () => {
    const { sessionRef, activityRef } = await offered();
    await w.world.clearFaults('onefit');
    const bookingId = `bk_${randomUUID()}`;
    const body = onefitRequest({ bookingId, sessionRef, activityRef, member: 'member-three-copies' });
    const headers = { 'content-type': 'application/json', ...signWebhook(w.world.sandboxes.onefit.connection.webhookSecret, body, Date.now() / 1000) };
    const answers = await Promise.all(
      [0, 1, 2].map(async () => {
        const res = await fetch(`${w.baseUrl}/webhooks/onefit`, { method: 'POST', headers, body });
        return { status: res.status, body: (await res.json()) };
      }),
    );
    expect(answers.map((a) => a.status)).toEqual([200, 200, 200]);
    expect(answers[1]?.body).toEqual(answers[0]?.body);
    expect(answers[2]?.body).toEqual(answers[0]?.body);
    expect(JSON.stringify(answers[0]?.body)).toMatch(/confirmed/);
    // One booking, and the workflow took the request over: the ledger does not stay pending.
    const request = await eventually(async () => {
      const row = await db.selectFrom('booking_requests').selectAll().where('connection_id', '=', w.connectionIds.onefit).where('booking_number', '=', bookingId).executeTakeFirst();
      return row && row.answer !== 'pending' ? row : undefined;
    }, 20_000, 'the request to be settled by its workflow');
    expect(request.decision).toBe('reserve');
    const bookings = await db.selectFrom('bookings').select('status').where('connection_id', '=', w.connectionIds.onefit).where('aggregator_booking_number', '=', bookingId).execute();
    expect(bookings).toHaveLength(1);
  });
});
