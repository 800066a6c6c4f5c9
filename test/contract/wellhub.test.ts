import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { formatInOffset } from '../../domain/time.js';
import { AggregatorHttpError } from '../../aggregators/http.js';
import { createSandboxClock } from '../../aggregators/sandbox-kit/index.js';
import type { ConnectionContext } from '../../aggregators/types.js';
import type { ActivityListing, SessionListing } from '../../domain/listing.js';
import { WELLHUB_LOCALES, createWellhubAdapter, type WellhubAdapter } from '../../aggregators/wellhub/index.js';
import { startWellhubSandbox, type RunningWellhubSandbox } from '../../aggregators/wellhub/sandbox/index.js';
import { DAY, HOUR, NOW, TEST_GYMS } from '../support/wellhub.js';

/**
 * The Wellhub adapter against the Wellhub sandbox over real HTTP: every endpoint of the reference, through the
 * adapter's interface methods and its extra typed methods, checked against what the sandbox received and holds.
 */

const at = (offsetMs: number) => formatInOffset(new Date(NOW + offsetMs), '+01:00');

let sandbox: RunningWellhubSandbox;
let adapter: WellhubAdapter;
let ctx: ConnectionContext;

beforeAll(async () => {
  const clock = createSandboxClock({ start: NOW, frozen: true });
  sandbox = await startWellhubSandbox({
    clock,
    gyms: TEST_GYMS,
    categories: WELLHUB_LOCALES.flatMap((locale, i) => [
      { id: 1, name: `Meditation (${locale})`, locale },
      { id: 2 + i, name: `Yoga (${locale})`, locale },
    ]),
  });
  adapter = createWellhubAdapter({ timeoutMs: 2_000, now: () => clock.now() });
  ctx = { ...sandbox.connection(7), settings: { productId: 11, categoryIds: { Yoga: [2, 3] } } };
});

afterEach(() => sandbox.reset());
afterAll(async () => sandbox.close());

function activity(overrides: Partial<ActivityListing> = {}): ActivityListing {
  return {
    activityId: 'act-yoga',
    name: 'Morning Yoga',
    description: 'Slow flow for every level',
    notes: 'Bring a mat',
    category: 'Yoga',
    bookable: true,
    visible: true,
    ...overrides,
  };
}

function session(overrides: Partial<SessionListing> = {}): SessionListing {
  return {
    sessionId: 'ses-1',
    startsAt: at(2 * DAY),
    durationMinutes: 60,
    room: 'Studio A',
    instructors: [
      { name: 'Axel', substitute: false },
      { name: 'Blaze', substitute: true },
    ],
    totalCapacity: 15,
    totalBooked: 5,
    bookingOpensAt: at(DAY),
    bookingClosesAt: at(2 * DAY - HOUR),
    cancellableUntil: at(2 * DAY - 2 * HOUR),
    active: true,
    ...overrides,
  };
}

const gym7 = () => sandbox.state().gyms.find((gym) => gym.id === 7)!;

async function publishedSession(overrides: Partial<SessionListing> = {}) {
  const { externalId: classId } = await adapter.pushActivity(ctx, activity());
  const { externalId: slotId } = await adapter.createSession(ctx, classId, session(overrides));
  return { activityExternalId: classId, sessionExternalId: slotId };
}

describe('health', () => {
  it('GET /booking/v1/health answers ok with a valid token', async () => {
    await expect(adapter.health(ctx)).resolves.toBeUndefined();
    expect(sandbox.calls({ path: '/booking/v1/health' })).toMatchObject([{ method: 'GET', status: 200 }]);
  });

  it('fails non-retryably with 401 on a wrong token', async () => {
    const error = await adapter.health({ ...ctx, credentials: { apiToken: 'nope' } }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AggregatorHttpError);
    expect(error).toMatchObject({ status: 401, retryable: false, aggregatorMessage: 'invalid token' });
  });
});

describe('classes', () => {
  it('pushActivity creates a class carrying our activity id as reference', async () => {
    const { externalId } = await adapter.pushActivity(ctx, activity());
    const [post] = sandbox.calls({ method: 'POST', path: '/booking/v1/gyms/7/classes' });
    expect(post?.status).toBe(201);
    expect(post?.body).toEqual({
      classes: [
        {
          name: 'Morning Yoga',
          description: 'Slow flow for every level',
          notes: 'Bring a mat',
          bookable: true,
          visible: true,
          product_id: 11,
          reference: 'act-yoga',
          categories: [2, 3],
        },
      ],
    });
    expect(post?.headers.authorization).toBe('Bearer [redacted]');
    expect(gym7().classes).toMatchObject([{ id: Number(externalId), name: 'Morning Yoga', reference: 'act-yoga', deleted: false }]);
  });

  it('pushActivity again finds the class by reference and updates it instead of creating a second one', async () => {
    const first = await adapter.pushActivity(ctx, activity());
    const second = await adapter.pushActivity(ctx, activity({ name: 'Evening Yoga' }));
    expect(second.externalId).toBe(first.externalId);
    expect(gym7().classes).toHaveLength(1);
    expect(gym7().classes[0]?.name).toBe('Evening Yoga');
    expect(sandbox.calls({ method: 'PUT' })).toHaveLength(1);
  });

  it('maps a numeric category to itself and an unmapped one to no category', async () => {
    const numeric = await adapter.pushActivity(ctx, activity({ activityId: 'a1', category: '5' }));
    const unmapped = await adapter.pushActivity(ctx, activity({ activityId: 'a2', category: 'Unmapped' }));
    const [one, two] = await Promise.all([adapter.getClass(ctx, numeric.externalId), adapter.getClass(ctx, unmapped.externalId)]);
    expect(one.categories?.map((c) => c.id)).toEqual([5]);
    expect(two.categories).toEqual([]);
  });

  it('listClasses and getClass answer what was created, in Wellhub form', async () => {
    const { externalId } = await adapter.pushActivity(ctx, activity());
    const classes = await adapter.listClasses(ctx);
    expect(classes).toHaveLength(1);
    const cls = await adapter.getClass(ctx, externalId);
    expect(cls).toMatchObject({
      id: Number(externalId),
      name: 'Morning Yoga',
      slug: 'morning-yoga',
      product_id: 11,
      gym_id: 7,
      bookable: true,
      visible: true,
      reference: 'act-yoga',
    });
    expect(cls.created_at).toMatch(/Z\[UTC\]$/);
    expect(cls.categories?.[0]).toMatchObject({ id: 2 });
    expect(sandbox.calls({ path: `/classes/${externalId}` })[0]?.query).toEqual({ 'show-deleted': 'false' });
  });

  it('getClass finds a class Wellhub deleted only with show-deleted=true', async () => {
    const { externalId } = await adapter.pushActivity(ctx, activity());
    sandbox.deleteClass(7, Number(externalId));
    await expect(adapter.getClass(ctx, externalId)).rejects.toMatchObject({ status: 404, retryable: false });
    await expect(adapter.getClass(ctx, externalId, { showDeleted: true })).resolves.toMatchObject({ id: Number(externalId) });
    expect(await adapter.listClasses(ctx)).toEqual([]);
  });

  it('updateActivity PUTs the whole class', async () => {
    const { externalId } = await adapter.pushActivity(ctx, activity());
    await adapter.updateActivity(ctx, externalId, activity({ name: 'Power Yoga', notes: undefined, category: null }));
    const [put] = sandbox.calls({ method: 'PUT', path: `/classes/${externalId}` });
    expect(put).toMatchObject({ status: 200 });
    expect(put?.body).toEqual({
      name: 'Power Yoga',
      description: 'Slow flow for every level',
      bookable: true,
      visible: true,
      product_id: 11,
      reference: 'act-yoga',
    });
    expect(gym7().classes[0]).toMatchObject({ name: 'Power Yoga', categories: [] });
  });

  it('hideActivity sets visible and bookable to false (classes cannot be deleted)', async () => {
    const { externalId } = await adapter.pushActivity(ctx, activity());
    await adapter.hideActivity(ctx, externalId, activity());
    expect(gym7().classes[0]).toMatchObject({ visible: false, bookable: false, deleted: false });
    expect(sandbox.calls({ method: 'DELETE' })).toEqual([]);
  });

  it('answers 404 for a class of another gym', async () => {
    const { externalId } = await adapter.pushActivity(ctx, activity());
    const other = { ...sandbox.connection(8), settings: { productId: 21 } };
    await expect(adapter.getClass(other, externalId)).rejects.toMatchObject({ status: 404, retryable: false });
  });
});

describe('slots', () => {
  it('createSession POSTs one slot with the session translated', async () => {
    const ref = await publishedSession();
    const [post] = sandbox.calls({ method: 'POST', path: /\/slots$/ });
    expect(post?.status).toBe(201);
    expect(post?.body).toEqual({
      occur_date: at(2 * DAY),
      room: 'Studio A',
      status: 1,
      length_in_minutes: 60,
      total_capacity: 15,
      total_booked: 5,
      product_id: 11,
      booking_window: { opens_at: at(DAY), closes_at: at(2 * DAY - HOUR) },
      instructors: [
        { name: 'Axel', substitute: false },
        { name: 'Blaze', substitute: true },
      ],
      cancellable_until: at(2 * DAY - 2 * HOUR),
    });
    const slot = await adapter.getSlot(ctx, ref);
    expect(slot).toMatchObject({ id: Number(ref.sessionExternalId), class_id: Number(ref.activityExternalId), occur_date: at(2 * DAY) });
  });

  it('leaves out an opening time already past (bookable now) and a null room, and sends inactive sessions as status 0', async () => {
    await publishedSession({ bookingOpensAt: at(-10 * DAY), bookingClosesAt: undefined, cancellableUntil: undefined, room: null, active: false });
    const [post] = sandbox.calls({ method: 'POST', path: /\/slots$/ });
    expect(post?.body).not.toHaveProperty('booking_window');
    expect(post?.body).not.toHaveProperty('room');
    expect(post?.body).toMatchObject({ status: 0 });
  });

  it('createSession answered 409 (a retry after a lost answer) returns the existing slot instead of failing', async () => {
    const ref = await publishedSession();
    const again = await adapter.createSession(ctx, ref.activityExternalId, session());
    expect(again.externalId).toBe(ref.sessionExternalId);
    expect(gym7().slots).toHaveLength(1);
    expect(sandbox.calls({ method: 'POST', path: /\/slots$/ }).map((c) => c.status)).toEqual([201, 409]);
    expect(sandbox.calls({ method: 'GET', path: /\/slots$/ })).toHaveLength(1);
  });

  it('a 409 with no slot of ours behind it (other room) still fails, retryable', async () => {
    const ref = await publishedSession();
    // Same class and instant as a slot created by someone else in another room: no match, the 409 stands.
    sandbox.faults.set({ status: 409, path: '/slots$', method: 'POST', times: 1 });
    const error = await adapter.createSession(ctx, ref.activityExternalId, session({ room: 'Studio B' })).catch((e: unknown) => e);
    expect(error).toMatchObject({ status: 409, retryable: true });
  });

  it('listSlots answers slots within from/to, dates in UTC zoned form', async () => {
    const ref = await publishedSession();
    const { externalId: later } = await adapter.createSession(ctx, ref.activityExternalId, session({ startsAt: at(5 * DAY) }));
    const all = await adapter.listSlots(ctx, ref.activityExternalId, { from: at(DAY), to: at(6 * DAY) });
    expect(all.results.map((s) => String(s.id))).toEqual([ref.sessionExternalId, later]);
    expect(all.results[0]?.occur_date).toBe(`${new Date(NOW + 2 * DAY).toISOString().slice(0, 19)}Z[UTC]`);
    expect(all.metadata).toMatchObject({ total: 2, errors: 0 });
    const some = await adapter.listSlots(ctx, ref.activityExternalId, { from: at(4 * DAY), to: at(6 * DAY) });
    expect(some.results.map((s) => String(s.id))).toEqual([later]);
    // The + of the offset must arrive encoded, or Wellhub would read a space.
    expect(sandbox.calls({ method: 'GET', path: /\/slots$/ })[0]?.query.from).toBe(at(DAY));
  });

  it('listSlots without from/to answers the slots of the current day', async () => {
    const { externalId: classId } = await adapter.pushActivity(ctx, activity());
    const today = await adapter.createSession(ctx, classId, session({ startsAt: at(3 * HOUR), bookingOpensAt: undefined, bookingClosesAt: undefined, cancellableUntil: undefined }));
    await adapter.createSession(ctx, classId, session({ startsAt: at(2 * DAY) }));
    const { results } = await adapter.listSlots(ctx, classId);
    expect(results.map((s) => String(s.id))).toEqual([today.externalId]);
  });

  it('updateSession PUTs the whole slot', async () => {
    const ref = await publishedSession();
    await adapter.updateSession(ctx, ref, session({ room: 'Studio B', durationMinutes: 45, instructors: [] }));
    const [put] = sandbox.calls({ method: 'PUT', path: /\/slots\/\d+$/ });
    expect(put?.status).toBe(200);
    expect(gym7().slots[0]).toMatchObject({ room: 'Studio B', length_in_minutes: 45, instructors: [] });
  });

  it('putSlot (raw) answers the slot as Wellhub holds it', async () => {
    const ref = await publishedSession();
    const slot = await adapter.putSlot(ctx, ref, {
      occur_date: at(3 * DAY),
      length_in_minutes: 30,
      total_capacity: 10,
      total_booked: 0,
      product_id: 12,
      virtual: true,
      virtual_class_url: 'https://meet.example/yoga',
    });
    expect(slot).toMatchObject({ occur_date: at(3 * DAY), virtual: true, virtual_class_url: 'https://meet.example/yoga', product_id: 12 });
  });

  it('patchSessionCounts PATCHes only the counts given', async () => {
    const ref = await publishedSession();
    await adapter.patchSessionCounts(ctx, ref, { totalBooked: 7 });
    await adapter.patchSessionCounts(ctx, ref, { totalCapacity: 20, totalBooked: 9 });
    const patches = sandbox.calls({ method: 'PATCH' });
    expect(patches.map((c) => [c.status, c.body])).toEqual([
      [204, { total_booked: 7 }],
      [204, { total_capacity: 20, total_booked: 9 }],
    ]);
    expect(gym7().slots[0]).toMatchObject({ total_capacity: 20, total_booked: 9 });
  });

  it('deleteSession DELETEs the slot (204) and a second delete of the same slot succeeds as done', async () => {
    const ref = await publishedSession();
    await adapter.deleteSession(ctx, ref);
    await adapter.deleteSession(ctx, ref);
    expect(sandbox.calls({ method: 'DELETE' }).map((c) => c.status)).toEqual([204, 404]);
    await expect(adapter.getSlot(ctx, ref)).rejects.toMatchObject({ status: 404 });
  });

  it('cancelSession deletes the slot (Wellhub has no cancelled slot state)', async () => {
    const ref = await publishedSession();
    await adapter.cancelSession(ctx, ref, 'Teacher ill');
    expect(gym7().slots[0]).toMatchObject({ deleted: true });
    expect(adapter.capabilities).toEqual({ cancelsWholeSessions: false, answersBookingsSynchronously: false, bookingDeadlineMs: 15 * 60_000 });
  });
});

describe('products and categories', () => {
  it('listProducts answers the gym products from /setup/v1', async () => {
    const products = await adapter.listProducts(ctx);
    expect(products.gym_id).toBe(7);
    expect(products.products.map((p) => [p.product_id, p.virtual])).toEqual([
      [11, false],
      [12, true],
    ]);
    expect(sandbox.calls()[0]?.path).toBe('/setup/v1/gyms/7/products');
  });

  it.each(WELLHUB_LOCALES)('listCategories answers the categories in locale %s', async (locale) => {
    const { results, metadata } = await adapter.listCategories(ctx, locale);
    expect(results.map((c) => c.locale)).toEqual([locale, locale]);
    expect(results[0]?.name).toBe(`Meditation (${locale})`);
    expect(metadata).toMatchObject({ total: 2, errors: 0 });
  });
});

describe('bookings', () => {
  async function pendingBooking() {
    sandbox.setWebhookUrl('http://127.0.0.1:9/unused');
    const ref = await publishedSession();
    const sent = sandbox.sendBookingRequest({ gymId: 7, slotId: ref.sessionExternalId, user: { unique_token: 'member-1' } });
    // Nobody listens on the discard port: the deliveries fail fast, which is not what these tests look at.
    await sent.delivery;
    return { ref, bookingNumber: sent.booking.booking_number };
  }

  it('confirmBooking PATCHes v2 RESERVED', async () => {
    const { bookingNumber } = await pendingBooking();
    await adapter.confirmBooking(ctx, { bookingNumber });
    const [patch] = sandbox.calls({ method: 'PATCH', path: `/booking/v2/gyms/7/bookings/${bookingNumber}` });
    expect(patch).toMatchObject({ status: 204, body: { status: 'RESERVED' } });
    expect(sandbox.booking(bookingNumber)?.state).toBe('RESERVED');
  });

  it('confirming twice is accepted (a retry after a lost answer)', async () => {
    const { bookingNumber } = await pendingBooking();
    await adapter.confirmBooking(ctx, { bookingNumber });
    await expect(adapter.confirmBooking(ctx, { bookingNumber })).resolves.toBeUndefined();
  });

  it('rejectBooking PATCHes v2 REJECTED with the reason category and Wellhub wording by default', async () => {
    const { bookingNumber } = await pendingBooking();
    await adapter.rejectBooking(ctx, { bookingNumber }, 'CLASS_IS_FULL');
    expect(sandbox.calls({ method: 'PATCH' })[0]?.body).toEqual({
      status: 'REJECTED',
      reason: 'Booking declined because the class is full',
      reason_category: 'CLASS_IS_FULL',
    });
    expect(sandbox.booking(bookingNumber)).toMatchObject({ state: 'REJECTED', reason_category: 'CLASS_IS_FULL', auto_rejected: false });
  });

  it('rejectBooking sends our own message when given', async () => {
    const { bookingNumber } = await pendingBooking();
    await adapter.rejectBooking(ctx, { bookingNumber }, 'USAGE_RESTRICTION', 'Members may book one class a day');
    expect(sandbox.booking(bookingNumber)).toMatchObject({ reason: 'Members may book one class a day', reason_category: 'USAGE_RESTRICTION' });
  });

  it('cancelBookingByGym PATCHes v2 CANCELLED_BY_GYM on a reserved booking', async () => {
    const { bookingNumber } = await pendingBooking();
    await adapter.confirmBooking(ctx, { bookingNumber });
    await adapter.cancelBookingByGym(ctx, { bookingNumber }, 'Session cancelled');
    expect(sandbox.calls({ method: 'PATCH' })[1]?.body).toEqual({ status: 'CANCELLED_BY_GYM', reason: 'Session cancelled' });
    expect(sandbox.booking(bookingNumber)?.state).toBe('CANCELLED_BY_GYM');
  });

  it.each([
    [2, 'RESERVED'],
    [3, 'REJECTED'],
  ] as const)('patchBookingV1 status %i answers %s through /booking/v1', async (status, state) => {
    const { ref, bookingNumber } = await pendingBooking();
    await adapter.patchBookingV1(ctx, bookingNumber, { class_id: Number(ref.activityExternalId), status, reason: 'v1' });
    expect(sandbox.calls({ method: 'PATCH', path: `/booking/v1/gyms/7/bookings/${bookingNumber}` })[0]?.status).toBe(204);
    expect(sandbox.booking(bookingNumber)?.state).toBe(state);
  });

  it('patchBookingV1 status 5 cancels by the gym; a class_id that is not the booking class is 404', async () => {
    const { ref, bookingNumber } = await pendingBooking();
    const classId = Number(ref.activityExternalId);
    await adapter.patchBookingV1(ctx, bookingNumber, { class_id: classId, status: 2 });
    await expect(adapter.patchBookingV1(ctx, bookingNumber, { class_id: classId + 100, status: 5 })).rejects.toMatchObject({ status: 404 });
    await adapter.patchBookingV1(ctx, bookingNumber, { class_id: classId, status: 5 });
    expect(sandbox.booking(bookingNumber)?.state).toBe('CANCELLED_BY_GYM');
  });

  it('answers 404 for a booking Wellhub does not know, and for one of another gym', async () => {
    const { bookingNumber } = await pendingBooking();
    await expect(adapter.confirmBooking(ctx, { bookingNumber: 'nope' })).rejects.toMatchObject({ status: 404, retryable: false });
    const other = { ...sandbox.connection(8), settings: { productId: 21 } };
    await expect(adapter.confirmBooking(other, { bookingNumber })).rejects.toMatchObject({ status: 404, retryable: false });
  });
});
