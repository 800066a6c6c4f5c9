import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { formatInOffset } from '../../domain/time.js';
import { AggregatorHttpError } from '../../aggregators/http.js';
import { createSandboxClock } from '../../aggregators/sandbox-kit/index.js';
import type { ConnectionContext } from '../../aggregators/types.js';
import {
  WellhubRequestInvalidError,
  createWellhubAdapter,
  type WellhubAdapter,
  type WellhubSlotBody,
} from '../../aggregators/wellhub/index.js';
import { startWellhubSandbox, type RunningWellhubSandbox } from '../../aggregators/wellhub/sandbox/index.js';
import { DAY, HOUR, NOW, TEST_GYMS } from '../support/wellhub.js';

/**
 * Every validation the reference documents, each checked twice: our client refuses to send a request that breaks
 * it (WellhubRequestInvalidError, non-retryable, nothing sent), and the sandbox, sent the same request raw, answers
 * the documented status naming the failing field. Then the other status codes: 409, 422, 401, 404.
 */

const at = (offsetMs: number) => formatInOffset(new Date(NOW + offsetMs), '-05:00');
const TOKEN = 'gym-7-token';

let sandbox: RunningWellhubSandbox;
let adapter: WellhubAdapter;
let ctx: ConnectionContext;
let classId: string;

beforeAll(async () => {
  const clock = createSandboxClock({ start: NOW, frozen: true });
  sandbox = await startWellhubSandbox({
    clock,
    gyms: TEST_GYMS,
  });
  adapter = createWellhubAdapter({ timeoutMs: 2_000, now: () => clock.now() });
  ctx = { ...sandbox.connection(7), settings: { productId: 11 } };
});

beforeEach(async () => {
  classId = (await adapter.pushActivity(ctx, { activityId: 'a', name: 'Yoga', description: '', category: null, bookable: true, visible: true }))
    .externalId;
  sandbox.setWebhookUrl('http://127.0.0.1:9/unused');
});
afterEach(() => sandbox.reset());
afterAll(async () => sandbox.close());

async function raw(method: string, path: string, body?: unknown, token: string | null = TOKEN) {
  const response = await fetch(`${sandbox.url}${path}`, {
    method,
    headers: {
      ...(token !== null ? { authorization: `Bearer ${token}` } : {}),
      ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
    },
    ...(body !== undefined ? { body: typeof body === 'string' ? body : JSON.stringify(body) } : {}),
  });
  const text = await response.text();
  let json: unknown = text;
  try {
    json = JSON.parse(text);
  } catch {
    // plain text answers (health) stay text
  }
  return { status: response.status, body: json as { message?: string; errors?: { field: string; message: string }[] } };
}

async function refusedByClient(call: () => Promise<unknown>, field: string) {
  const before = sandbox.calls().length;
  const error = await call().then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(WellhubRequestInvalidError);
  const invalid = error as WellhubRequestInvalidError;
  expect(invalid).toMatchObject({ retryable: false, status: undefined, aggregator: 'wellhub' });
  expect(invalid.issues.map((issue) => issue.field)).toContain(field);
  expect(sandbox.calls().length).toBe(before);
}

function expect400(answer: Awaited<ReturnType<typeof raw>>, field: string) {
  expect(answer.status).toBe(400);
  expect(answer.body.errors?.map((e) => e.field)).toContain(field);
}

const validSlot = (): WellhubSlotBody => ({
  occur_date: at(2 * DAY),
  room: 'Room 1',
  status: 1,
  length_in_minutes: 60,
  total_capacity: 15,
  total_booked: 5,
  product_id: 11,
  booking_window: { opens_at: at(DAY), closes_at: at(2 * DAY - HOUR) },
  instructors: [{ name: 'Axel', substitute: false }],
  cancellable_until: at(2 * DAY - 2 * HOUR),
  rating: 4.5,
  virtual: false,
});

type Mutation = (slot: Record<string, unknown>) => void;
const without =
  (...keys: string[]): Mutation =>
  (slot) => {
    for (const key of keys) Reflect.deleteProperty(slot, key);
  };
const window = (w: Record<string, unknown> | undefined): Mutation => (slot) => {
  slot.booking_window = w;
};

/** [validation, field named in the answer, how the valid slot is broken] */
const SLOT_VIOLATIONS: [string, string, Mutation][] = [
  ['occur_date is required', 'occur_date', without('occur_date')],
  ['occur_date format must be valid', 'occur_date', (s) => (s.occur_date = '30/01/2030 10:00')],
  ['occur_date needs an offset', 'occur_date', (s) => (s.occur_date = '2030-01-17T10:00:00')],
  ['occur_date must be a real date', 'occur_date', (s) => (s.occur_date = '2030-02-30T10:00:00-05:00')],
  ['occur_date must be in the future', 'occur_date', (s) => Object.assign(s, { occur_date: at(-HOUR), booking_window: undefined, cancellable_until: undefined })],
  ['occur_date now is not the future', 'occur_date', (s) => Object.assign(s, { occur_date: at(0), booking_window: undefined, cancellable_until: undefined })],
  ['room at least 2 characters', 'room', (s) => (s.room = 'A')],
  ['room at most 200 characters', 'room', (s) => (s.room = 'R'.repeat(201))],
  ['status is 0 or 1', 'status', (s) => (s.status = 2)],
  ['length_in_minutes is required', 'length_in_minutes', without('length_in_minutes')],
  ['length_in_minutes at least 1', 'length_in_minutes', (s) => (s.length_in_minutes = 0)],
  ['length_in_minutes at most 200', 'length_in_minutes', (s) => (s.length_in_minutes = 201)],
  ['length_in_minutes is an integer', 'length_in_minutes', (s) => (s.length_in_minutes = 30.5)],
  ['total_capacity is required', 'total_capacity', without('total_capacity')],
  ['total_capacity at least 0', 'total_capacity', (s) => (s.total_capacity = -1)],
  ['total_capacity at most 32000', 'total_capacity', (s) => (s.total_capacity = 32001)],
  ['total_booked is required', 'total_booked', without('total_booked')],
  ['total_booked at least 0', 'total_booked', (s) => (s.total_booked = -1)],
  ['total_booked at most 32000', 'total_booked', (s) => Object.assign(s, { total_capacity: 32000, total_booked: 32001 })],
  ['total_booked at most total_capacity', 'total_booked', (s) => (s.total_booked = 16)],
  ['product_id is required', 'product_id', without('product_id')],
  ['product_id is an integer', 'product_id', (s) => (s.product_id = '11')],
  ['cancellable_until format must be valid', 'cancellable_until', (s) => (s.cancellable_until = 'tomorrow')],
  ['cancellable_until before or at occur_date', 'cancellable_until', (s) => (s.cancellable_until = at(2 * DAY + 1000))],
  ['cancellable_until not more than 60 days past', 'cancellable_until', (s) => (s.cancellable_until = at(-61 * DAY))],
  ['rating at least 0.0', 'rating', (s) => (s.rating = -0.1)],
  ['rating at most 5.0', 'rating', (s) => (s.rating = 5.1)],
  ['opens_at format must be valid', 'booking_window.opens_at', window({ opens_at: '2030-01-16' })],
  ['opens_at before occur_date', 'booking_window.opens_at', window({ opens_at: at(2 * DAY) })],
  ['opens_at not more than 60 days past', 'booking_window.opens_at', window({ opens_at: at(-61 * DAY) })],
  ['closes_at format must be valid', 'booking_window.closes_at', window({ closes_at: 'soon' })],
  ['closes_at before or at occur_date', 'booking_window.closes_at', window({ closes_at: at(2 * DAY + 1000) })],
  ['closes_at after opens_at', 'booking_window.closes_at', window({ opens_at: at(DAY), closes_at: at(DAY - HOUR) })],
  ['closes_at not equal to opens_at', 'booking_window.closes_at', window({ opens_at: at(DAY), closes_at: at(DAY) })],
  ['closes_at not more than 60 days past', 'booking_window.closes_at', window({ closes_at: at(-61 * DAY) })],
  ['booking_window has only opens_at and closes_at', 'booking_window.starts_at', window({ starts_at: at(DAY) })],
  ['instructor name at least 1 character', 'instructors.0.name', (s) => (s.instructors = [{ name: '', substitute: false }])],
  ['instructor name at most 100 characters', 'instructors.0.name', (s) => (s.instructors = [{ name: 'N'.repeat(101), substitute: false }])],
  ['instructor substitute is required', 'instructors.1.substitute', (s) => (s.instructors = [{ name: 'A', substitute: true }, { name: 'B' }])],
  [
    'virtual_class_url starts with http(s):// on a virtual slot',
    'virtual_class_url',
    (s) => Object.assign(s, { virtual: true, product_id: 12, virtual_class_url: 'ftp://example.com/class' }),
  ],
  ['no unknown fields', 'colour', (s) => (s.colour = 'blue')],
];

/** Values at the edges of each rule, all accepted. */
const SLOT_EDGES: [string, Mutation][] = [
  ['room of 2 characters', (s) => (s.room = 'AB')],
  ['room of 200 characters', (s) => (s.room = 'R'.repeat(200))],
  ['no room', without('room')],
  ['status 0', (s) => (s.status = 0)],
  ['length_in_minutes 1', (s) => (s.length_in_minutes = 1)],
  ['length_in_minutes 200', (s) => (s.length_in_minutes = 200)],
  ['total_capacity 0 with nothing booked', (s) => Object.assign(s, { total_capacity: 0, total_booked: 0 })],
  ['total_capacity and total_booked 32000', (s) => Object.assign(s, { total_capacity: 32000, total_booked: 32000 })],
  ['rating 0.0', (s) => (s.rating = 0)],
  ['rating 5.0', (s) => (s.rating = 5)],
  ['closes_at at occur_date', window({ closes_at: at(2 * DAY) })],
  ['cancellable_until at occur_date', (s) => (s.cancellable_until = at(2 * DAY))],
  ['opens_at 59 days past', window({ opens_at: at(-59 * DAY) })],
  ['cancellable_until in the past but within 60 days', (s) => (s.cancellable_until = at(-DAY))],
  ['date-times in UTC (Z)', (s) => Object.assign(s, { occur_date: new Date(NOW + 2 * DAY).toISOString(), booking_window: undefined })],
  ['instructor name of 100 characters', (s) => (s.instructors = [{ name: 'N'.repeat(100), substitute: true }])],
  ['no instructors', (s) => (s.instructors = [])],
  ['a non-URL virtual_class_url on a non-virtual slot (only checked when virtual)', (s) => (s.virtual_class_url = 'see reception')],
  ['a virtual slot on a virtual product with an https URL', (s) => Object.assign(s, { virtual: true, product_id: 12, virtual_class_url: 'https://x.example' })],
  ['only the required fields', (s) => without('room', 'status', 'booking_window', 'instructors', 'cancellable_until', 'rating', 'virtual')(s)],
];

function brokenSlot(mutate: Mutation): WellhubSlotBody {
  const slot = structuredClone(validSlot()) as unknown as Record<string, unknown>;
  mutate(slot);
  return slot as unknown as WellhubSlotBody;
}

describe('slot POST validations (400)', () => {
  describe.each(SLOT_VIOLATIONS)('%s', (_name, field, mutate) => {
    it('is refused by our client before sending', async () => {
      await refusedByClient(() => adapter.client.createSlot(ctx, classId, brokenSlot(mutate)), field);
    });
    it('is answered 400 naming the field by the sandbox', async () => {
      expect400(await raw('POST', `/booking/v1/gyms/7/classes/${classId}/slots`, brokenSlot(mutate)), field);
      expect(sandbox.state().gyms[0]?.slots).toEqual([]);
    });
  });

  it.each(SLOT_EDGES)('accepts %s', async (_name, mutate) => {
    const slot = await adapter.client.createSlot(ctx, classId, brokenSlot(mutate));
    expect(slot.id).toBeGreaterThan(0);
  });

  it('lists every failing field at once', async () => {
    const answer = await raw('POST', `/booking/v1/gyms/7/classes/${classId}/slots`, { ...validSlot(), room: 'A', length_in_minutes: 0, rating: 9 });
    expect(answer.status).toBe(400);
    expect(answer.body.errors?.map((e) => e.field).sort()).toEqual(['length_in_minutes', 'rating', 'room']);
  });

  it('answers 400 to a body that is not JSON', async () => {
    const answer = await raw('POST', `/booking/v1/gyms/7/classes/${classId}/slots`, '{"occur_date": ');
    expect(answer).toMatchObject({ status: 400, body: { message: 'malformed JSON body' } });
  });
});

describe('slot PUT validations (400)', () => {
  let slotId: string;
  beforeEach(async () => {
    slotId = String((await adapter.client.createSlot(ctx, classId, validSlot())).id);
  });

  describe.each(SLOT_VIOLATIONS)('%s', (_name, field, mutate) => {
    it('is refused by our client and answered 400 by the sandbox', async () => {
      await refusedByClient(() => adapter.client.putSlot(ctx, { classId, slotId }, brokenSlot(mutate)), field);
      expect400(await raw('PUT', `/booking/v1/gyms/7/classes/${classId}/slots/${slotId}`, brokenSlot(mutate)), field);
      expect(sandbox.state().gyms[0]?.slots[0]).toMatchObject(validSlot());
    });
  });
});

describe('slot PATCH validations (400)', () => {
  let slotId: string;
  beforeEach(async () => {
    slotId = String((await adapter.client.createSlot(ctx, classId, validSlot())).id);
  });

  it.each([
    ['total_capacity or total_booked is required', 'total_capacity', {}],
    ['virtual_class_url alone is not enough', 'total_capacity', { virtual_class_url: 'https://x.example' }],
    ['total_capacity at least 0', 'total_capacity', { total_capacity: -1 }],
    ['total_capacity at most 32000', 'total_capacity', { total_capacity: 32001 }],
    ['total_booked at least 0', 'total_booked', { total_booked: -1 }],
    ['total_booked at most 32000', 'total_booked', { total_booked: 32001 }],
    ['total_booked at most total_capacity', 'total_booked', { total_capacity: 3, total_booked: 4 }],
    ['total_booked is an integer', 'total_booked', { total_booked: 1.5 }],
    ['no unknown fields', 'room', { total_booked: 1, room: 'B' }],
  ])('%s', async (_name, field, body) => {
    await refusedByClient(() => adapter.client.patchSlot(ctx, { classId, slotId }, body), field);
    expect400(await raw('PATCH', `/booking/v1/gyms/7/classes/${classId}/slots/${slotId}`, body), field);
  });

  it('refuses total_booked above the capacity Wellhub holds (only the sandbox can know it)', async () => {
    const error = await adapter.client.patchSlot(ctx, { classId, slotId }, { total_booked: 16 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AggregatorHttpError);
    expect(error).toMatchObject({ status: 400, retryable: false });
    expect((error as AggregatorHttpError).body).toMatchObject({ errors: [{ field: 'total_booked' }] });
    await expect(adapter.client.patchSlot(ctx, { classId, slotId }, { total_booked: 15 })).resolves.toBeUndefined();
  });
});

describe('class validations (400)', () => {
  const validClass = () => ({ name: 'Cycle', description: 'Standard cycle', bookable: true, visible: true, product_id: 11 });

  it.each([
    ['name at most 255 characters', 'classes.0.name', { name: 'N'.repeat(256) }],
    ['name is required', 'classes.0.name', { name: undefined }],
    ['name is not empty', 'classes.0.name', { name: '' }],
    ['description is required', 'classes.0.description', { description: undefined }],
    ['bookable is required', 'classes.0.bookable', { bookable: undefined }],
    ['bookable is a boolean', 'classes.0.bookable', { bookable: 'yes' }],
    ['visible is required', 'classes.0.visible', { visible: undefined }],
    ['product_id is required', 'classes.0.product_id', { product_id: undefined }],
    ['product_id is an integer', 'classes.0.product_id', { product_id: 1.5 }],
    ['categories are integer ids', 'classes.0.categories.0', { categories: ['yoga'] }],
    ['system_id is an integer', 'classes.0.system_id', { system_id: 'sys' }],
    ['reference is a string', 'classes.0.reference', { reference: 111 }],
    ['no unknown fields', 'classes.0.colour', { colour: 'red' }],
  ])('POST: %s', async (_name, field, patch) => {
    const body = { classes: [{ ...validClass(), ...patch }] };
    await refusedByClient(() => adapter.client.createClasses(ctx, body as never), field);
    expect400(await raw('POST', '/booking/v1/gyms/7/classes', body), field);
  });

  it('POST: classes must hold at least one class, and the body must be { classes }', async () => {
    await refusedByClient(() => adapter.client.createClasses(ctx, { classes: [] }), 'classes');
    expect400(await raw('POST', '/booking/v1/gyms/7/classes', { classes: [] }), 'classes');
    expect400(await raw('POST', '/booking/v1/gyms/7/classes', validClass()), 'classes');
  });

  it('POST: accepts a name of 255 characters and every optional field', async () => {
    const body = { classes: [{ ...validClass(), name: 'N'.repeat(255), notes: 'n', reference: 'r', system_id: 3, categories: [1, 2] }] };
    await expect(adapter.client.createClasses(ctx, body)).resolves.toMatchObject({ classes: [{ reference: 'r' }] });
  });

  it.each([
    ['name at most 255 characters', 'name', { name: 'N'.repeat(256) }],
    ['bookable is required', 'bookable', { bookable: undefined }],
    ['system_id is not part of the update', 'system_id', { system_id: 3 }],
  ])('PUT: %s', async (_name, field, patch) => {
    const body = { ...validClass(), ...patch };
    await refusedByClient(() => adapter.client.updateClass(ctx, classId, body as never), field);
    expect400(await raw('PUT', `/booking/v1/gyms/7/classes/${classId}`, body), field);
  });

  it('GET: show-deleted must be true or false', async () => {
    expect400(await raw('GET', `/booking/v1/gyms/7/classes/${classId}?show-deleted=yes`), 'show-deleted');
    expect((await raw('GET', `/booking/v1/gyms/7/classes/${classId}?show-deleted=true`)).status).toBe(200);
  });
});

describe('booking PATCH validations (400)', () => {
  let bookingNumber: string;
  beforeEach(async () => {
    const slot = await adapter.client.createSlot(ctx, classId, validSlot());
    const sent = sandbox.sendBookingRequest({ gymId: 7, slotId: slot.id });
    await sent.delivery;
    bookingNumber = sent.booking.booking_number;
  });

  it.each([
    ['status is required', 'status', { reason: 'x' }],
    ['status is one of the allowed values', 'status', { status: 'CONFIRMED' }],
    ['reason_category is required with REJECTED', 'reason_category', { status: 'REJECTED', reason: 'full' }],
    ['reason_category is one of the allowed values', 'reason_category', { status: 'REJECTED', reason_category: 'FULL' }],
    ['no unknown fields', 'comment', { status: 'RESERVED', comment: 'hi' }],
  ])('v2: %s', async (_name, field, body) => {
    await refusedByClient(() => adapter.client.patchBooking(ctx, bookingNumber, body as never), field);
    expect400(await raw('PATCH', `/booking/v2/gyms/7/bookings/${bookingNumber}`, body), field);
    expect(sandbox.booking(bookingNumber)?.state).toBe('PENDING');
  });

  it.each([
    ['status is 2, 3 or 5', 'status', { class_id: 1, status: 4 }],
    ['status is a number', 'status', { class_id: 1, status: 'RESERVED' }],
    ['class_id is required', 'class_id', { status: 2 }],
  ])('v1: %s', async (_name, field, body) => {
    await refusedByClient(() => adapter.client.patchBookingV1(ctx, bookingNumber, body as never), field);
    expect400(await raw('PATCH', `/booking/v1/gyms/7/bookings/${bookingNumber}`, body), field);
  });
});

describe('query validations (400)', () => {
  it.each([
    ['from', { from: 'yesterday' }],
    ['to', { to: '2030-01-20' }],
  ])('slot list: %s must be a valid date-time', async (field, range) => {
    await refusedByClient(() => adapter.listSlots(ctx, classId, range), field);
    const query = new URLSearchParams(range).toString();
    expect400(await raw('GET', `/booking/v1/gyms/7/classes/${classId}/slots?${query}`), field);
  });

  it('slot list: an offset whose + was not URL-encoded arrives as a space and is refused', async () => {
    expect400(await raw('GET', `/booking/v1/gyms/7/classes/${classId}/slots?from=2030-01-16T00:00:00+03:00`), 'from');
  });

  it('categories: locale must be one of the allowed locales', async () => {
    await refusedByClient(() => adapter.listCategories(ctx, 'xx' as never), 'locale');
    expect400(await raw('GET', '/booking/v1/gyms/7/categories?locale=xx'), 'locale');
    expect400(await raw('GET', '/booking/v1/gyms/7/categories'), 'locale');
  });
});

describe('conflicts and product rules (409, 422)', () => {
  const slotsPath = () => `/booking/v1/gyms/7/classes/${classId}/slots`;

  it('409 for a second slot with the same class, occur_date and room, retryable by our classification', async () => {
    expect((await raw('POST', slotsPath(), validSlot())).status).toBe(201);
    expect((await raw('POST', slotsPath(), validSlot())).status).toBe(409);
    // The same instant written in another offset is the same slot.
    const sameInstant = { ...validSlot(), occur_date: new Date(Date.parse(validSlot().occur_date)).toISOString() };
    expect((await raw('POST', slotsPath(), sameInstant)).status).toBe(409);
    const error = await adapter.client.createSlot(ctx, classId, validSlot()).catch((e: unknown) => e);
    expect(error).toMatchObject({ status: 409, retryable: true });
    expect((error as AggregatorHttpError).aggregatorMessage).toMatch(/exists already/);
  });

  it('no conflict for another room, another time, another class, or after the first was deleted', async () => {
    const first = await raw('POST', slotsPath(), validSlot());
    expect((await raw('POST', slotsPath(), { ...validSlot(), room: 'Room 2' })).status).toBe(201);
    expect((await raw('POST', slotsPath(), { ...validSlot(), occur_date: at(2 * DAY + 1000) })).status).toBe(201);
    const other = await adapter.pushActivity(ctx, { activityId: 'b', name: 'Pilates', description: '', category: null, bookable: true, visible: true });
    expect((await raw('POST', `/booking/v1/gyms/7/classes/${other.externalId}/slots`, validSlot())).status).toBe(201);
    const firstId = (first.body as unknown as { results: { id: number }[] }).results[0]!.id;
    expect((await raw('DELETE', `${slotsPath()}/${firstId}`)).status).toBe(204);
    expect((await raw('POST', slotsPath(), validSlot())).status).toBe(201);
  });

  it('422 for a product that does not exist (slot POST and PUT, class POST and PUT), non-retryable', async () => {
    expect((await raw('POST', slotsPath(), { ...validSlot(), product_id: 999 })).status).toBe(422);
    const error = await adapter.client.createSlot(ctx, classId, { ...validSlot(), product_id: 999 }).catch((e: unknown) => e);
    expect(error).toMatchObject({ status: 422, retryable: false });
    expect((error as AggregatorHttpError).aggregatorMessage).toContain('product 999 does not exist');
    const slot = await adapter.client.createSlot(ctx, classId, validSlot());
    expect((await raw('PUT', `${slotsPath()}/${slot.id}`, { ...validSlot(), product_id: 999 })).status).toBe(422);
    const cls = { name: 'X', description: '', bookable: true, visible: true, product_id: 999 };
    expect((await raw('POST', '/booking/v1/gyms/7/classes', { classes: [cls] })).status).toBe(422);
    expect((await raw('PUT', `/booking/v1/gyms/7/classes/${classId}`, cls)).status).toBe(422);
    // Another gym's product does not exist for this gym.
    expect((await raw('POST', slotsPath(), { ...validSlot(), product_id: 21 })).status).toBe(422);
  });

  it('422 for a virtual slot created on a non-virtual product; PUT only checks that the product exists', async () => {
    const virtualOnPlain = { ...validSlot(), virtual: true, virtual_class_url: 'https://x.example' };
    const answer = await raw('POST', slotsPath(), virtualOnPlain);
    expect(answer.status).toBe(422);
    expect(answer.body.message).toMatch(/not virtual/);
    expect((await raw('POST', slotsPath(), { ...virtualOnPlain, product_id: 12 })).status).toBe(201);
    const slot = await adapter.client.createSlot(ctx, classId, { ...validSlot(), room: 'Room 9' });
    expect((await raw('PUT', `${slotsPath()}/${slot.id}`, { ...virtualOnPlain, room: 'Room 9' })).status).toBe(200);
  });

  it('422 for a booking answer that can no longer apply, non-retryable', async () => {
    const slot = await adapter.client.createSlot(ctx, classId, validSlot());
    const sent = sandbox.sendBookingRequest({ gymId: 7, slotId: slot.id });
    await sent.delivery;
    const bookingNumber = sent.booking.booking_number;
    const cancelPending = await adapter.cancelBookingByGym(ctx, { bookingNumber }).catch((e: unknown) => e);
    expect(cancelPending).toMatchObject({ status: 422, retryable: false });
    await adapter.confirmBooking(ctx, { bookingNumber });
    await expect(adapter.rejectBooking(ctx, { bookingNumber }, 'CLASS_IS_FULL')).rejects.toMatchObject({ status: 422 });
    await adapter.cancelBookingByGym(ctx, { bookingNumber });
    await expect(adapter.confirmBooking(ctx, { bookingNumber })).rejects.toMatchObject({ status: 422 });
    expect(sandbox.booking(bookingNumber)?.state).toBe('CANCELLED_BY_GYM');
  });
});

describe('authentication (401) and unknown resources (404)', () => {
  const endpoints = (slotId: number): [string, string, unknown?][] => [
    ['GET', '/booking/v1/health'],
    ['POST', '/booking/v1/gyms/7/classes', { classes: [] }],
    ['GET', '/booking/v1/gyms/7/classes'],
    ['GET', `/booking/v1/gyms/7/classes/${classId}`],
    ['PUT', `/booking/v1/gyms/7/classes/${classId}`, {}],
    ['POST', `/booking/v1/gyms/7/classes/${classId}/slots`, {}],
    ['GET', `/booking/v1/gyms/7/classes/${classId}/slots`],
    ['GET', `/booking/v1/gyms/7/classes/${classId}/slots/${slotId}`],
    ['PATCH', `/booking/v1/gyms/7/classes/${classId}/slots/${slotId}`, { total_booked: 1 }],
    ['PUT', `/booking/v1/gyms/7/classes/${classId}/slots/${slotId}`, {}],
    ['DELETE', `/booking/v1/gyms/7/classes/${classId}/slots/${slotId}`],
    ['GET', '/setup/v1/gyms/7/products'],
    ['GET', '/booking/v1/gyms/7/categories?locale=en'],
    ['PATCH', '/booking/v2/gyms/7/bookings/1', { status: 'RESERVED' }],
    ['PATCH', '/booking/v1/gyms/7/bookings/1', { class_id: 1, status: 2 }],
  ];

  it('every endpoint answers 401 without a token, with a wrong one, with another scheme, and with another gym token', async () => {
    const slot = await adapter.client.createSlot(ctx, classId, validSlot());
    for (const [method, path, body] of endpoints(slot.id)) {
      for (const token of [null, 'wrong-token']) {
        const answer = await raw(method, path, body, token);
        expect(answer.status, `${method} ${path} with ${token ?? 'no token'}`).toBe(401);
      }
      const basic = await fetch(`${sandbox.url}${path}`, { method, headers: { authorization: `Basic ${Buffer.from('7:gym-7-token').toString('base64')}` } });
      expect(basic.status, `${method} ${path} with Basic auth`).toBe(401);
      if (path !== '/booking/v1/health') {
        expect((await raw(method, path, body, 'gym-8-token')).status, `${method} ${path} with gym 8's token`).toBe(401);
      }
    }
    expect(sandbox.state().gyms[0]?.slots).toHaveLength(1);
  });

  it('through the adapter a 401 is non-retryable and carries the message', async () => {
    const error = await adapter.listClasses({ ...ctx, credentials: { apiToken: 'expired' } }).catch((e: unknown) => e);
    expect(error).toMatchObject({ status: 401, retryable: false, aggregatorMessage: 'invalid token' });
  });

  it('the client refuses to call without a token at all', async () => {
    await refusedByClient(() => adapter.listClasses({ ...ctx, credentials: {} }), 'credentials.apiToken');
  });

  it('404 for an unknown gym (asked with a real token), class, slot, booking or route', async () => {
    const slot = await adapter.client.createSlot(ctx, classId, validSlot());
    const other = await adapter.pushActivity(ctx, { activityId: 'c', name: 'Other', description: '', category: null, bookable: true, visible: true });
    const notFound: [string, string, unknown?][] = [
      ['GET', '/booking/v1/gyms/99/classes'],
      ['GET', '/setup/v1/gyms/99/products'],
      ['GET', '/booking/v1/gyms/7/classes/999'],
      ['GET', '/booking/v1/gyms/7/classes/abc'],
      ['PUT', '/booking/v1/gyms/7/classes/999', { name: 'x', description: '', bookable: true, visible: true, product_id: 11 }],
      ['POST', '/booking/v1/gyms/7/classes/999/slots', validSlot()],
      ['GET', `/booking/v1/gyms/7/classes/${classId}/slots/999`],
      ['GET', `/booking/v1/gyms/7/classes/${other.externalId}/slots/${slot.id}`],
      ['PATCH', `/booking/v1/gyms/7/classes/${classId}/slots/999`, { total_booked: 1 }],
      ['DELETE', `/booking/v1/gyms/7/classes/${classId}/slots/999`],
      ['PATCH', '/booking/v2/gyms/7/bookings/424242', { status: 'RESERVED' }],
      ['PATCH', '/booking/v1/gyms/7/bookings/424242', { class_id: 1, status: 2 }],
      ['GET', '/booking/v3/somewhere'],
    ];
    for (const [method, path, body] of notFound) {
      expect((await raw(method, path, body)).status, `${method} ${path}`).toBe(404);
    }
    const error = await adapter.getSlot(ctx, { activityExternalId: classId, sessionExternalId: '999' }).catch((e: unknown) => e);
    expect(error).toMatchObject({ status: 404, retryable: false, aggregatorMessage: 'slot 999 not found' });
  });
});
