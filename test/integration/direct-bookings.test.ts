import request from 'supertest';
import { afterAll, describe, expect, it } from 'vitest';
import type { Express } from 'express';
import type { Db } from '../../db/index.js';
import { apiFixtures, bearer } from '../support/api-fixtures.js';
import { eventually, useApiHarness } from '../support/harness.js';
import { startSandboxWorld, type SandboxWorld } from '../support/sandbox-world.js';

let db: Db;
let app: Express;
const worlds: SandboxWorld[] = [];
const { newCompany, newVenue } = apiFixtures(() => app);

useApiHarness((h) => ({ db, app } = h));

afterAll(async () => {
  await Promise.all(worlds.map((w) => w.close()));
});

const tomorrow = () => new Date(Date.now() + 86_400_000).toISOString().replace(/\.\d+Z$/, '+00:00');

async function sessionWith(key: string, maxParticipants: number, options: { offered?: boolean; venueId?: string } = {}) {
  const venueId = options.venueId ?? (await newVenue(key));
  const activity = await request(app)
    .post('/v1/activities')
    .set(bearer(key))
    .send({ venueId, name: 'Yoga', maxParticipants, registrationRules: { allowAggregatorBookings: options.offered ?? false } });
  const session = await request(app).post(`/v1/activities/${activity.body.id}/sessions`).set(bearer(key)).send({ startsAt: tomorrow(), durationMinutes: 60 });
  expect(session.status).toBe(201);
  return session.body.id as string;
}

async function customers(key: string, n: number) {
  const ids: string[] = [];
  for (let i = 0; i < n; i++) ids.push((await request(app).post('/v1/customers').set(bearer(key)).send({ name: `Member ${i}` })).body.id as string);
  return ids;
}

describe('direct bookings', () => {
  it('never pass capacity when many race for the last spots (invariant 1)', async () => {
    const { key } = await newCompany();
    const sessionId = await sessionWith(key, 3);
    const people = await customers(key, 12);
    const answers = await Promise.all(
      people.map((customerId) => request(app).post(`/v1/sessions/${sessionId}/bookings`).set(bearer(key)).send({ customerId })),
    );
    expect(answers.filter((a) => a.status === 201)).toHaveLength(3);
    expect(answers.filter((a) => a.status === 409).every((a) => a.body.error.message === 'the session is full')).toBe(true);
    expect(answers.filter((a) => a.status === 409)).toHaveLength(9);
    const live = await db.selectFrom('bookings').select('id').where('session_id', '=', sessionId).where('status', '=', 'reserved').execute();
    expect(live).toHaveLength(3);
  });

  it('book a customer once per session, keep the history, and free the spot on cancel', async () => {
    const { key } = await newCompany();
    const sessionId = await sessionWith(key, 1);
    const [ana, ben] = await customers(key, 2);
    const booked = await request(app).post(`/v1/sessions/${sessionId}/bookings`).set(bearer(key)).send({ customerId: ana });
    expect(booked.status).toBe(201);
    expect(booked.body).toMatchObject({ source: 'direct', status: 'reserved', bookingNumber: null, history: [{ from: null, to: 'reserved' }] });
    const twice = await Promise.all([0, 1, 2].map(() => request(app).post(`/v1/sessions/${sessionId}/bookings`).set(bearer(key)).send({ customerId: ana })));
    expect(twice.map((r) => r.status)).toEqual([409, 409, 409]);
    expect((await request(app).post(`/v1/sessions/${sessionId}/bookings`).set(bearer(key)).send({ customerId: ben })).status).toBe(409);

    const cancelled = await request(app).post(`/v1/bookings/${booked.body.id}/cancel`).set(bearer(key)).send({ reason: 'ill' });
    expect(cancelled.status).toBe(200);
    expect(cancelled.body.status).toBe('cancelled_by_customer');
    expect(cancelled.body.history.map((h: { to: string }) => h.to)).toEqual(['reserved', 'cancelled_by_customer']);
    expect((await request(app).post(`/v1/bookings/${booked.body.id}/cancel`).set(bearer(key)).send({})).body.status).toBe('cancelled_by_customer');
    expect((await request(app).post(`/v1/bookings/${booked.body.id}/cancel`).set(bearer(key)).send({ by: 'gym' })).status).toBe(409);
    expect((await request(app).post(`/v1/sessions/${sessionId}/bookings`).set(bearer(key)).send({ customerId: ben })).status).toBe(201);

    const list = await request(app).get(`/v1/sessions/${sessionId}/bookings`).set(bearer(key));
    expect(list.body.items.map((i: { status: string; source: string }) => [i.source, i.status])).toEqual([
      ['direct', 'cancelled_by_customer'],
      ['direct', 'reserved'],
    ]);
  });

  it("refuse the studio's cancel of an aggregator booking with a 409 that says to cancel the session", async () => {
    const { key, id: companyId } = await newCompany();
    const sessionId = await sessionWith(key, 5);
    const [customerId] = await customers(key, 1);
    const booking = await db
      .insertInto('bookings')
      .values({ company_id: companyId, session_id: sessionId, customer_id: customerId!, source: 'wellhub', aggregator_booking_number: '777', status: 'reserved', status_reason: null, product: 'wellhub' })
      .returning('id')
      .executeTakeFirstOrThrow();
    const res = await request(app).post(`/v1/bookings/${booking.id}/cancel`).set(bearer(key)).send({});
    expect(res.status).toBe(409);
    expect(res.body.error.message).toMatch(/cancel the session/);
    expect((await db.selectFrom('bookings').select('status').where('id', '=', booking.id).executeTakeFirstOrThrow()).status).toBe('reserved');
  });

  it("update every aggregator's free spots when a direct booking takes or frees one", async () => {
    const world = await startSandboxWorld();
    worlds.push(world);
    const { key } = await newCompany();
    const venueId = await newVenue(key);
    const sandbox = world.sandboxes.workit;
    await request(app)
      .post(`/v1/venues/${venueId}/connections`)
      .set(bearer(key))
      .send({
        aggregator: 'workit',
        status: 'active',
        apiBaseUrl: sandbox.url,
        externalVenueId: sandbox.connection.externalVenueId,
        credentials: { apiToken: sandbox.connection.apiToken, webhookSecret: sandbox.connection.webhookSecret },
      });
    const sessionId = await sessionWith(key, 2, { offered: true, venueId });
    const capacityAt = async (capacity: number) =>
      eventually(async () => ((await world.held('workit')).sessions[0]?.capacity === capacity ? true : undefined), 20_000, `capacity ${capacity}`);
    await capacityAt(2);
    const [customerId] = await customers(key, 1);
    const booked = await request(app).post(`/v1/sessions/${sessionId}/bookings`).set(bearer(key)).send({ customerId });
    await capacityAt(1);
    await request(app).post(`/v1/bookings/${booked.body.id}/cancel`).set(bearer(key)).send({});
    await capacityAt(2);
  });
});
