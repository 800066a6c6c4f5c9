import request from 'supertest';
import { afterAll, describe, expect, it } from 'vitest';
import type { Express } from 'express';
import type { Db } from '../../db/index.js';
import { AGGREGATORS, type Aggregator } from '../../domain/model.js';
import { bearer } from '../support/api-fixtures.js';
import { eventually, useApiHarness } from '../support/harness.js';
import { startBookingWorld, tomorrowAt, type BookingWorld } from '../support/booking-world.js';

// The cancellation fan-out end to end: the API, a real Temporal server and worker, a real PostgreSQL, and every
// aggregator's sandbox over real HTTP.

let app: Express;
let db: Db;
const worlds: BookingWorld[] = [];
useApiHarness((h) => ({ app, db } = h));
afterAll(async () => {
  await Promise.all(worlds.map((w) => w.close()));
});

async function reservedAt(w: BookingWorld, aggregator: Aggregator, sessionId: string, member: string): Promise<string> {
  const external = await w.externalSessionId(aggregator, sessionId);
  const { bookingNumber } = await w.world.requestBooking(aggregator, { sessionId: external, member: { id: member, name: member } });
  await eventually(async () => ((await w.world.booking(aggregator, bookingNumber))?.status === 'reserved' ? true : undefined), 20_000, `${aggregator} reserved`);
  await eventually(
    async () => {
      const b = await db.selectFrom('bookings').select('status').where('source', '=', aggregator).where('aggregator_booking_number', '=', bookingNumber).executeTakeFirst();
      return b?.status === 'reserved' ? true : undefined;
    },
    10_000,
    'ledger reserved',
  );
  return bookingNumber;
}

interface CancellationBody {
  status: string;
  aggregators: Array<{ aggregator: string; status: string; attempts: number }>;
}

async function done(w: BookingWorld, sessionId: string): Promise<CancellationBody> {
  return eventually(
    async () => {
      const res = await request(app).get(`/v1/sessions/${sessionId}/cancellation`).set(bearer(w.key));
      const body = res.body as CancellationBody;
      return res.status === 200 && body.status === 'done' ? body : undefined;
    },
    30_000,
    'the cancellation to reach every aggregator',
  );
}

describe('session cancellation fan-out', () => {
  it('cancels a session with bookings from every aggregator and direct customers everywhere, once', async () => {
    const w = await startBookingWorld(app, db);
    worlds.push(w);
    const { sessionIds } = await w.offer({ maxParticipants: 10 });
    const sessionId = sessionIds[0] as string;
    const numbers = new Map<Aggregator, string>();
    for (const aggregator of AGGREGATORS) numbers.set(aggregator, await reservedAt(w, aggregator, sessionId, `m-${aggregator}`));
    for (const name of ['Ada', 'Bo']) {
      const customer = await request(app).post('/v1/customers').set(bearer(w.key)).send({ name });
      expect((await request(app).post(`/v1/sessions/${sessionId}/bookings`).set(bearer(w.key)).send({ customerId: customer.body.id })).status).toBe(201);
    }

    const res = await request(app).post(`/v1/sessions/${sessionId}/cancel`).set(bearer(w.key)).send({ reason: 'instructor ill' });
    expect(res.status).toBe(202);
    expect(res.headers.location).toBe(`/v1/sessions/${sessionId}/cancellation`);
    expect(res.body).toMatchObject({ sessionId, reason: 'instructor ill', bookingsCancelled: 7 });
    expect(res.body.aggregators.map((a: { aggregator: string }) => a.aggregator).sort()).toEqual([...AGGREGATORS].sort());

    // Final in the ledger at once: every booking cancelled_by_gym, with the reason in its history.
    const bookings = await db.selectFrom('bookings').select(['id', 'status']).where('session_id', '=', sessionId).execute();
    expect(bookings.map((b) => b.status)).toEqual(Array(7).fill('cancelled_by_gym'));
    const history = await db.selectFrom('booking_status_history').select(['to_status', 'reason']).where('booking_id', 'in', bookings.map((b) => b.id)).where('to_status', '=', 'cancelled_by_gym').execute();
    expect(history).toHaveLength(7);
    expect(new Set(history.map((h) => h.reason))).toEqual(new Set(['instructor ill']));

    const final = await done(w, sessionId);
    // Done at every aggregator. How many attempts that took is not the promise (under load an attempt can time out after
    // the aggregator applied it; the retry then finds it cancelled): what each aggregator holds, checked next, is.
    expect(final.aggregators.map((a) => a.status)).toEqual(Array(AGGREGATORS.length).fill('done'));
    expect(final.aggregators.every((a) => a.attempts >= 1)).toBe(true);
    // Every aggregator has it: the member's booking cancelled by the gym, the session gone from its schedule.
    for (const aggregator of AGGREGATORS) {
      expect((await w.world.booking(aggregator, numbers.get(aggregator) as string))?.status, aggregator).toBe('cancelled_by_gym');
      expect((await w.world.held(aggregator)).sessions, aggregator).toEqual([]);
    }

    // A second cancel is a no-op returning the same cancellation.
    const again = await request(app).post(`/v1/sessions/${sessionId}/cancel`).set(bearer(w.key)).send({ reason: 'another reason' });
    expect(again.status).toBe(202);
    expect(again.body).toMatchObject({ reason: 'instructor ill', requestedAt: res.body.requestedAt, status: 'done' });

    // A cancelled session can no longer be edited or booked, directly or through an aggregator.
    expect((await request(app).patch(`/v1/sessions/${sessionId}`).set(bearer(w.key)).send({ room: 'Studio B' })).status).toBe(409);
    const late = await request(app).post('/v1/customers').set(bearer(w.key)).send({ name: 'Late' });
    expect((await request(app).post(`/v1/sessions/${sessionId}/bookings`).set(bearer(w.key)).send({ customerId: late.body.id })).status).toBe(409);
  });

  it("cancels an activity's future sessions at once, and a second call returns the same cancellations", async () => {
    const w = await startBookingWorld(app, db, { aggregators: ['wellhub', 'egym_wellpass'] });
    worlds.push(w);
    const { activityId, sessionIds } = await w.offer({ maxParticipants: 5, starts: [tomorrowAt(9), tomorrowAt(11), tomorrowAt(9, 3)] });
    const res = await request(app).post(`/v1/activities/${activityId}/cancel-sessions`).set(bearer(w.key)).send({ reason: 'studio closed' });
    expect(res.status).toBe(202);
    expect(res.headers.location).toBe(`/v1/activities/${activityId}/cancellations`);
    expect(res.body.cancellations.map((c: { sessionId: string }) => c.sessionId).sort()).toEqual([...sessionIds].sort());
    for (const sessionId of sessionIds) await done(w, sessionId);
    for (const aggregator of ['wellhub', 'egym_wellpass'] as const) expect((await w.world.held(aggregator)).sessions, aggregator).toEqual([]);
    const again = await request(app).post(`/v1/activities/${activityId}/cancel-sessions`).set(bearer(w.key)).send({ reason: 'x' });
    expect(again.body.cancellations).toHaveLength(3);
    expect(again.body.cancellations.every((c: { reason: string; status: string }) => c.reason === 'studio closed' && c.status === 'done')).toBe(true);
    const list = await request(app).get(`/v1/activities/${activityId}/cancellations`).set(bearer(w.key));
    expect(list.body.cancellations).toHaveLength(3);
  });
});
