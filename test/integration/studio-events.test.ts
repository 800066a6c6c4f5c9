import request from 'supertest';
import type { Express } from 'express';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Db } from '../../db/index.js';
import { STUDIO_EVENT_TYPES } from '../../domain/studio-events.js';
import { bearer } from '../support/api-fixtures.js';
import { startBookingWorld, tomorrowAt, type BookingWorld } from '../support/booking-world.js';
import { startEventReceiver, type EventReceiver, type ReceivedEvent } from '../support/event-receiver.js';
import { ADMIN_KEY, eventually, useApiHarness } from '../support/harness.js';

/**
 * Events to the studio backend, end to end: bookings come from the Wellhub sandbox through the real webhook route and
 * booking workflows, the relay wakes the delivery workflows on the dev server, and a receiver started here verifies
 * every signature with the secret it was shown once and records what it accepted.
 */
const LONG = 60_000;

let app: Express;
let db: Db;
let w: BookingWorld;
let receiver: EventReceiver;
let endpointId: string;
useApiHarness(
  (h) => {
    ({ app, db } = h);
  },
  { eventRelay: true },
);

beforeAll(async () => {
  w = await startBookingWorld(app, db, { aggregators: ['wellhub'] });
  receiver = await startEventReceiver();
  const created = await request(app).post('/v1/event-endpoints').set(bearer(w.key)).send({ url: receiver.url, eventTypes: STUDIO_EVENT_TYPES, description: 'front desk' });
  expect(created.status).toBe(201);
  endpointId = created.body.id as string;
  receiver.secrets.push(created.body.secret as string);
}, LONG);

afterAll(async () => {
  await receiver?.close();
  await w?.close();
});

const eventsOf = (bookingId: string) => receiver.accepted.filter((e) => (e.body.data.booking as { id?: string } | undefined)?.id === bookingId);
const bookingIdOf = async (bookingNumber: string) =>
  eventually(
    async () =>
      (await db.selectFrom('bookings').select('id').where('aggregator_booking_number', '=', bookingNumber).executeTakeFirst())?.id,
    20_000,
    `booking ${bookingNumber}`,
  );
const arrived = (bookingId: string, n: number) =>
  eventually(() => Promise.resolve(eventsOf(bookingId).length >= n ? eventsOf(bookingId) : undefined), 30_000, `${n} events of ${bookingId}`);

function expectEachOnce(events: ReceivedEvent[]) {
  const ids = events.map((e) => e.id);
  expect(new Set(ids).size).toBe(ids.length);
}

describe('event endpoints', () => {
  it('show the secret once, refuse a URL the outbound guard refuses (422, nothing stored) and input outside the document (400)', async () => {
    const listed = await request(app).get('/v1/event-endpoints').set(bearer(w.key));
    expect(listed.status).toBe(200);
    expect(listed.body.items).toHaveLength(1);
    expect(listed.body.items[0]).not.toHaveProperty('secret');
    expect(JSON.stringify(listed.body)).not.toContain('whsec_');
    const one = await request(app).get(`/v1/event-endpoints/${endpointId}`).set(bearer(w.key));
    expect(one.body).toMatchObject({ id: endpointId, url: receiver.url, enabled: true, description: 'front desk', previousSecretUntil: null });
    expect(one.body).not.toHaveProperty('secret');

    const before = await db.selectFrom('event_endpoints').select(db.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
    const metadata = await request(app).post('/v1/event-endpoints').set(bearer(w.key)).send({ url: 'http://169.254.169.254/latest/meta-data', eventTypes: ['booking.reserved'] });
    expect(metadata.status).toBe(422);
    expect(metadata.body.error.details[0]).toMatchObject({ location: 'body', path: 'url' });
    const withCredentials = await request(app).post('/v1/event-endpoints').set(bearer(w.key)).send({ url: 'https://user:pw@example.com/', eventTypes: ['booking.reserved'] });
    expect(withCredentials.status).toBe(422);
    for (const body of [
      { url: receiver.url, eventTypes: [] },
      { url: receiver.url, eventTypes: ['booking.exploded'] },
      { url: 'ftp://example.com/', eventTypes: ['booking.reserved'] },
      { url: receiver.url, eventTypes: ['booking.reserved'], secret: 'whsec_mine' },
    ]) {
      expect((await request(app).post('/v1/event-endpoints').set(bearer(w.key)).send(body)).status, JSON.stringify(body)).toBe(400);
    }
    const patchMetadata = await request(app).patch(`/v1/event-endpoints/${endpointId}`).set(bearer(w.key)).send({ url: 'http://[fd00:ec2::254]/' });
    expect(patchMetadata.status).toBe(422);
    const after = await db.selectFrom('event_endpoints').select(db.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
    expect(after.n).toBe(before.n);
    expect((await request(app).get(`/v1/event-endpoints/${endpointId}`).set(bearer(w.key))).body.url).toBe(receiver.url);
    // The secret is stored sealed, never in the clear.
    const row = await db.selectFrom('event_endpoints').select('secrets_sealed').where('id', '=', endpointId).executeTakeFirstOrThrow();
    expect(row.secrets_sealed).not.toContain(receiver.secrets[0]?.slice(6, 20));
  });

  it("are another company's 404, like an unknown id, and its events are not listed", async () => {
    const other = await request(app).post('/v1/companies').set(bearer(ADMIN_KEY)).send({ name: 'Elsewhere' });
    const key = other.body.apiKey.key as string;
    const theirs = await request(app).post('/v1/event-endpoints').set(bearer(key)).send({ url: receiver.url, eventTypes: ['booking.reserved'] });
    expect(theirs.status).toBe(201);
    const paths = [
      ['get', `/v1/event-endpoints/${endpointId}`],
      ['patch', `/v1/event-endpoints/${endpointId}`],
      ['delete', `/v1/event-endpoints/${endpointId}`],
      ['delete', `/v1/event-endpoints/${endpointId}/previous-secret`],
      ['get', `/v1/event-endpoints/${endpointId}/deliveries`],
      ['post', `/v1/event-endpoints/${endpointId}/events/msg_${'0'.repeat(32)}/replay`],
    ] as const;
    for (const [method, path] of paths) {
      const res = await request(app)[method](path).set(bearer(key)).send(method === 'patch' ? { enabled: false } : undefined);
      expect(res.status, `${method} ${path}`).toBe(404);
    }
    expect((await request(app).get('/v1/event-endpoints').set(bearer(key))).body.items.map((e: { id: string }) => e.id)).toEqual([theirs.body.id]);
    expect((await request(app).get('/v1/events').set(bearer(key))).body.items).toEqual([]);
    expect((await request(app).get(`/v1/event-endpoints/${endpointId}`).set(bearer(w.key))).body.enabled).toBe(true);
  });

  it('rotate a secret: the new one is shown once, both sign until the previous one is removed (then 409)', async () => {
    const extra = await startEventReceiver();
    try {
      const created = await request(app).post('/v1/event-endpoints').set(bearer(w.key)).send({ url: extra.url, eventTypes: ['booking.attended'] });
      const id = created.body.id as string;
      const rotated = await request(app).patch(`/v1/event-endpoints/${id}`).set(bearer(w.key)).send({ rotateSecret: true });
      expect(rotated.status).toBe(200);
      expect(rotated.body.secret).toMatch(/^whsec_/);
      expect(rotated.body.secret).not.toBe(created.body.secret);
      expect(Date.parse(rotated.body.previousSecretUntil as string)).toBeGreaterThan(Date.now() + 23 * 3_600_000);
      expect((await request(app).get(`/v1/event-endpoints/${id}`).set(bearer(w.key))).body).not.toHaveProperty('secret');
      const ended = await request(app).delete(`/v1/event-endpoints/${id}/previous-secret`).set(bearer(w.key));
      expect(ended.status).toBe(200);
      expect(ended.body.previousSecretUntil).toBeNull();
      expect((await request(app).delete(`/v1/event-endpoints/${id}/previous-secret`).set(bearer(w.key))).status).toBe(409);
      expect((await request(app).patch(`/v1/event-endpoints/${id}`).set(bearer(w.key)).send({})).status).toBe(400);
      expect((await request(app).patch(`/v1/event-endpoints/${id}`).set(bearer(w.key)).send({ rotateSecret: false })).status).toBe(400);
      expect((await request(app).delete(`/v1/event-endpoints/${id}`).set(bearer(w.key))).status).toBe(200);
      expect((await request(app).get(`/v1/event-endpoints/${id}`).set(bearer(w.key))).status).toBe(404);
    } finally {
      await extra.close();
    }
  });
});

describe('events from aggregator bookings', () => {
  it('a request reserved then cancelled by the member, and one awaiting approval, arrive in order per booking, each id once, every signature valid', async () => {
    const plain = await w.offer({ maxParticipants: 5, aggregators: ['wellhub'] });
    const held = await w.offer({ maxParticipants: 5, registrationRules: { requiresManualApproval: true }, starts: [tomorrowAt(19)], aggregators: ['wellhub'] });
    const plainExternal = await w.externalSessionId('wellhub', plain.sessionIds[0] as string);
    const heldExternal = await w.externalSessionId('wellhub', held.sessionIds[0] as string);

    const first = await w.world.requestBooking('wellhub', { sessionId: plainExternal, member: { id: 'member-1', name: 'Ana' } });
    const firstId = await bookingIdOf(first.bookingNumber);
    await arrived(firstId, 2);
    await w.world.memberCancel('wellhub', first.bookingNumber);
    const second = await w.world.requestBooking('wellhub', { sessionId: heldExternal, member: { id: 'member-2', name: 'Bo' } });
    const secondId = await bookingIdOf(second.bookingNumber);

    const firstEvents = await arrived(firstId, 3);
    const secondEvents = await arrived(secondId, 2);
    expect(firstEvents.map((e) => e.type)).toEqual(['booking.requested', 'booking.reserved', 'booking.cancelled']);
    expect(firstEvents[2]?.body.data).toMatchObject({ cancelledBy: 'customer', aggregator: 'wellhub', connectionId: w.connectionIds.wellhub, venueId: w.venueId });
    expect(firstEvents.map((e) => (e.body.data.booking as { status: string }).status)).toEqual(['requested', 'reserved', 'cancelled_by_customer']);
    expect(firstEvents.map((e) => e.body.data.historyPosition)).toEqual([1, 2, 3]);
    expect(secondEvents.map((e) => e.type)).toEqual(['booking.requested', 'booking.awaiting_approval']);
    expect(secondEvents[1]?.body.data).toMatchObject({ session: { id: held.sessionIds[0] }, activity: { id: held.activityId, name: 'Spin' } });
    expect(firstEvents[0]?.body.data.booking).toMatchObject({ id: firstId, source: 'wellhub', bookingNumber: first.bookingNumber, history: [{ from: null, to: 'requested' }] });

    // A third member holds a spot in the plain session when the studio cancels it: cancelled by the gym, and the
    // fan-out completes and says so.
    const third = await w.world.requestBooking('wellhub', { sessionId: plainExternal, member: { id: 'member-3', name: 'Cleo' } });
    const thirdId = await bookingIdOf(third.bookingNumber);
    await arrived(thirdId, 2);
    const cancelled = await request(app).post(`/v1/sessions/${plain.sessionIds[0] as string}/cancel`).set(bearer(w.key)).send({ reason: 'instructor ill' });
    expect(cancelled.status).toBe(202);
    const completed = await eventually(() => Promise.resolve(receiver.accepted.find((e) => e.type === 'session.cancellation.completed')), 30_000, 'session.cancellation.completed');
    expect(completed.body.data).toMatchObject({ sessionId: plain.sessionIds[0], reason: 'instructor ill', aggregators: [{ aggregator: 'wellhub', status: 'done' }] });
    expect(completed.body.data).toMatchObject({ bookingsCancelled: 1 });
    const thirdEvents = await arrived(thirdId, 3);
    expect(thirdEvents.map((e) => e.type)).toEqual(['booking.requested', 'booking.reserved', 'booking.cancelled']);
    expect(thirdEvents[2]?.body.data).toMatchObject({ cancelledBy: 'gym', reason: 'instructor ill', session: { status: 'cancelled' } });

    expect(receiver.forged()).toBe(0);
    expectEachOnce(receiver.accepted);
    // What was delivered is what GET /v1/events lists.
    const listed = await request(app).get('/v1/events').query({ type: 'booking.awaiting_approval' }).set(bearer(w.key));
    expect(listed.body.items.map((e: { id: string }) => e.id)).toEqual([secondEvents[1]?.id]);
  }, 120_000);
});

describe('delivery', () => {
  let customerId: string;
  let sessionId: string;
  beforeAll(async () => {
    customerId = (await request(app).post('/v1/customers').set(bearer(w.key)).send({ name: 'Cy' })).body.id as string;
    sessionId = (await w.offer({ maxParticipants: 5, starts: [tomorrowAt(20)], aggregators: ['wellhub'] })).sessionIds[0] as string;
  }, LONG);

  it('a receiver answering 500 gets the event once it recovers, with the same webhook-id; the log shows each attempt, the error cleaned', async () => {
    receiver.mode = 'error';
    const booked = await request(app).post(`/v1/sessions/${sessionId}/bookings`).set(bearer(w.key)).send({ customerId });
    expect(booked.status).toBe(201);
    const bookingId = booked.body.id as string;
    const failed = await eventually(
      async () => {
        const rows = await db.selectFrom('event_delivery_attempts').selectAll().where('endpoint_id', '=', endpointId).where('outcome', '=', 'failed').execute();
        return rows.length >= 3 ? rows : undefined;
      },
      30_000,
      'three failed attempts',
    );
    const eventId = failed[0]?.event_id as string;
    expect(failed.every((r) => r.event_id === eventId && r.status_code === 500)).toBe(true);
    receiver.mode = 'ok';
    const [event] = await arrived(bookingId, 1);
    expect(event?.id).toBe(eventId);
    expect(event?.type).toBe('booking.reserved');
    expect(receiver.requests.filter((r) => r.id === eventId).length).toBeGreaterThanOrEqual(4);

    const log = await request(app).get(`/v1/event-endpoints/${endpointId}/deliveries`).query({ limit: 500 }).set(bearer(w.key));
    expect(log.status).toBe(200);
    const mine = (log.body.items as Array<{ eventId: string; outcome: string; attempt: number; statusCode: number | null; error: string | null; durationMs: number }>)
      .filter((d) => d.eventId === eventId)
      .reverse();
    expect(mine.at(-1)).toMatchObject({ outcome: 'delivered', statusCode: 204, error: null });
    expect(mine.slice(0, -1).every((d) => d.outcome === 'failed' && d.statusCode === 500)).toBe(true);
    expect(mine.map((d) => d.attempt)).toEqual(mine.map((_, i) => i + 1));
    const error = mine[0]?.error as string;
    expect(error.startsWith('HTTP 500')).toBe(true);
    expect(error.length).toBeLessThanOrEqual(200);
    expect(error).not.toMatch(/<|abcdefghijklmnopqrstuvwxyz0123456789/);
    // Pages: one at a time, newest first, each page's cursor leading to the next.
    const page1 = await request(app).get(`/v1/event-endpoints/${endpointId}/deliveries`).query({ limit: 1 }).set(bearer(w.key));
    const page2 = await request(app).get(`/v1/event-endpoints/${endpointId}/deliveries`).query({ limit: 1, after: page1.body.nextAfter }).set(bearer(w.key));
    expect(Number(page2.body.items[0].id)).toBeLessThan(Number(page1.body.items[0].id));
    expect((await request(app).get(`/v1/event-endpoints/${endpointId}/deliveries`).query({ limit: 0 }).set(bearer(w.key))).status).toBe(400);
    expect(receiver.forged()).toBe(0);
    expectEachOnce(receiver.accepted);
  }, 90_000);

  it('a replay delivers the event again with the same webhook-id and a new timestamp', async () => {
    const original = receiver.accepted.find((e) => e.type === 'booking.reserved' && (e.body.data.booking as { source: string }).source === 'direct') as ReceivedEvent;
    expect(original).toBeDefined();
    const replayed = await request(app).post(`/v1/event-endpoints/${endpointId}/events/${original.id}/replay`).set(bearer(w.key));
    expect(replayed.status).toBe(202);
    expect(replayed.body).toEqual({ endpointId, eventId: original.id, status: 'queued' });
    const again = await eventually(() => {
      const copies = receiver.accepted.filter((e) => e.id === original.id);
      return Promise.resolve(copies.length === 2 ? copies[1] : undefined);
    }, 30_000, 'the replay');
    expect(again?.body).toEqual(original.body);
    expect(again?.timestamp).toBeGreaterThanOrEqual(original.timestamp);
    expect((await request(app).post(`/v1/event-endpoints/${endpointId}/events/msg_${'f'.repeat(32)}/replay`).set(bearer(w.key))).status).toBe(404);
    // Another company cannot replay this company's event through an endpoint of its own.
    const other = await request(app).post('/v1/companies').set(bearer(ADMIN_KEY)).send({ name: 'Replayer' });
    const otherKey = other.body.apiKey.key as string;
    const theirs = await request(app).post('/v1/event-endpoints').set(bearer(otherKey)).send({ url: receiver.url, eventTypes: ['booking.reserved'] });
    expect((await request(app).post(`/v1/event-endpoints/${theirs.body.id as string}/events/${original.id}/replay`).set(bearer(otherKey))).status).toBe(404);
    expect((await request(app).get('/v1/events').set(bearer(otherKey))).body.items).toEqual([]);
    expect((await request(app).post(`/v1/event-endpoints/${endpointId}/events/not-an-id/replay`).set(bearer(w.key))).status).toBe(400);
    // A disabled endpoint records nothing new and takes no replay.
    expect((await request(app).patch(`/v1/event-endpoints/${endpointId}`).set(bearer(w.key)).send({ enabled: false })).status).toBe(200);
    expect((await request(app).post(`/v1/event-endpoints/${endpointId}/events/${original.id}/replay`).set(bearer(w.key))).status).toBe(409);
    expect((await request(app).patch(`/v1/event-endpoints/${endpointId}`).set(bearer(w.key)).send({ enabled: true })).status).toBe(200);
  }, 60_000);
});
