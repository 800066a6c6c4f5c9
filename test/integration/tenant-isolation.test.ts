import { randomUUID } from 'node:crypto';
import type { Express } from 'express';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signWellhubBody } from '../../aggregators/wellhub/webhook.js';
import type { Db } from '../../db/index.js';
import { FOREIGN_NUMBER } from '../../db/booking-requests.js';
import { workflowIds } from '../../workflows/ids.js';
import { eventually, useApiHarness, type ApiHarness } from '../support/harness.js';
import { startBookingWorld, type BookingWorld } from '../support/booking-world.js';

// Invariant 7, over real HTTP with a real Temporal and PostgreSQL: two companies, each with its own Wellhub gym and
// its own webhook secret (one it set itself). The attacker signs, with its own secret and for its own gym id, events
// that carry the victim's booking numbers. A booking number is only ever looked up within the connection that
// received it, so nothing of the victim changes.

let app: Express;
let db: Db;
let temporal: ApiHarness['temporal'];
useApiHarness((h) => ({ app, db, temporal } = h));

let victim: BookingWorld;
let attacker: BookingWorld;
beforeAll(async () => {
  victim = await startBookingWorld(app, db, { aggregators: ['wellhub'] });
  attacker = await startBookingWorld(app, db, { aggregators: ['wellhub'] });
});
afterAll(async () => {
  await victim?.close();
  await attacker?.close();
});

type WellhubEventType = 'booking-requested' | 'booking-canceled' | 'booking-late-canceled' | 'checkin-booking-occurred';

/** A Wellhub webhook about `bookingNumber`, signed by the attacker's connection for the attacker's own gym. */
async function forge(type: WellhubEventType, bookingNumber: string, slotId: string) {
  const gymId = attacker.world.sandboxes.wellhub.connection.externalVenueId;
  const body = JSON.stringify({
    event_type: type,
    event_data: {
      user: { unique_token: `forger-${bookingNumber}`, name: 'Eve', email: 'eve@example.com' },
      slot: { id: Number(slotId), gym_id: Number(gymId), booking_number: bookingNumber },
      timestamp: Date.now(),
      event_id: randomUUID(),
    },
  });
  const res = await fetch(`${attacker.baseUrl}/webhooks/wellhub`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-gympass-signature': signWellhubBody(body, attacker.world.sandboxes.wellhub.connection.webhookSecret) },
    body,
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown>, eventId: (JSON.parse(body) as { event_data: { event_id: string } }).event_data.event_id };
}

const victimBooking = (bookingNumber: string) =>
  db
    .selectFrom('bookings')
    .select(['id', 'status', 'company_id', 'connection_id'])
    .where('connection_id', '=', victim.connectionIds.wellhub)
    .where('aggregator_booking_number', '=', bookingNumber)
    .executeTakeFirst();

async function reservedAtVictim(bookingNumber: string) {
  await eventually(async () => ((await victim.world.booking('wellhub', bookingNumber))?.status === 'reserved' ? true : undefined), 20_000, 'Wellhub holds it reserved');
  return eventually(async () => {
    const b = await victimBooking(bookingNumber);
    return b?.status === 'reserved' ? b : undefined;
  }, 20_000, 'the ledger holds it reserved');
}

/** The inbox row the forged event left, once its workflow has processed it. */
const processedInboxRow = (eventId: string) =>
  eventually(async () => {
    const row = await db
      .selectFrom('webhook_inbox')
      .select(['connection_id', 'outcome', 'outcome_detail'])
      .where('event_id', '=', eventId)
      .executeTakeFirst();
    return row?.outcome ? row : undefined;
  }, 20_000, 'the forged event to be processed');

describe("one company's signed events never reach another company's bookings (invariant 7)", () => {
  it("a forged cancellation and a forged check-in carrying the victim's booking number change nothing of it", async () => {
    const { sessionIds } = await victim.offer({ maxParticipants: 3 });
    const slot = await victim.externalSessionId('wellhub', sessionIds[0] as string);
    const { sessionIds: attackerSessions } = await attacker.offer({ maxParticipants: 3 });
    const attackerSlot = await attacker.externalSessionId('wellhub', attackerSessions[0] as string);
    const real = await victim.world.requestBooking('wellhub', { sessionId: slot, member: { id: 'victim-member' }, bookingNumber: `v-${randomUUID()}` });
    const before = await reservedAtVictim(real.bookingNumber);

    for (const type of ['booking-canceled', 'booking-late-canceled', 'checkin-booking-occurred'] as const) {
      const forged = await forge(type, real.bookingNumber, attackerSlot);
      // The same answer any number unknown to the sender's connection gets: it learns nothing of other companies.
      expect(forged.status).toBe(200);
      expect(forged.body).toEqual({ received: true, duplicate: false });
      const row = await processedInboxRow(forged.eventId);
      expect(row).toEqual({ connection_id: attacker.connectionIds.wellhub, outcome: 'waiting_for_request', outcome_detail: FOREIGN_NUMBER });
    }
    expect(await victimBooking(real.bookingNumber)).toEqual(before);
    const history = await db.selectFrom('booking_status_history').select('to_status').where('booking_id', '=', before.id).orderBy('id').execute();
    expect(history.map((h) => h.to_status)).toEqual(['requested', 'reserved']);
    expect((await victim.world.booking('wellhub', real.bookingNumber))?.status).toBe('reserved');

    // The victim's own member still cancels: the number works within the connection that received it.
    await victim.world.memberCancel('wellhub', real.bookingNumber);
    await eventually(async () => ((await victimBooking(real.bookingNumber))?.status === 'cancelled_by_customer' ? true : undefined), 20_000, 'the real cancellation applied');
  });

  it('a forged request sent first for a future number does not make the real request look decided', async () => {
    const { sessionIds } = await victim.offer({ maxParticipants: 3 });
    const slot = await victim.externalSessionId('wellhub', sessionIds[0] as string);
    const { sessionIds: attackerSessions } = await attacker.offer({ maxParticipants: 3 });
    const attackerSlot = await attacker.externalSessionId('wellhub', attackerSessions[0] as string);
    const future = `v-${randomUUID()}`;

    const forged = await forge('booking-requested', future, attackerSlot);
    expect(forged.status).toBe(200);
    // The forger's request is decided in its own connection, on its own session: one booking there, of its company.
    const forgedRow = await eventually(async () => {
      const r = await db.selectFrom('booking_requests').selectAll().where('connection_id', '=', attacker.connectionIds.wellhub).where('booking_number', '=', future).executeTakeFirst();
      return r && r.answer !== 'pending' ? r : undefined;
    }, 20_000, "the forger's request decided");
    expect(forgedRow.company_id).toBe(attacker.companyId);

    const real = await victim.world.requestBooking('wellhub', { sessionId: slot, member: { id: 'future-member' }, bookingNumber: future });
    expect(real.bookingNumber).toBe(future);
    const booking = await reservedAtVictim(future);
    expect(booking).toMatchObject({ company_id: victim.companyId, connection_id: victim.connectionIds.wellhub });
    const requests = await db.selectFrom('booking_requests').select(['connection_id', 'company_id', 'decision']).where('booking_number', '=', future).orderBy('company_id').execute();
    expect(requests).toHaveLength(2);
    expect(requests).toContainEqual({ connection_id: victim.connectionIds.wellhub, company_id: victim.companyId, decision: 'reserve' });
    // Two workflows, one per connection that received the number.
    for (const w of [victim, attacker]) {
      const id = workflowIds.bookingRequest({ aggregator: 'wellhub', connectionId: w.connectionIds.wellhub, bookingNumber: future });
      expect((await temporal.client.workflow.getHandle(id).describe()).workflowId).toBe(id);
    }
  });
});
