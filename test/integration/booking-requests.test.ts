import request from 'supertest';
import { afterAll, describe, expect, it } from 'vitest';
import type { Express } from 'express';
import type { Db } from '../../db/index.js';
import { AGGREGATORS, type Aggregator } from '../../domain/model.js';
import { bearer } from '../support/api-fixtures.js';
import { eventually, useApiHarness } from '../support/harness.js';
import { startBookingWorld, type BookingWorld } from '../support/booking-world.js';

// Aggregator booking requests end to end: each sandbox sends signed webhooks over HTTP to the service listening on a
// real port; a real Temporal server runs the booking workflows; the ledger is a real PostgreSQL.

let app: Express;
let db: Db;
const worlds: BookingWorld[] = [];
useApiHarness((h) => ({ app, db } = h));
afterAll(async () => {
  await Promise.all(worlds.map((w) => w.close()));
});

async function world() {
  const w = await startBookingWorld(app, db);
  worlds.push(w);
  return w;
}

const ledgerBooking = (aggregator: Aggregator, bookingNumber: string) =>
  db.selectFrom('bookings').selectAll().where('source', '=', aggregator).where('aggregator_booking_number', '=', bookingNumber).executeTakeFirst();

describe('booking requests', () => {
  it('reserves a spot for a request from each of the five aggregators and tells each RESERVED', async () => {
    const w = await world();
    const { sessionIds } = await w.offer({ maxParticipants: 10 });
    const sessionId = sessionIds[0] as string;
    for (const aggregator of AGGREGATORS) {
      const external = await w.externalSessionId(aggregator, sessionId);
      const { bookingNumber } = await w.world.requestBooking(aggregator, {
        sessionId: external,
        member: { id: `m-${aggregator}`, name: 'Kim Doe', email: 'kim@example.com' },
      });
      const held = await eventually(async () => {
        const b = await w.world.booking(aggregator, bookingNumber);
        return b?.status === 'reserved' ? b : undefined;
      }, 15_000, `${aggregator} to hold the booking reserved`);
      expect(held.status).toBe('reserved');
      const booking = await eventually(async () => {
        const b = await ledgerBooking(aggregator, bookingNumber);
        return b?.status === 'reserved' ? b : undefined;
      }, 10_000, 'the ledger to hold it reserved');
      expect(booking).toMatchObject({ session_id: sessionId, product: aggregator, paid: true });
      const customer = await db.selectFrom('customer_aggregator_ids').select('customer_id').where('external_id', '=', `m-${aggregator}`).executeTakeFirstOrThrow();
      expect(customer.customer_id).toBe(booking.customer_id);
    }
    const list = await request(app).get(`/v1/sessions/${sessionId}/bookings`).set(bearer(w.key));
    expect(list.status).toBe(200);
    expect(list.body.items).toHaveLength(5);
    // Every aggregator's count follows: each shows its own booking taken, and 10 - 5 others free.
    await eventually(async () => {
      for (const aggregator of AGGREGATORS) {
        const held = await w.world.held(aggregator);
        const s = held.sessions[0];
        if (!s || s.booked !== 1 || s.capacity !== 6) return undefined;
      }
      return true;
    }, 20_000, 'every aggregator to show the counts');

    // A member's personal data erased on request: the profile, its booking and the counts stay; the inbox forgets too.
    const wellhubCustomer = await db.selectFrom('customer_aggregator_ids').select('customer_id').where('external_id', '=', 'm-wellhub').executeTakeFirstOrThrow();
    const inboxText = async () =>
      JSON.stringify(await db.selectFrom('webhook_inbox').select('payload').where('aggregator', '=', 'wellhub').execute());
    expect(await inboxText()).toContain('kim@example.com');
    const erased = await request(app).post(`/v1/customers/${wellhubCustomer.customer_id}/erase`).set(bearer(w.key));
    expect(erased.status).toBe(200);
    expect(erased.body).toMatchObject({ name: null, email: null });
    expect(await inboxText()).not.toContain('kim@example.com');
    expect(await inboxText()).toContain('m-wellhub');
    const after = await request(app).get(`/v1/sessions/${sessionId}/bookings`).set(bearer(w.key));
    expect(after.body.items).toHaveLength(5);
  });
});
