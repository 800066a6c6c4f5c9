import { randomUUID } from 'node:crypto';
import { WorkflowNotFoundError } from '@temporalio/client';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Express } from 'express';
import { signWellhubBody } from '../../aggregators/wellhub/webhook.js';
import type { Db } from '../../db/index.js';
import type { Aggregator } from '../../domain/model.js';
import type { RejectReason } from '../../domain/reasons.js';
import { workflowIds } from '../../workflows/ids.js';
import { bearer, rowCounts } from '../support/api-fixtures.js';
import { eventually, useApiHarness, type ApiHarness } from '../support/harness.js';
import { startBookingWorld, type BookingWorld } from '../support/booking-world.js';

// Aggregator webhooks end to end, over real HTTP: the sandboxes (or the test, with webhooks it builds and signs
// itself) post to the service listening on a real port; a real Temporal server runs the booking workflows; the
// ledger is a real PostgreSQL. Covers every reject reason from a real check, invariant 6 (rejected input changes
// nothing), invariant 2 (one booking number, one booking, one answer), webhook secret rotation, and the member's
// cancellations and check-in.

let app: Express;
let db: Db;
let temporal: ApiHarness['temporal'];
useApiHarness((h) => ({ app, db, temporal } = h));

/** One world per describe block: started once, shared by its tests (each uses sessions of its own). */
function useWorld(aggregators: readonly Aggregator[]): () => BookingWorld {
  let world: BookingWorld | undefined;
  beforeAll(async () => {
    world = await startBookingWorld(app, db, { aggregators });
  });
  afterAll(async () => {
    await world?.close();
  });
  return () => {
    if (!world) throw new Error('world not started');
    return world;
  };
}

// --- the sandboxes -------------------------------------------------------------------------------------------------

const control = (w: BookingWorld, aggregator: Aggregator, path: string) => `${w.world.sandboxes[aggregator].url}/__sandbox${path}`;

async function sandboxJson<T>(url: string, init?: { method: string; body?: unknown }): Promise<T> {
  const res = await fetch(url, {
    method: init?.method ?? 'GET',
    headers: { 'content-type': 'application/json' },
    ...(init?.body !== undefined ? { body: JSON.stringify(init.body) } : {}),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${init?.method ?? 'GET'} ${url}: ${res.status} ${text}`);
  return (text === '' ? undefined : JSON.parse(text)) as T;
}

/**
 * The Wellhub sandbox numbers bookings 900000001, 900000002, ... in each sandbox, so two worlds of one ledger would
 * hand out the same numbers (Wellhub's own are unique across all gyms): every Wellhub booking here gets its own.
 */
const wellhubNumber = () => `wh-${randomUUID()}`;

interface WellhubPayload {
  event_type: string;
  event_data: {
    user: { unique_token: string; name?: string; email?: string };
    slot: { id: number; gym_id: number; class_id?: number; booking_number: string };
    timestamp: number;
    event_id: string;
  };
}

/**
 * A member acts at the Wellhub sandbox (books, or cancels) while its webhooks go to a path of the service that takes
 * nothing (an unknown aggregator: 404, nothing written): the sandbox holds the booking, and the test delivers the
 * event the sandbox built, when and as often as it wants.
 */
async function heldBackWellhub(w: BookingWorld, action: { book: { slotId: string; member: string } } | { cancel: string }): Promise<WellhubPayload> {
  const setTarget = (path: string) => sandboxJson(control(w, 'wellhub', '/webhook'), { method: 'PUT', body: { url: `${w.baseUrl}${path}` } });
  await setTarget('/webhooks/nope');
  try {
    const sent =
      'book' in action
        ? await sandboxJson<{ event: WellhubPayload }>(control(w, 'wellhub', '/bookings'), {
            method: 'POST',
            body: {
              gym_id: w.world.sandboxes.wellhub.connection.externalVenueId,
              slot_id: action.book.slotId,
              booking_number: wellhubNumber(),
              user: { unique_token: action.book.member, name: 'Kim Doe', email: 'kim@example.com' },
            },
          })
        : await sandboxJson<{ event: WellhubPayload }>(control(w, 'wellhub', `/bookings/${action.cancel}/cancel`), { method: 'POST', body: { late: false } });
    return sent.event;
  } finally {
    await setTarget('/webhooks/wellhub');
  }
}

interface RecordedCall {
  method: string;
  path: string;
  body: Record<string, unknown>;
  status: number | undefined;
}

/** The answer calls (PATCH of the booking) the Wellhub sandbox received for one booking number. */
async function wellhubAnswers(w: BookingWorld, bookingNumber: string): Promise<RecordedCall[]> {
  const { calls } = await sandboxJson<{ calls: RecordedCall[] }>(control(w, 'wellhub', `/calls?method=PATCH&path=${encodeURIComponent(`/bookings/${bookingNumber}`)}`));
  return calls;
}

// --- webhooks built by the test ----------------------------------------------------------------------------------

function wellhubPayload(
  w: BookingWorld,
  o: { bookingNumber: string; slotId: string; classId?: string | undefined; member?: string; type?: string; gymId?: string },
): WellhubPayload {
  return {
    event_type: o.type ?? 'booking-requested',
    event_data: {
      user: { unique_token: o.member ?? `member-${o.bookingNumber}`, name: 'Kim Doe', email: 'kim@example.com' },
      slot: {
        id: Number(o.slotId),
        gym_id: Number(o.gymId ?? w.world.sandboxes.wellhub.connection.externalVenueId),
        ...(o.classId !== undefined ? { class_id: Number(o.classId) } : {}),
        booking_number: o.bookingNumber,
      },
      timestamp: Date.now(),
      event_id: randomUUID(),
    },
  };
}

interface WebhookAnswer {
  status: number;
  body: { received?: boolean; duplicate?: boolean; error?: { code: string; message: string; details?: unknown } };
}

/** POSTs a Wellhub webhook over HTTP, signed with `secret` (default the sandbox's; null: no signature header). */
async function postWellhub(w: BookingWorld, body: string | WellhubPayload, o: { secret?: string | null; path?: string } = {}): Promise<WebhookAnswer> {
  const raw = typeof body === 'string' ? body : JSON.stringify(body);
  const secret = o.secret === undefined ? w.world.sandboxes.wellhub.connection.webhookSecret : o.secret;
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (secret !== null) headers['x-gympass-signature'] = signWellhubBody(raw, secret);
  const res = await fetch(`${w.baseUrl}${o.path ?? '/webhooks/wellhub'}`, { method: 'POST', headers, body: raw });
  return { status: res.status, body: (await res.json()) as WebhookAnswer['body'] };
}

// --- the ledger ----------------------------------------------------------------------------------------------------

const ledgerBookings = (aggregator: Aggregator, bookingNumber: string) =>
  db.selectFrom('bookings').selectAll().where('source', '=', aggregator).where('aggregator_booking_number', '=', bookingNumber).execute();
const requestRow = (aggregator: Aggregator, bookingNumber: string) =>
  db.selectFrom('booking_requests').selectAll().where('aggregator', '=', aggregator).where('booking_number', '=', bookingNumber).executeTakeFirst();
const inboxRows = (aggregator: Aggregator, bookingNumber: string) =>
  db.selectFrom('webhook_inbox').selectAll().where('aggregator', '=', aggregator).where('booking_number', '=', bookingNumber).orderBy('id').execute();
const WRITTEN_BY_WEBHOOKS = ['webhook_inbox', 'booking_requests', 'bookings', 'customers'] as const;

async function ledgerStatus(aggregator: Aggregator, bookingNumber: string, status: string) {
  return eventually(
    async () => {
      const [b] = await ledgerBookings(aggregator, bookingNumber);
      return b?.status === status ? b : undefined;
    },
    15_000,
    `the ledger to hold ${aggregator} ${bookingNumber} ${status}`,
  );
}

async function heldStatus(w: BookingWorld, aggregator: Aggregator, bookingNumber: string, status: string) {
  return eventually(
    async () => {
      const b = await w.world.booking(aggregator, bookingNumber);
      return b?.status === status ? b : undefined;
    },
    15_000,
    `${aggregator} to hold ${bookingNumber} ${status}`,
  );
}

async function reserved(w: BookingWorld, aggregator: Aggregator, bookingNumber: string) {
  await heldStatus(w, aggregator, bookingNumber, 'reserved');
  return ledgerStatus(aggregator, bookingNumber, 'reserved');
}

/** The aggregator holds the request REJECTED with the reason in its vocabulary; the ledger rejected it for `reason`. */
async function expectRejected(w: BookingWorld, aggregator: Aggregator, bookingNumber: string, reason: RejectReason, aggregatorReason: string = reason) {
  const held = await heldStatus(w, aggregator, bookingNumber, 'rejected');
  expect(held).toEqual({ status: 'rejected', reason: aggregatorReason, autoRejected: false });
  const bookings = await ledgerBookings(aggregator, bookingNumber);
  expect(bookings).toHaveLength(1);
  expect(bookings[0]).toMatchObject({ status: 'rejected', status_reason: reason, product: aggregator });
  const row = await eventually(async () => {
    const r = await requestRow(aggregator, bookingNumber);
    return r?.answer === 'sent' ? r : undefined;
  }, 10_000, 'the request to record the answer sent');
  expect(row).toMatchObject({ decision: 'reject', reason, booking_id: bookings[0]?.id });
}

/** No booking workflow for the number, as the world's connection of that aggregator would have received it. */
async function noWorkflow(w: BookingWorld, aggregator: Aggregator, bookingNumber: string) {
  const id = workflowIds.bookingRequest({ aggregator, connectionId: w.connectionIds[aggregator], bookingNumber });
  await expect(temporal.client.workflow.getHandle(id).describe()).rejects.toBeInstanceOf(WorkflowNotFoundError);
}

async function wellhubClassId(w: BookingWorld, activityId: string): Promise<string> {
  const row = await db
    .selectFrom('activity_publications')
    .select('external_id')
    .where('activity_id', '=', activityId)
    .where('connection_id', '=', w.connectionIds.wellhub)
    .executeTakeFirstOrThrow();
  if (row.external_id === null) throw new Error('class not published');
  return row.external_id;
}

// --- 1. reject reasons -----------------------------------------------------------------------------------------------

describe('reject reasons, each from a real check', () => {
  const w = useWorld(['wellhub', 'classpass']);

  it('CLASS_IS_FULL: the last spot taken, a second member (Wellhub) and a third (ClassPass: session_full) are refused', async () => {
    const { sessionIds } = await w().offer({ maxParticipants: 1 });
    const sessionId = sessionIds[0] as string;
    const slot = await w().externalSessionId('wellhub', sessionId);
    const first = await w().world.requestBooking('wellhub', { sessionId: slot, member: { id: 'full-1' }, bookingNumber: wellhubNumber() });
    await reserved(w(), 'wellhub', first.bookingNumber);

    const second = await w().world.requestBooking('wellhub', { sessionId: slot, member: { id: 'full-2' }, bookingNumber: wellhubNumber() });
    await expectRejected(w(), 'wellhub', second.bookingNumber, 'CLASS_IS_FULL');
    const third = await w().world.requestBooking('classpass', { sessionId: await w().externalSessionId('classpass', sessionId), member: { id: 'full-3' } });
    await expectRejected(w(), 'classpass', third.bookingNumber, 'CLASS_IS_FULL', 'session_full');
  });

  it('USER_IS_ALREADY_BOOKED: the same member twice, under two booking numbers', async () => {
    const { sessionIds } = await w().offer({ maxParticipants: 5 });
    const slot = await w().externalSessionId('wellhub', sessionIds[0] as string);
    const first = await w().world.requestBooking('wellhub', { sessionId: slot, member: { id: 'twice' }, bookingNumber: wellhubNumber() });
    await reserved(w(), 'wellhub', first.bookingNumber);
    const again = await w().world.requestBooking('wellhub', { sessionId: slot, member: { id: 'twice' }, bookingNumber: wellhubNumber() });
    expect(again.bookingNumber).not.toBe(first.bookingNumber);
    await expectRejected(w(), 'wellhub', again.bookingNumber, 'USER_IS_ALREADY_BOOKED');
    expect((await ledgerBookings('wellhub', first.bookingNumber))[0]?.status).toBe('reserved');
  });

  it('CHECK_IN_AND_CANCELATION_WINDOWS_CLOSED: booking opens 60 minutes before a session that is a day away', async () => {
    const { sessionIds } = await w().offer({ maxParticipants: 5, registrationRules: { bookingOpensMinutesBefore: 60 } });
    const slot = await w().externalSessionId('wellhub', sessionIds[0] as string);
    const sent = await w().world.requestBooking('wellhub', { sessionId: slot, member: { id: 'too-early' }, bookingNumber: wellhubNumber() });
    await expectRejected(w(), 'wellhub', sent.bookingNumber, 'CHECK_IN_AND_CANCELATION_WINDOWS_CLOSED');
  });

  it('CLASS_HAS_BEEN_CANCELED: a session the ledger holds cancelled', async () => {
    const { sessionIds } = await w().offer({ maxParticipants: 5 });
    const sessionId = sessionIds[0] as string;
    const slot = await w().externalSessionId('wellhub', sessionId);
    // The product's session cancellation API comes later (PATCH /v1/sessions takes no status): set the row.
    await db.updateTable('sessions').set({ status: 'cancelled', cancelled_at: new Date() }).where('id', '=', sessionId).execute();
    const sent = await w().world.requestBooking('wellhub', { sessionId: slot, member: { id: 'cancelled-class' }, bookingNumber: wellhubNumber() });
    await expectRejected(w(), 'wellhub', sent.bookingNumber, 'CLASS_HAS_BEEN_CANCELED');
  });

  it('USAGE_RESTRICTION: an activity no longer opted in while its sessions are still published', async () => {
    const { activityId, sessionIds } = await w().offer({ maxParticipants: 5 });
    const slot = await w().externalSessionId('wellhub', sessionIds[0] as string);
    // Its lifecycle stopped first, so that no pass takes the listing down before the request arrives.
    await temporal.client.workflow.getHandle(workflowIds.activityLifecycle(activityId)).terminate('test: the listing stays as it is');
    await db.updateTable('activities').set({ allow_aggregator_bookings: false }).where('id', '=', activityId).execute();
    const sent = await w().world.requestBooking('wellhub', { sessionId: slot, member: { id: 'not-offered' }, bookingNumber: wellhubNumber() });
    await expectRejected(w(), 'wellhub', sent.bookingNumber, 'USAGE_RESTRICTION');
  });

  it('CLASS_NOT_FOUND: a signed request for a slot the service never published', async () => {
    const { activityId } = await w().offer({ maxParticipants: 5 });
    const bookingNumber = `nf-${randomUUID().slice(0, 8)}`;
    const sent = await postWellhub(
      w(),
      wellhubPayload(w(), { bookingNumber, slotId: '987654321', classId: await wellhubClassId(w(), activityId), member: 'lost-member' }),
    );
    expect(sent).toEqual({ status: 200, body: { received: true, duplicate: false } });
    const row = await eventually(async () => {
      const r = await requestRow('wellhub', bookingNumber);
      return r && r.answer !== 'pending' ? r : undefined;
    }, 15_000, 'the request to be answered');
    expect(row).toMatchObject({ decision: 'reject', reason: 'CLASS_NOT_FOUND', session_id: null, booking_id: null });
    expect(await ledgerBookings('wellhub', bookingNumber)).toEqual([]);
    // The rejection was sent with its category (the sandbox knows no such booking, since the test made it up: 404).
    const answers = await wellhubAnswers(w(), bookingNumber);
    expect(answers.map((c) => c.body)).toEqual([expect.objectContaining({ status: 'REJECTED', reason_category: 'CLASS_NOT_FOUND' })]);
  });
});

// --- 2 and 4. invariant 6, and the webhook secret rotation ---------------------------------------------------------

describe('webhooks refused before anything is written (invariant 6), and the webhook secret rotation', () => {
  const w = useWorld(['wellhub']);
  let slotId = '';
  let classId = '';
  /** The connection's webhook secret: the sandbox's, until the rotation test replaces it. */
  let currentSecret = '';
  beforeAll(async () => {
    currentSecret = w().world.sandboxes.wellhub.connection.webhookSecret;
    const { activityId, sessionIds } = await w().offer({ maxParticipants: 20 });
    slotId = await w().externalSessionId('wellhub', sessionIds[0] as string);
    classId = await wellhubClassId(w(), activityId);
  });

  /** Sends the webhook and checks the 4xx and its reason, that no row was written, and that no workflow started. */
  async function expectRefused(bookingNumber: string, send: () => Promise<WebhookAnswer>, status: number, code: string, why: RegExp) {
    const before = await rowCounts(db, WRITTEN_BY_WEBHOOKS);
    const res = await send();
    expect(res.status).toBe(status);
    expect(res.body.error?.code).toBe(code);
    expect(res.body.error?.message).toMatch(why);
    expect(await rowCounts(db, WRITTEN_BY_WEBHOOKS)).toEqual(before);
    await noWorkflow(w(), 'wellhub', bookingNumber);
  }

  const bookingRequest = (bookingNumber: string, o: { gymId?: string } = {}) => wellhubPayload(w(), { bookingNumber, slotId, classId, ...o });
  const cases: Array<[string, (n: string) => Promise<WebhookAnswer>, number, string, RegExp]> = [
    ['a bad signature', (n) => postWellhub(w(), bookingRequest(n), { secret: 'not-the-secret' }), 401, 'invalid_signature', /signature mismatch/],
    ['a missing signature', (n) => postWellhub(w(), bookingRequest(n), { secret: null }), 401, 'invalid_signature', /missing X-Gympass-Signature/],
    ['an unknown aggregator', (n) => postWellhub(w(), bookingRequest(n), { path: '/webhooks/nope' }), 404, 'unknown_aggregator', /nope/],
    ['an unknown venue id', (n) => postWellhub(w(), bookingRequest(n, { gymId: '424242424' })), 404, 'unknown_venue', /no wellhub connection holds this venue/],
    [
      'a booking number of 5,000 characters (it would name a workflow Temporal refuses)',
      (n) => postWellhub(w(), wellhubPayload(w(), { bookingNumber: `${n}${'9'.repeat(5_000)}`, slotId, classId })),
      400,
      'invalid_event',
      /booking_number/,
    ],
    [
      'a member name of 10,000 characters',
      (n) => {
        const body = bookingRequest(n);
        body.event_data.user.name = 'x'.repeat(10_000);
        return postWellhub(w(), body);
      },
      400,
      'invalid_event',
      /event_data\.user\.name/,
    ],
    ['signed garbage JSON', (n) => postWellhub(w(), `{"event_type":"booking-requested","event_data":{"slot":{"booking_number":"${n}"`), 400, 'invalid_event', /venue/],
    [
      'signed JSON missing fields',
      (n) => {
        const body = bookingRequest(n) as { event_data: Partial<WellhubPayload['event_data']> };
        delete body.event_data.user;
        delete body.event_data.timestamp;
        return postWellhub(w(), JSON.stringify(body));
      },
      400,
      'invalid_event',
      /event_data\.user.*event_data\.timestamp|event_data\.timestamp.*event_data\.user/,
    ],
  ];
  it.each(cases)('refuses %s with a 4xx that says why, and changes nothing', async (_name, send, status, code, why) => {
    const bookingNumber = `refused-${randomUUID().slice(0, 8)}`;
    await expectRefused(bookingNumber, () => send(bookingNumber), status, code, why);
  });

  it('takes webhooks signed with the old or the new secret during a rotation, and only the new one after it', async () => {
    const oldSecret = w().world.sandboxes.wellhub.connection.webhookSecret;
    const newSecret = 'new-secret-123';
    const connection = `/v1/connections/${w().connectionIds.wellhub}`;
    const rotated = await request(app).patch(connection).set(bearer(w().key)).send({ credentials: { webhookSecret: newSecret, keepPreviousWebhookSecret: true } });
    expect(rotated.status).toBe(200);
    expect(rotated.body.credentials).toEqual({ apiToken: true, webhookSecret: true, previousWebhookSecret: true });

    const byOld = await heldBackWellhub(w(), { book: { slotId, member: 'rotation-old' } });
    const byNew = await heldBackWellhub(w(), { book: { slotId, member: 'rotation-new' } });
    expect(await postWellhub(w(), byOld, { secret: oldSecret })).toEqual({ status: 200, body: { received: true, duplicate: false } });
    expect(await postWellhub(w(), byNew, { secret: newSecret })).toEqual({ status: 200, body: { received: true, duplicate: false } });
    await reserved(w(), 'wellhub', byOld.event_data.slot.booking_number);
    await reserved(w(), 'wellhub', byNew.event_data.slot.booking_number);

    const ended = await request(app).delete(`${connection}/previous-webhook-secret`).set(bearer(w().key));
    expect(ended.status).toBe(200);
    expect(ended.body.credentials).toEqual({ apiToken: true, webhookSecret: true, previousWebhookSecret: false });
    currentSecret = newSecret;

    const late = await heldBackWellhub(w(), { book: { slotId, member: 'rotation-late' } });
    const lateNumber = late.event_data.slot.booking_number;
    await expectRefused(lateNumber, () => postWellhub(w(), late, { secret: oldSecret }), 401, 'invalid_signature', /signature mismatch/);
    expect(await postWellhub(w(), late, { secret: newSecret })).toEqual({ status: 200, body: { received: true, duplicate: false } });
    await reserved(w(), 'wellhub', lateNumber);
  });

  it("on a paused connection applies a member's cancellation of an existing booking, and rejects a new request at once (USAGE_RESTRICTION)", async () => {
    const booked = await heldBackWellhub(w(), { book: { slotId, member: 'before-pause' } });
    const bookingNumber = booked.event_data.slot.booking_number;
    expect((await postWellhub(w(), booked, { secret: currentSecret })).status).toBe(200);
    await reserved(w(), 'wellhub', bookingNumber);

    const connection = `/v1/connections/${w().connectionIds.wellhub}`;
    const paused = await request(app).patch(connection).set(bearer(w().key)).send({ status: 'paused' });
    expect(paused.status).toBe(200);
    expect(paused.body.status).toBe('paused');
    try {
      // An aggregator does not resend an event answered 4xx: refusing it would leave the spot taken for ever.
      const cancelled = await heldBackWellhub(w(), { cancel: bookingNumber });
      expect(await postWellhub(w(), cancelled, { secret: currentSecret })).toEqual({ status: 200, body: { received: true, duplicate: false } });
      await ledgerStatus('wellhub', bookingNumber, 'cancelled_by_customer');

      const late = await heldBackWellhub(w(), { book: { slotId, member: 'while-paused' } });
      const lateNumber = late.event_data.slot.booking_number;
      expect(await postWellhub(w(), late, { secret: currentSecret })).toEqual({ status: 200, body: { received: true, duplicate: false } });
      await expectRejected(w(), 'wellhub', lateNumber, 'USAGE_RESTRICTION');
      expect((await requestRow('wellhub', lateNumber))?.message).toMatch(/paused: it takes no new bookings/);
    } finally {
      expect((await request(app).patch(connection).set(bearer(w().key)).send({ status: 'active' })).status).toBe(200);
    }
  });
});

// --- 3 and 5. idempotency, and the member's cancellations and check-in ----------------------------------------------

describe('Wellhub and Onefit bookings after the request', () => {
  const w = useWorld(['wellhub', 'onefit']);

  describe('one booking number, one booking, one answer (invariant 2)', () => {
    it('takes the same Wellhub request posted 4 times at once as one booking told once, and a redelivery after the decision the same', async () => {
      const { sessionIds } = await w().offer({ maxParticipants: 5 });
      const slotId = await w().externalSessionId('wellhub', sessionIds[0] as string);
      const event = await heldBackWellhub(w(), { book: { slotId, member: 'four-times' } });
      const bookingNumber = event.event_data.slot.booking_number;
      const raw = JSON.stringify(event);

      const answers = await Promise.all(Array.from({ length: 4 }, () => postWellhub(w(), raw)));
      for (const answer of answers) {
        expect(answer.status).toBe(200);
        expect(answer.body.received).toBe(true);
      }
      expect(answers.filter((a) => a.body.duplicate === false)).toHaveLength(1);

      await reserved(w(), 'wellhub', bookingNumber);
      expect(await ledgerBookings('wellhub', bookingNumber)).toHaveLength(1);
      expect(await inboxRows('wellhub', bookingNumber)).toHaveLength(1);
      const told = await wellhubAnswers(w(), bookingNumber);
      expect(told.map((c) => [c.body, c.status])).toEqual([[{ status: 'RESERVED' }, 204]]);

      // A redelivery while the run still lingers joins it: nothing happens again, and it hears the decision.
      expect(await postWellhub(w(), raw)).toEqual({ status: 200, body: { received: true, duplicate: true, decision: { status: 'RESERVED' } } });
      // After the run ended (as after its linger), a redelivery is answered from the ledger: the response repeats the
      // decision, no run starts again, and Wellhub, which has it already, is not told twice.
      const handle = temporal.client.workflow.getHandle(workflowIds.bookingRequest({ aggregator: 'wellhub', connectionId: w().connectionIds.wellhub, bookingNumber }));
      await handle.terminate('test: the run is over, as after its linger');
      expect(await postWellhub(w(), raw)).toEqual({ status: 200, body: { received: true, duplicate: true, decision: { status: 'RESERVED' } } });
      await new Promise((resolve) => setTimeout(resolve, 500));
      expect((await handle.describe()).status.name).toBe('TERMINATED');
      expect((await wellhubAnswers(w(), bookingNumber)).map((c) => [c.body, c.status])).toEqual([[{ status: 'RESERVED' }, 204]]);
      expect(await w().world.booking('wellhub', bookingNumber)).toEqual({ status: 'reserved', reason: null, autoRejected: false });
      const bookings = await ledgerBookings('wellhub', bookingNumber);
      expect(bookings.map((b) => b.status)).toEqual(['reserved']);
      expect(await requestRow('wellhub', bookingNumber)).toMatchObject({ decision: 'reserve', answer: 'sent' });
    });

    it('answers a redelivered Onefit request with the same decision in the response body', async () => {
      const { sessionIds } = await w().offer({ maxParticipants: 5 });
      const reference = await w().externalSessionId('onefit', sessionIds[0] as string);
      const confirmed = await w().world.requestBooking('onefit', { sessionId: reference, member: { id: 'onefit-member' } });
      await reserved(w(), 'onefit', confirmed.bookingNumber);
      const refused = await w().world.requestBooking('onefit', { sessionId: reference, member: { id: 'onefit-member' } });
      await expectRejectedOnefit(refused.bookingNumber);

      for (const [bookingNumber, decision] of [
        [confirmed.bookingNumber, { status: 'confirmed' }],
        [refused.bookingNumber, { status: 'rejected', reason_code: 'already_booked' }],
      ] as const) {
        const deliveries = async () =>
          (await sandboxJson<{ deliveries: Array<{ eventId: string; bookingId: string; type: string; answer?: unknown }> }>(control(w(), 'onefit', '/deliveries'))).deliveries.filter(
            (d) => d.bookingId === bookingNumber && d.type === 'booking.requested',
          );
        const [first] = await deliveries();
        if (!first) throw new Error('no delivery');
        await sandboxJson(control(w(), 'onefit', `/events/${first.eventId}/redeliver`), { method: 'POST' });
        const both = await deliveries();
        expect(both).toHaveLength(2);
        expect(both.map((d) => d.eventId)).toEqual([first.eventId, first.eventId]);
        expect(both[0]?.answer).toMatchObject(decision);
        expect(both[1]?.answer).toEqual(both[0]?.answer);
        expect(await ledgerBookings('onefit', bookingNumber)).toHaveLength(1);
      }
      expect((await w().world.booking('onefit', confirmed.bookingNumber))?.status).toBe('reserved');
      expect((await ledgerBookings('onefit', confirmed.bookingNumber))[0]?.status).toBe('reserved');
    });

    async function expectRejectedOnefit(bookingNumber: string) {
      const held = await heldStatus(w(), 'onefit', bookingNumber, 'rejected');
      expect(held.reason).toBe('already_booked');
      const b = await ledgerStatus('onefit', bookingNumber, 'rejected');
      expect(b.status_reason).toBe('USER_IS_ALREADY_BOOKED');
    }
  });

  describe("the member's cancellations and check-in", () => {
    /** The session as the aggregator shows it: [booked, capacity]. */
    const shown = async (aggregator: Aggregator, sessionId: string) => {
      const external = await w().externalSessionId(aggregator, sessionId);
      const s = (await w().world.held(aggregator)).sessions.find((x) => x.id === external);
      return s ? [s.booked, s.capacity] : undefined;
    };
    const showsEventually = (aggregator: Aggregator, sessionId: string, expected: [number, number]) =>
      eventually(
        async () => {
          const now = await shown(aggregator, sessionId);
          return now?.[0] === expected[0] && now[1] === expected[1] ? true : undefined;
        },
        20_000,
        `${aggregator} to show ${expected.join('/')}`,
      );

    it('cancels a reserved booking for the member and frees the spot at every aggregator', async () => {
      const { sessionIds } = await w().offer({ maxParticipants: 5 });
      const sessionId = sessionIds[0] as string;
      const { bookingNumber } = await w().world.requestBooking('wellhub', { sessionId: await w().externalSessionId('wellhub', sessionId), member: { id: 'canceller' }, bookingNumber: wellhubNumber() });
      await reserved(w(), 'wellhub', bookingNumber);
      await showsEventually('wellhub', sessionId, [1, 5]);
      await showsEventually('onefit', sessionId, [0, 4]);

      await w().world.memberCancel('wellhub', bookingNumber);
      await ledgerStatus('wellhub', bookingNumber, 'cancelled_by_customer');
      await showsEventually('wellhub', sessionId, [0, 5]);
      await showsEventually('onefit', sessionId, [0, 5]);
      expect((await inboxRows('wellhub', bookingNumber)).map((r) => [r.event_type, r.outcome])).toEqual([
        ['booking_requested', 'applied'],
        ['booking_cancelled', 'applied'],
      ]);
    });

    it('records a late cancellation as late_cancelled and a check-in as attended', async () => {
      const { sessionIds } = await w().offer({ maxParticipants: 5 });
      const slotId = await w().externalSessionId('wellhub', sessionIds[0] as string);
      const late = await w().world.requestBooking('wellhub', { sessionId: slotId, member: { id: 'late-one' }, bookingNumber: wellhubNumber() });
      const present = await w().world.requestBooking('wellhub', { sessionId: slotId, member: { id: 'present-one' }, bookingNumber: wellhubNumber() });
      await reserved(w(), 'wellhub', late.bookingNumber);
      await reserved(w(), 'wellhub', present.bookingNumber);

      await w().world.memberCancel('wellhub', late.bookingNumber, true);
      await w().world.checkIn('wellhub', present.bookingNumber);
      const lateBooking = await ledgerStatus('wellhub', late.bookingNumber, 'late_cancelled');
      expect(lateBooking.status_reason).toBe('late cancellation');
      await ledgerStatus('wellhub', present.bookingNumber, 'attended');
      // The late cancellation frees the spot too: only the attended booking still counts.
      await showsEventually('wellhub', sessionIds[0] as string, [1, 5]);
      await showsEventually('onefit', sessionIds[0] as string, [0, 4]);
    });

    it('applies a cancellation that arrives before its request once the request comes, losing neither', async () => {
      const { sessionIds } = await w().offer({ maxParticipants: 5 });
      const sessionId = sessionIds[0] as string;
      const slotId = await w().externalSessionId('wellhub', sessionId);
      // The member books and cancels at Wellhub; the two webhooks reach the service in the wrong order.
      const requested = await heldBackWellhub(w(), { book: { slotId, member: 'early-canceller' } });
      const bookingNumber = requested.event_data.slot.booking_number;
      const cancelled = await heldBackWellhub(w(), { cancel: bookingNumber });
      expect(cancelled.event_type).toBe('booking-canceled');

      expect(await postWellhub(w(), cancelled)).toEqual({ status: 200, body: { received: true, duplicate: false } });
      await eventually(async () => {
        const rows = await inboxRows('wellhub', bookingNumber);
        return rows[0]?.outcome === 'waiting_for_request' ? true : undefined;
      }, 10_000, 'the cancellation to wait for its request');
      expect(await postWellhub(w(), requested)).toEqual({ status: 200, body: { received: true, duplicate: false } });

      // Both events end applied or consciously settled, none left waiting; the spot is not held.
      const rows = await eventually(async () => {
        const r = await inboxRows('wellhub', bookingNumber);
        return r.length === 2 && r.every((x) => x.outcome !== null && x.outcome !== 'waiting_for_request') ? r : undefined;
      }, 15_000, 'both events to be processed');
      expect(rows.map((r) => r.event_type).sort()).toEqual(['booking_cancelled', 'booking_requested']);
      const booking = await eventually(async () => {
        const [b] = await ledgerBookings('wellhub', bookingNumber);
        return b && (b.status === 'cancelled_by_customer' || b.status === 'rejected') ? b : undefined;
      }, 15_000, 'the booking to end cancelled or rejected');
      expect(await ledgerBookings('wellhub', bookingNumber)).toHaveLength(1);
      const row = await requestRow('wellhub', bookingNumber);
      expect(row?.answer).not.toBe('pending');
      expect(row?.decision).toBe('reject');
      // The waiting cancellation settles the request: nothing is sent to Wellhub (the member cancelled there), the
      // spot held for a moment is freed, and both inbox events end applied.
      expect(row?.answer).toBe('not_needed');
      expect(booking.status).toBe('rejected');
      expect(rows.map((r) => r.outcome)).toEqual(['applied', 'applied']);
      const answers = await fetch(`${w().world.sandboxes.wellhub.url}/__sandbox/calls`).then((r) => r.json());
      expect(JSON.stringify(answers)).not.toContain(bookingNumber);
      expect((await w().world.booking('wellhub', bookingNumber))?.status).toBe('cancelled_by_member');
      await showsEventually('wellhub', sessionId, [0, 5]);
    });
  });
});
