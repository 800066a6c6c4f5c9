import express from 'express';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { formatInOffset } from '../../domain/time.js';
import { createSandboxClock, listen } from '../../aggregators/sandbox-kit/index.js';
import type { ConnectionContext } from '../../aggregators/types.js';
import { createWellhubAdapter, parseWellhubWebhook, verifyWellhubSignature, type WellhubAdapter } from '../../aggregators/wellhub/index.js';
import { NOW } from '../support/wellhub.js';
import { startWellhubSandbox, type RunningWellhubSandbox } from '../../aggregators/wellhub/sandbox/index.js';

/**
 * The sandbox playing Wellhub's side: members' booking requests, cancellations and check-ins sent as signed
 * webhooks with Wellhub's resend policy, the 15-minute auto-reject on a clock tests advance, and the inspection API.
 */

const MINUTE = 60_000;
const SECRET = 'gym-5-secret';

interface Received {
  at: number;
  signature: string | undefined;
  raw: Buffer;
}

/** A stand-in for our webhook endpoint that answers with a chosen status after a chosen delay. */
async function startReceiver() {
  const received: Received[] = [];
  const behaviour = { delayMs: 0, status: 200 };
  const app = express();
  app.post('/webhooks/wellhub', express.raw({ type: '*/*' }), async (req, res) => {
    received.push({ at: Date.now(), signature: req.get('x-gympass-signature'), raw: req.body as Buffer });
    if (behaviour.delayMs > 0) await sleep(behaviour.delayMs);
    res.status(behaviour.status).end();
  });
  const server = await listen(app);
  return { server, url: `${server.url}/webhooks/wellhub`, received, behaviour };
}

let sandbox: RunningWellhubSandbox;
let adapter: WellhubAdapter;
let ctx: ConnectionContext;
let receiver: Awaited<ReturnType<typeof startReceiver>>;
let slot: { classId: string; slotId: string };

beforeAll(async () => {
  receiver = await startReceiver();
  const clock = createSandboxClock({ start: NOW, frozen: true });
  sandbox = await startWellhubSandbox({
    clock,
    gyms: [{ id: 5, token: 'gym-5-token', webhookSecret: SECRET, products: [{ product_id: 3, name: 'Pilates', virtual: false }] }],
    webhookUrl: receiver.url,
  });
  adapter = createWellhubAdapter({ timeoutMs: 2_000, now: () => clock.now() });
  ctx = sandbox.connection(5);
});

beforeEach(async () => {
  receiver.received.length = 0;
  Object.assign(receiver.behaviour, { delayMs: 0, status: 200 });
  const { externalId: classId } = await adapter.pushActivity(ctx, { activityId: 'p', name: 'Pilates', description: '', category: null, bookable: true, visible: true });
  const { externalId: slotId } = await adapter.createSession(ctx, classId, {
    sessionId: 's',
    startsAt: formatInOffset(new Date(NOW + 2 * 86_400_000), '+02:00'),
    durationMinutes: 55,
    room: 'Reformer room',
    instructors: [],
    totalCapacity: 8,
    totalBooked: 0,
    active: true,
  });
  slot = { classId, slotId };
});

afterEach(async () => {
  await sandbox.settle();
  sandbox.reset();
});
afterAll(async () => {
  await sandbox.close();
  await receiver.server.close();
});

const requestBooking = () => sandbox.sendBookingRequest({ gymId: 5, slotId: slot.slotId, user: { unique_token: 'tok-9', name: 'Bo', email: 'bo@example.com' } });

describe('webhooks Wellhub sends', () => {
  it('a booking request arrives signed with the gym secret, upper-case hex, in the documented body', async () => {
    const sent = requestBooking();
    const report = await sent.delivery;
    expect(report).toMatchObject({ acknowledged: true, eventType: 'booking-requested', attempts: [{ attempt: 1, status: 200 }] });
    expect(receiver.received).toHaveLength(1);
    const [hit] = receiver.received;
    expect(hit!.signature).toMatch(/^[0-9A-F]{40}$/);
    expect(verifyWellhubSignature(hit!.raw, hit!.signature, SECRET)).toEqual({ ok: true });
    expect(verifyWellhubSignature(hit!.raw, hit!.signature, 'another-secret').ok).toBe(false);
    expect(JSON.parse(hit!.raw.toString())).toEqual({
      event_type: 'booking-requested',
      event_data: {
        user: { unique_token: 'tok-9', name: 'Bo', email: 'bo@example.com' },
        slot: { id: Number(slot.slotId), gym_id: 5, class_id: Number(slot.classId), booking_number: sent.booking.booking_number },
        timestamp: NOW,
        event_id: sent.event.event_data.event_id,
      },
    });
    expect(parseWellhubWebhook(hit!.raw)).toMatchObject({
      type: 'booking_requested',
      bookingNumber: sent.booking.booking_number,
      externalVenueId: '5',
      sessionExternalId: slot.slotId,
      activityExternalId: slot.classId,
      occurredAt: new Date(NOW),
    });
  });

  it('without a 2xx within 1 s, resends 3 identical copies at once', async () => {
    receiver.behaviour.delayMs = 1_500;
    const report = await requestBooking().delivery;
    expect(receiver.received).toHaveLength(4);
    const [first, ...copies] = receiver.received;
    for (const copy of copies) {
      expect(copy.at - first!.at).toBeGreaterThanOrEqual(950);
      expect(copy.at - first!.at).toBeLessThan(1_400);
      expect(copy.raw.equals(first!.raw)).toBe(true);
      expect(copy.signature).toBe(first!.signature);
    }
    const spread = Math.max(...copies.map((c) => c.at)) - Math.min(...copies.map((c) => c.at));
    expect(spread).toBeLessThan(150);
    // Four deliveries, one event: the receiver's inbox keys on this id.
    expect(new Set(receiver.received.map((r) => parseWellhubWebhook(r.raw).eventId)).size).toBe(1);
    expect(report.acknowledged).toBe(true);
    expect(report.attempts.map((a) => a.attempt).sort()).toEqual([1, 2, 3, 4]);
  });

  it('an error answer counts as no answer: the copies go out straight away', async () => {
    receiver.behaviour.status = 500;
    const report = await requestBooking().delivery;
    expect(receiver.received).toHaveLength(4);
    expect(receiver.received[3]!.at - receiver.received[0]!.at).toBeLessThan(500);
    expect(report).toMatchObject({ acknowledged: false });
    expect(report.attempts.every((a) => a.status === 500)).toBe(true);
  });

  it('a receiver that is down gets the same treatment, and the delivery report says so', async () => {
    sandbox.setWebhookUrl('http://127.0.0.1:9/webhooks/wellhub');
    const report = await requestBooking().delivery;
    expect(report.acknowledged).toBe(false);
    expect(report.attempts).toHaveLength(4);
    expect(report.attempts.every((a) => a.error !== undefined && a.status === undefined)).toBe(true);
    const listed = (await (await fetch(`${sandbox.url}/__sandbox/deliveries`)).json()) as { deliveries: unknown[] };
    expect(listed.deliveries).toHaveLength(1);
  });

  it('member cancellations and check-ins are sent as their events', async () => {
    const first = requestBooking();
    await first.delivery;
    await adapter.confirmBooking(ctx, { bookingNumber: first.booking.booking_number });
    await sandbox.checkIn(first.booking.booking_number).delivery;

    const second = requestBooking();
    await adapter.confirmBooking(ctx, { bookingNumber: second.booking.booking_number });
    await sandbox.cancelBooking(second.booking.booking_number).delivery;

    const third = requestBooking();
    await adapter.confirmBooking(ctx, { bookingNumber: third.booking.booking_number });
    await sandbox.cancelBooking(third.booking.booking_number, { late: true }).delivery;

    await sandbox.settle();
    const events = receiver.received.map((r) => JSON.parse(r.raw.toString()) as { event_type: string; event_data: { slot: { booking_number: string } } });
    expect(events.map((e) => [e.event_type, e.event_data.slot.booking_number])).toEqual([
      ['booking-requested', first.booking.booking_number],
      ['checkin-booking-occurred', first.booking.booking_number],
      ['booking-requested', second.booking.booking_number],
      ['booking-canceled', second.booking.booking_number],
      ['booking-requested', third.booking.booking_number],
      ['booking-late-canceled', third.booking.booking_number],
    ]);
    const parsed = receiver.received.map((r) => parseWellhubWebhook(r.raw));
    expect(parsed.map((e) => (e.type === 'booking_cancelled' ? `${e.type}:${e.late}` : e.type))).toEqual([
      'booking_requested',
      'checked_in',
      'booking_requested',
      'booking_cancelled:false',
      'booking_requested',
      'booking_cancelled:true',
    ]);
    expect(new Set(parsed.map((e) => e.eventId)).size).toBe(6);
    expect(sandbox.booking(first.booking.booking_number)?.state).toBe('CHECKED_IN');
    expect(sandbox.booking(second.booking.booking_number)?.state).toBe('CANCELLED_BY_USER');
    expect(sandbox.booking(third.booking.booking_number)?.state).toBe('LATE_CANCELLED');
  });

  it("the gym's cancellation crossing the member's is accepted and changes nothing", async () => {
    const sent = requestBooking();
    await adapter.confirmBooking(ctx, { bookingNumber: sent.booking.booking_number });
    await sandbox.cancelBooking(sent.booking.booking_number).delivery;
    await expect(adapter.cancelBookingByGym(ctx, { bookingNumber: sent.booking.booking_number })).resolves.toBeUndefined();
    expect(sandbox.booking(sent.booking.booking_number)?.state).toBe('CANCELLED_BY_USER');
  });
});

describe('the 15-minute deadline', () => {
  it('an unanswered request is rejected by Wellhub itself after 15 minutes, and can no longer be reserved', async () => {
    const { booking } = requestBooking();
    expect(booking).toMatchObject({ state: 'PENDING', deadline_at: new Date(NOW + 15 * MINUTE).toISOString() });
    await sandbox.clock.advance(15 * MINUTE - 1);
    expect(sandbox.booking(booking.booking_number)?.state).toBe('PENDING');
    await sandbox.clock.advance(1);
    expect(sandbox.booking(booking.booking_number)).toMatchObject({ state: 'REJECTED', auto_rejected: true });
    expect(sandbox.booking(booking.booking_number)?.history.at(-1)).toMatchObject({ state: 'REJECTED', by: 'wellhub' });

    const late = await adapter.confirmBooking(ctx, { bookingNumber: booking.booking_number }).catch((e: unknown) => e);
    expect(late).toMatchObject({ status: 422, retryable: false });
    expect((late as Error).message).toMatch(/no answer came within 15 minutes/);
    // Our own rejection arriving after Wellhub's agrees with it: accepted, nothing changes.
    await adapter.rejectBooking(ctx, { bookingNumber: booking.booking_number }, 'TECHNICAL_ERROR');
    expect(sandbox.booking(booking.booking_number)).toMatchObject({ state: 'REJECTED', auto_rejected: true });
  });

  it('a RESERVED answer before the deadline prevents the auto-reject', async () => {
    const { booking } = requestBooking();
    await sandbox.clock.advance(14 * MINUTE);
    await adapter.confirmBooking(ctx, { bookingNumber: booking.booking_number });
    await sandbox.clock.advance(60 * MINUTE);
    expect(sandbox.booking(booking.booking_number)).toMatchObject({ state: 'RESERVED', auto_rejected: false });
    expect(sandbox.clock.pendingTimers()).toBe(0);
  });

  it('a REJECTED answer before the deadline is the gym rejection, not an automatic one', async () => {
    const { booking } = requestBooking();
    await sandbox.clock.advance(15 * MINUTE - 1_000);
    await adapter.rejectBooking(ctx, { bookingNumber: booking.booking_number }, 'CLASS_IS_FULL');
    await sandbox.clock.advance(MINUTE);
    expect(sandbox.booking(booking.booking_number)).toMatchObject({ state: 'REJECTED', auto_rejected: false, reason_category: 'CLASS_IS_FULL' });
  });

  it('each request has its own deadline', async () => {
    const early = requestBooking();
    await sandbox.clock.advance(10 * MINUTE);
    const later = requestBooking();
    await sandbox.clock.advance(5 * MINUTE);
    expect(sandbox.booking(early.booking.booking_number)?.state).toBe('REJECTED');
    expect(sandbox.booking(later.booking.booking_number)?.state).toBe('PENDING');
    await sandbox.clock.advance(10 * MINUTE);
    expect(sandbox.booking(later.booking.booking_number)?.state).toBe('REJECTED');
  });

  it('the clock can be advanced over HTTP', async () => {
    const { booking } = requestBooking();
    const response = await fetch(`${sandbox.url}/__sandbox/clock/advance`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ ms: 15 * MINUTE }),
    });
    expect(await response.json()).toEqual({ now: new Date(sandbox.clock.now()).toISOString(), pendingTimers: 0 });
    expect(sandbox.booking(booking.booking_number)?.state).toBe('REJECTED');
    const backwards = await fetch(`${sandbox.url}/__sandbox/clock/advance`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"ms":-1}',
    });
    expect(backwards.status).toBe(400);
  });

  describe('on a clock following real time', () => {
    // These sandboxes run on real time, so the client judges "in the future" on real time too.
    const realTimeAdapter = createWellhubAdapter({ timeoutMs: 2_000 });

    async function pendingRequestOn(live: RunningWellhubSandbox) {
      const cls = { name: 'Y', description: '', bookable: true, visible: true, product_id: 1 };
      const classId = (await realTimeAdapter.client.createClasses(live.connection(), { classes: [cls] })).classes[0]!.id;
      const occur = formatInOffset(new Date(Date.now() + 86_400_000), '+00:00');
      const body = { occur_date: occur, length_in_minutes: 30, total_capacity: 5, total_booked: 0, product_id: 1 };
      const created = await realTimeAdapter.client.createSlot(live.connection(), String(classId), body);
      return live.sendBookingRequest({ gymId: 1, slotId: created.id }).booking.booking_number;
    }

    it('the deadline fires by itself', async () => {
      const live = await startWellhubSandbox({ bookingDeadlineMs: 150, webhookUrl: receiver.url });
      try {
        const bookingNumber = await pendingRequestOn(live);
        expect(live.booking(bookingNumber)?.state).toBe('PENDING');
        await sleep(300);
        expect(live.booking(bookingNumber)).toMatchObject({ state: 'REJECTED', auto_rejected: true });
      } finally {
        await live.settle();
        await live.close();
      }
    });

    it('advance() brings the deadline forward', async () => {
      const live = await startWellhubSandbox({ webhookUrl: receiver.url });
      try {
        const bookingNumber = await pendingRequestOn(live);
        await live.clock.advance(15 * MINUTE);
        expect(live.booking(bookingNumber)).toMatchObject({ state: 'REJECTED', auto_rejected: true });
      } finally {
        await live.settle();
        await live.close();
      }
    });
  });
});

describe('deleting a slot', () => {
  it('cancels its reserved bookings and rejects its pending ones, as the reference says', async () => {
    const reserved = requestBooking();
    await adapter.confirmBooking(ctx, { bookingNumber: reserved.booking.booking_number });
    const pending = requestBooking();
    await adapter.cancelSession(ctx, { activityExternalId: slot.classId, sessionExternalId: slot.slotId });
    expect(sandbox.booking(reserved.booking.booking_number)?.state).toBe('CANCELLED_BY_GYM');
    expect(sandbox.booking(pending.booking.booking_number)).toMatchObject({ state: 'REJECTED', reason_category: 'CLASS_HAS_BEEN_CANCELED' });
    expect(sandbox.clock.pendingTimers()).toBe(0);
  });
});

describe('control and inspection API', () => {
  const post = (path: string, body?: unknown) =>
    fetch(`${sandbox.url}/__sandbox${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body ?? {}) });

  it('POST /__sandbox/bookings sends a booking request; cancel and checkin endpoints send theirs', async () => {
    const created = await post('/bookings', { gym_id: 5, slot_id: Number(slot.slotId), class_id: slot.classId, user: { unique_token: 'm-1' } });
    expect(created.status).toBe(201);
    const { booking, event } = (await created.json()) as { booking: { booking_number: string; state: string }; event: { event_type: string } };
    expect(booking.state).toBe('PENDING');
    expect(event.event_type).toBe('booking-requested');
    await adapter.confirmBooking(ctx, { bookingNumber: booking.booking_number });
    expect((await post(`/bookings/${booking.booking_number}/checkin`)).status).toBe(200);
    expect((await post(`/bookings/${booking.booking_number}/cancel`, { late: true })).status).toBe(409);
    const shown = (await (await fetch(`${sandbox.url}/__sandbox/bookings/${booking.booking_number}`)).json()) as { state: string };
    expect(shown.state).toBe('CHECKED_IN');
    await sandbox.settle();
    expect(receiver.received.map((r) => (JSON.parse(r.raw.toString()) as { event_type: string }).event_type)).toEqual([
      'booking-requested',
      'checkin-booking-occurred',
    ]);
  });

  it('refuses impossible control requests with a clear status', async () => {
    expect((await post('/bookings', { gym_id: 5, slot_id: 999 })).status).toBe(404);
    expect((await post('/bookings', { gym_id: 77, slot_id: Number(slot.slotId) })).status).toBe(404);
    expect((await post('/bookings', { gym_id: 5, slot_id: Number(slot.slotId), class_id: 999 })).status).toBe(400);
    expect((await post('/bookings', { slot_id: 1 })).status).toBe(400);
    expect((await post('/bookings/000/cancel')).status).toBe(404);
    const pending = requestBooking();
    expect((await post(`/bookings/${pending.booking.booking_number}/checkin`)).status).toBe(409);
    expect((await post('/bookings', { gym_id: 5, slot_id: Number(slot.slotId), booking_number: pending.booking.booking_number })).status).toBe(409);
    const cleared = await fetch(`${sandbox.url}/__sandbox/webhook`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: '{"url":null}' });
    expect(await cleared.json()).toEqual({ url: null });
    const noUrl = await post('/bookings', { gym_id: 5, slot_id: Number(slot.slotId) });
    expect(noUrl.status).toBe(409);
    expect(((await noUrl.json()) as { message: string }).message).toMatch(/no webhook URL/);
  });

  it('GET /__sandbox/calls lists what was received, Authorization redacted, filterable', async () => {
    await adapter.patchSessionCounts(ctx, { activityExternalId: slot.classId, sessionExternalId: slot.slotId }, { totalBooked: 3 });
    const all = (await (await fetch(`${sandbox.url}/__sandbox/calls`)).json()) as { calls: { method: string; path: string; status: number }[] };
    expect(all.calls.map((c) => `${c.method} ${c.path} ${c.status}`)).toEqual([
      'GET /booking/v1/gyms/5/classes 200',
      'POST /booking/v1/gyms/5/classes 201',
      `POST /booking/v1/gyms/5/classes/${slot.classId}/slots 201`,
      `PATCH /booking/v1/gyms/5/classes/${slot.classId}/slots/${slot.slotId} 204`,
    ]);
    const patches = (await (await fetch(`${sandbox.url}/__sandbox/calls?method=PATCH`)).json()) as {
      calls: { body: unknown; headers: Record<string, string>; query: unknown }[];
    };
    expect(patches.calls).toHaveLength(1);
    expect(patches.calls[0]).toMatchObject({ body: { total_booked: 3 }, headers: { authorization: 'Bearer [redacted]', 'content-type': 'application/json' } });
    const text = JSON.stringify(all) + JSON.stringify(sandbox.state());
    expect(text).not.toContain('gym-5-token');
    expect(text).not.toContain(SECRET);
  });

  it('GET /__sandbox/state shows classes, slots and bookings; POST /__sandbox/reset empties them', async () => {
    const sent = requestBooking();
    const state = (await (await fetch(`${sandbox.url}/__sandbox/state`)).json()) as {
      now: string;
      gyms: { id: number; classes: unknown[]; slots: { id: number; room: string }[]; bookings: { booking_number: string; state: string }[] }[];
    };
    // The clock only moves forward (earlier tests advanced it); reset leaves time alone.
    expect(state.now).toBe(new Date(sandbox.clock.now()).toISOString());
    expect(state.gyms[0]).toMatchObject({
      id: 5,
      classes: [{ name: 'Pilates' }],
      slots: [{ id: Number(slot.slotId), room: 'Reformer room' }],
      bookings: [{ booking_number: sent.booking.booking_number, state: 'PENDING' }],
    });
    expect((await post('/reset')).status).toBe(204);
    const after = (await (await fetch(`${sandbox.url}/__sandbox/state`)).json()) as typeof state;
    expect(after.gyms[0]).toMatchObject({ classes: [], slots: [], bookings: [] });
    expect(sandbox.calls()).toEqual([]);
    expect(sandbox.clock.pendingTimers()).toBe(0);
  });

  it('a class deleted by Wellhub (control API) hides it and its slots', async () => {
    expect((await fetch(`${sandbox.url}/__sandbox/gyms/5/classes/${slot.classId}`, { method: 'DELETE' })).status).toBe(204);
    await expect(adapter.listClasses(ctx)).resolves.toEqual([]);
    await expect(adapter.getSlot(ctx, { activityExternalId: slot.classId, sessionExternalId: slot.slotId })).rejects.toMatchObject({ status: 404 });
    await expect(adapter.getClass(ctx, slot.classId, { showDeleted: true })).resolves.toMatchObject({ name: 'Pilates' });
  });
});

describe('listening', () => {
  it('listens on a random port on 127.0.0.1 by default, and closes with requests left hanging', async () => {
    const other: RunningWellhubSandbox = await startWellhubSandbox();
    expect(other.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(other.port).toBeGreaterThan(0);
    other.faults.set({ hang: true });
    const hanging = fetch(`${other.url}/booking/v1/health`).catch((e: unknown) => e);
    await sleep(50);
    await other.close();
    expect(await hanging).toBeInstanceOf(Error);
  });
});
