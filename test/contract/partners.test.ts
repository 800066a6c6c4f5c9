import { randomUUID } from 'node:crypto';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { createClasspassAdapter } from '../../aggregators/classpass/index.js';
import { startClasspassSandbox } from '../../aggregators/classpass/sandbox/index.js';
import { createEgymWellpassAdapter } from '../../aggregators/egym_wellpass/index.js';
import { startEgymWellpassSandbox } from '../../aggregators/egym_wellpass/sandbox/index.js';
import { AggregatorHttpError } from '../../aggregators/http.js';
import { createOnefitAdapter } from '../../aggregators/onefit/index.js';
import { startOnefitSandbox } from '../../aggregators/onefit/sandbox/index.js';
import { partnerErrorCode, type PartnerAdapter, type PartnerAdapterOptions } from '../../aggregators/partner/index.js';
import type { PartnerSandbox, PartnerSandboxOptions } from '../../aggregators/partner/sandbox/index.js';
import type { ConnectionContext, SessionRef, WebhookRequest } from '../../aggregators/types.js';
import type { ActivityListing, SessionListing } from '../../domain/listing.js';
import { createWorkitAdapter } from '../../aggregators/workit/index.js';
import { startWorkitSandbox } from '../../aggregators/workit/sandbox/index.js';
import { formatInOffset } from '../../domain/time.js';

const TOKEN = 'partner-test-api-key-5f2c';
const SECRET = 'partner-test-webhook-secret-81ad';
const VENUE = 'venue-1';
const OTHER_VENUE = 'venue-2';
const MIN = 60_000;
const HOUR = 60 * MIN;
const DAY = 24 * HOUR;
const TIMEOUT_MS = 400;
/** Redeliveries in these tests come after 40 and 80 ms on the sandbox clock (it follows the real one). */
const RETRY_DELAYS_MS = [40, 80];

interface Partner {
  id: 'classpass' | 'egym_wellpass' | 'onefit' | 'workit';
  createAdapter: (options?: PartnerAdapterOptions) => PartnerAdapter;
  start: (options: PartnerSandboxOptions) => Promise<PartnerSandbox>;
}

const PARTNERS: Partner[] = [
  { id: 'classpass', createAdapter: createClasspassAdapter, start: startClasspassSandbox },
  { id: 'egym_wellpass', createAdapter: createEgymWellpassAdapter, start: startEgymWellpassSandbox },
  { id: 'onefit', createAdapter: createOnefitAdapter, start: startOnefitSandbox },
  { id: 'workit', createAdapter: createWorkitAdapter, start: startWorkitSandbox },
];

// ---- A webhook receiver standing in for our service ----

interface Received extends WebhookRequest {
  path: string;
}
interface Reply {
  status: number;
  body?: unknown;
  delayMs?: number;
}
interface Receiver {
  url: string;
  received: Received[];
  /** How the next requests are answered; the default acknowledges (and, for Onefit, confirms). */
  reply: (request: Received, index: number) => Reply;
  reset(): void;
  close(): Promise<void>;
}

const acknowledge = (): Reply => ({ status: 200, body: { status: 'confirmed' } });

async function startReceiver(): Promise<Receiver> {
  const receiver: Receiver = {
    url: '',
    received: [],
    reply: acknowledge,
    reset() {
      receiver.received = [];
      receiver.reply = acknowledge;
    },
    close: () => Promise.resolve(),
  };
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const request: Received = { path: req.url ?? '', rawBody: Buffer.concat(chunks), headers: flatten(req.headers) };
      receiver.received.push(request);
      const reply = receiver.reply(request, receiver.received.length - 1);
      const send = () => {
        if (res.destroyed) return;
        const body = reply.body === undefined ? '' : typeof reply.body === 'string' ? reply.body : JSON.stringify(reply.body);
        res.writeHead(reply.status, { 'content-type': typeof reply.body === 'string' ? 'text/plain' : 'application/json' });
        res.end(body);
      };
      if (reply.delayMs) setTimeout(send, reply.delayMs);
      else send();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  receiver.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/webhooks/partner`;
  receiver.close = () =>
    new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
  return receiver;
}

function flatten(headers: IncomingHttpHeaders): Record<string, string | undefined> {
  const out: Record<string, string | undefined> = {};
  for (const [name, value] of Object.entries(headers)) out[name] = Array.isArray(value) ? value.join(', ') : value;
  return out;
}

// ---- Listings, in our vocabulary; times relative to now so the suite does not age ----

const START = Date.now() + 10 * DAY;
const at = (offsetMs: number) => formatInOffset(new Date(START + offsetMs), '+01:00');
const REF: SessionRef = { activityExternalId: 'activity-1', sessionExternalId: 'session-1' };

function activity(overrides: Partial<ActivityListing> = {}): ActivityListing {
  return { activityId: 'activity-1', name: 'Yoga', description: 'Vinyasa flow', category: 'yoga', bookable: true, visible: true, ...overrides };
}

function session(overrides: Partial<SessionListing> = {}): SessionListing {
  return {
    sessionId: 'session-1',
    startsAt: at(0),
    durationMinutes: 60,
    room: 'Studio 1',
    instructors: [{ name: 'Ana', substitute: false }],
    totalCapacity: 12,
    totalBooked: 3,
    bookingOpensAt: at(-5 * DAY),
    bookingClosesAt: at(-30 * MIN),
    cancellableUntil: at(-2 * HOUR),
    active: true,
    ...overrides,
  };
}

const validActivityBody = () => ({ name: 'Yoga', description: 'Vinyasa flow', notes: null, category: 'yoga', bookable: true, visible: true });
const validSessionBody = () => ({
  activity_reference: 'activity-1',
  starts_at: at(0),
  duration_minutes: 60,
  room: 'Studio 1',
  instructors: [{ name: 'Ana', substitute: false }],
  capacity: 12,
  booked: 3,
  booking_opens_at: at(-5 * DAY),
  booking_closes_at: at(-30 * MIN),
  cancellable_until: at(-2 * HOUR),
  active: true,
});

async function failure(promise: Promise<unknown>): Promise<AggregatorHttpError> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(AggregatorHttpError);
    return error as AggregatorHttpError;
  }
  throw new Error('expected the call to fail');
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

// ---- Cases shared by every partner ----

type AdapterCall = (adapter: PartnerAdapter, ctx: ConnectionContext) => Promise<unknown>;

/** Every client-side validation: the adapter refuses before sending, naming the field. */
const CLIENT_CASES: [string, string, AdapterCall][] = [
  ['an empty activity name', 'name', (a, c) => a.pushActivity(c, activity({ name: '' }))],
  ['an activity name over 200 characters', 'name', (a, c) => a.updateActivity(c, 'activity-1', activity({ name: 'x'.repeat(201) }))],
  ['a description over 4000 characters', 'description', (a, c) => a.pushActivity(c, activity({ description: 'x'.repeat(4001) }))],
  ['notes over 2000 characters', 'notes', (a, c) => a.pushActivity(c, activity({ notes: 'x'.repeat(2001) }))],
  ['an empty category', 'category', (a, c) => a.hideActivity(c, 'activity-1', activity({ category: '' }))],
  ['an activity id with a slash', 'reference', (a, c) => a.pushActivity(c, activity({ activityId: 'a/b' }))],
  ['a venue id with a space', 'venue_id', (a, c) => a.pushActivity({ ...c, externalVenueId: 'venue 1' }, activity())],
  ['a start without UTC offset', 'starts_at', (a, c) => a.createSession(c, 'activity-1', session({ startsAt: '2026-12-01T18:00:00' }))],
  ['a duration of 0', 'duration_minutes', (a, c) => a.createSession(c, 'activity-1', session({ durationMinutes: 0 }))],
  ['a duration over a day', 'duration_minutes', (a, c) => a.createSession(c, 'activity-1', session({ durationMinutes: 1441 }))],
  ['a fractional duration', 'duration_minutes', (a, c) => a.createSession(c, 'activity-1', session({ durationMinutes: 1.5 }))],
  ['an empty room', 'room', (a, c) => a.updateSession(c, REF, session({ room: '' }))],
  ['21 instructors', 'instructors', (a, c) => a.createSession(c, 'activity-1', session({ instructors: Array.from({ length: 21 }, () => ({ name: 'I', substitute: false })) }))],
  ['an instructor without a name', 'instructors.0.name', (a, c) => a.createSession(c, 'activity-1', session({ instructors: [{ name: '', substitute: true }] }))],
  ['a negative capacity', 'capacity', (a, c) => a.createSession(c, 'activity-1', session({ totalCapacity: -1, totalBooked: 0 }))],
  ['a capacity over 10000', 'capacity', (a, c) => a.createSession(c, 'activity-1', session({ totalCapacity: 10_001 }))],
  ['more booked than capacity', 'booked', (a, c) => a.updateSession(c, REF, session({ totalCapacity: 2, totalBooked: 3 }))],
  ['a negative booked count', 'booked', (a, c) => a.createSession(c, 'activity-1', session({ totalBooked: -1 }))],
  ['booking opening after it closes', 'booking_opens_at', (a, c) => a.createSession(c, 'activity-1', session({ bookingOpensAt: at(-10 * MIN), bookingClosesAt: at(-20 * MIN) }))],
  ['booking closing after the session ends', 'booking_closes_at', (a, c) => a.createSession(c, 'activity-1', session({ bookingClosesAt: at(61 * MIN) }))],
  ['a cancellation cutoff after the session ends', 'cancellable_until', (a, c) => a.createSession(c, 'activity-1', session({ cancellableUntil: at(2 * HOUR) }))],
  ['an activity reference with a space', 'activity_reference', (a, c) => a.createSession(c, 'activity 1', session())],
  ['a session reference with a space', 'reference', (a, c) => a.updateSession(c, { ...REF, sessionExternalId: 'session 1' }, session())],
  ['counts with nothing to change', '(body)', (a, c) => a.patchSessionCounts(c, REF, {})],
  ['counts with more booked than capacity', 'booked', (a, c) => a.patchSessionCounts(c, REF, { totalCapacity: 2, totalBooked: 3 })],
  ['a negative capacity count', 'capacity', (a, c) => a.patchSessionCounts(c, REF, { totalCapacity: -1 })],
  ['deleting a session with a bad reference', 'reference', (a, c) => a.deleteSession(c, { ...REF, sessionExternalId: '' })],
  ['cancelling a session with a bad reference', 'reference', (a, c) => a.cancelSession(c, { ...REF, sessionExternalId: 's?1' })],
  ['confirming a booking number with a space', 'booking_id', (a, c) => a.confirmBooking(c, { bookingNumber: 'bk 1' })],
  ['rejecting a booking number over 128 characters', 'booking_id', (a, c) => a.rejectBooking(c, { bookingNumber: 'b'.repeat(129) }, 'CLASS_IS_FULL')],
  ['listing with a range ending before it starts', 'to', (a, c) => a.listSessions(c, 'activity-1', { from: at(HOUR), to: at(0) })],
  ['listing from a time without UTC offset', 'from', (a, c) => a.listSessions(c, 'activity-1', { from: '2026-12-01T18:00:00', to: at(0) })],
  ['listing an activity reference with a space', 'activity_reference', (a, c) => a.listSessions(c, 'activity 1', { from: at(0), to: at(HOUR) })],
];

/** Every sandbox validation, by a raw request: 400 validation_failed naming the field. */
const RAW_CASES: [string, 'PUT' | 'PATCH' | 'POST', string, unknown, string][] = [
  ['an empty name', 'PUT', '/v1/venues/venue-1/activities/activity-1', { ...validActivityBody(), name: '' }, 'name'],
  ['a name over 200 characters', 'PUT', '/v1/venues/venue-1/activities/activity-1', { ...validActivityBody(), name: 'x'.repeat(201) }, 'name'],
  ['a description over 4000 characters', 'PUT', '/v1/venues/venue-1/activities/activity-1', { ...validActivityBody(), description: 'x'.repeat(4001) }, 'description'],
  ['notes over 2000 characters', 'PUT', '/v1/venues/venue-1/activities/activity-1', { ...validActivityBody(), notes: 'x'.repeat(2001) }, 'notes'],
  ['an empty category', 'PUT', '/v1/venues/venue-1/activities/activity-1', { ...validActivityBody(), category: '' }, 'category'],
  ['a bookable flag that is a string', 'PUT', '/v1/venues/venue-1/activities/activity-1', { ...validActivityBody(), bookable: 'yes' }, 'bookable'],
  ['a missing visible flag', 'PUT', '/v1/venues/venue-1/activities/activity-1', { ...validActivityBody(), visible: undefined }, 'visible'],
  ['an unknown activity field', 'PUT', '/v1/venues/venue-1/activities/activity-1', { ...validActivityBody(), colour: 'red' }, 'colour'],
  ['a venue id with a space', 'PUT', '/v1/venues/venue%201/activities/activity-1', validActivityBody(), 'venue_id'],
  ['a reference with a slash', 'PUT', '/v1/venues/venue-1/activities/a%2Fb', validActivityBody(), 'reference'],
  ['a start without UTC offset', 'PUT', '/v1/venues/venue-1/sessions/session-1', { ...validSessionBody(), starts_at: '2026-12-01T18:00:00' }, 'starts_at'],
  ['a duration of 0', 'PUT', '/v1/venues/venue-1/sessions/session-1', { ...validSessionBody(), duration_minutes: 0 }, 'duration_minutes'],
  ['a duration over a day', 'PUT', '/v1/venues/venue-1/sessions/session-1', { ...validSessionBody(), duration_minutes: 1441 }, 'duration_minutes'],
  ['a fractional duration', 'PUT', '/v1/venues/venue-1/sessions/session-1', { ...validSessionBody(), duration_minutes: 1.5 }, 'duration_minutes'],
  ['an empty room', 'PUT', '/v1/venues/venue-1/sessions/session-1', { ...validSessionBody(), room: '' }, 'room'],
  ['21 instructors', 'PUT', '/v1/venues/venue-1/sessions/session-1', { ...validSessionBody(), instructors: Array.from({ length: 21 }, () => ({ name: 'I', substitute: false })) }, 'instructors'],
  ['an instructor without a name', 'PUT', '/v1/venues/venue-1/sessions/session-1', { ...validSessionBody(), instructors: [{ name: '', substitute: false }] }, 'instructors.0.name'],
  ['an unknown instructor field', 'PUT', '/v1/venues/venue-1/sessions/session-1', { ...validSessionBody(), instructors: [{ name: 'A', substitute: false, rating: 5 }] }, 'instructors.0.rating'],
  ['a negative capacity', 'PUT', '/v1/venues/venue-1/sessions/session-1', { ...validSessionBody(), capacity: -1, booked: 0 }, 'capacity'],
  ['a capacity over 10000', 'PUT', '/v1/venues/venue-1/sessions/session-1', { ...validSessionBody(), capacity: 10_001 }, 'capacity'],
  ['more booked than capacity', 'PUT', '/v1/venues/venue-1/sessions/session-1', { ...validSessionBody(), capacity: 2, booked: 3 }, 'booked'],
  ['a negative booked count', 'PUT', '/v1/venues/venue-1/sessions/session-1', { ...validSessionBody(), booked: -1 }, 'booked'],
  ['booking opening after it closes', 'PUT', '/v1/venues/venue-1/sessions/session-1', { ...validSessionBody(), booking_opens_at: at(-10 * MIN), booking_closes_at: at(-20 * MIN) }, 'booking_opens_at'],
  ['booking closing after the session ends', 'PUT', '/v1/venues/venue-1/sessions/session-1', { ...validSessionBody(), booking_closes_at: at(61 * MIN) }, 'booking_closes_at'],
  ['a cancellation cutoff after the session ends', 'PUT', '/v1/venues/venue-1/sessions/session-1', { ...validSessionBody(), cancellable_until: at(2 * HOUR) }, 'cancellable_until'],
  ['an activity reference with a space', 'PUT', '/v1/venues/venue-1/sessions/session-1', { ...validSessionBody(), activity_reference: 'activity 1' }, 'activity_reference'],
  ['a missing active flag', 'PUT', '/v1/venues/venue-1/sessions/session-1', { ...validSessionBody(), active: undefined }, 'active'],
  ['availability with nothing to change', 'PATCH', '/v1/venues/venue-1/sessions/session-1/availability', {}, '(body)'],
  ['availability with more booked than capacity', 'PATCH', '/v1/venues/venue-1/sessions/session-1/availability', { capacity: 2, booked: 3 }, 'booked'],
  ['a negative capacity count', 'PATCH', '/v1/venues/venue-1/sessions/session-1/availability', { capacity: -1 }, 'capacity'],
  ['a booked count that is a string', 'PATCH', '/v1/venues/venue-1/sessions/session-1/availability', { booked: '3' }, 'booked'],
  ['an unknown availability field', 'PATCH', '/v1/venues/venue-1/sessions/session-1/availability', { booked: 3, waitlist: 2 }, 'waitlist'],
  ['an empty cancellation reason', 'POST', '/v1/venues/venue-1/sessions/session-1/cancel', { reason: '' }, 'reason'],
  ['a cancellation reason over 500 characters', 'POST', '/v1/venues/venue-1/sessions/session-1/cancel', { reason: 'x'.repeat(501) }, 'reason'],
  ['a confirmation without venue', 'POST', '/v1/bookings/bk-1/confirm', {}, 'venue_id'],
  ['a rejection with our category instead of a reason code', 'POST', '/v1/bookings/bk-1/reject', { venue_id: VENUE, reason_code: 'CLASS_IS_FULL' }, 'reason_code'],
  ['a rejection message over 500 characters', 'POST', '/v1/bookings/bk-1/reject', { venue_id: VENUE, reason_code: 'session_full', message: 'x'.repeat(501) }, 'message'],
  ['an unknown cancellation field', 'POST', '/v1/bookings/bk-1/cancel', { venue_id: VENUE, refund: true }, 'refund'],
  ['a booking id with a space', 'POST', '/v1/bookings/bk%201/confirm', { venue_id: VENUE }, 'booking_id'],
];

/** Every refusal of the session listing's query, by a raw request: 400 validation_failed naming the field. */
const LIST_CASES: [string, string, string][] = [
  ['a from without UTC offset', '/v1/venues/venue-1/sessions?from=2026-12-01T18:00:00', 'from'],
  ['an unencoded + in the offset (read as a space)', '/v1/venues/venue-1/sessions?to=2026-12-01T18:00:00+01:00', 'to'],
  ['a to before from', `/v1/venues/venue-1/sessions?${new URLSearchParams({ from: '2026-12-01T18:00:00+01:00', to: '2026-12-01T16:59:59Z' }).toString()}`, 'to'],
  ['a limit of 0', '/v1/venues/venue-1/sessions?limit=0', 'limit'],
  ['a limit over 500', '/v1/venues/venue-1/sessions?limit=501', 'limit'],
  ['a fractional limit', '/v1/venues/venue-1/sessions?limit=1.5', 'limit'],
  ['a limit that is not a number', '/v1/venues/venue-1/sessions?limit=ten', 'limit'],
  ['a repeated limit', '/v1/venues/venue-1/sessions?limit=1&limit=2', 'limit'],
  ['a cursor the sandbox did not issue', '/v1/venues/venue-1/sessions?cursor=abc', 'cursor'],
  ['an empty cursor', '/v1/venues/venue-1/sessions?cursor=', 'cursor'],
  ['an activity reference with a space', '/v1/venues/venue-1/sessions?activity_reference=activity%201', 'activity_reference'],
  ['an unknown parameter', '/v1/venues/venue-1/sessions?status=scheduled', 'status'],
  ['a venue id with a space', '/v1/venues/venue%201/sessions', 'venue_id'],
];

describe.each(PARTNERS)('$id adapter against its sandbox', ({ id, createAdapter, start }) => {
  let sandbox: PartnerSandbox;
  let receiver: Receiver;
  let adapter: PartnerAdapter;
  let scope: string | undefined;
  let ctx: ConnectionContext;
  const synchronous = id === 'onefit';

  beforeAll(async () => {
    receiver = await startReceiver();
    sandbox = await start({
      apiToken: TOKEN,
      webhookSecret: SECRET,
      webhookUrl: receiver.url,
      venues: [VENUE, OTHER_VENUE],
      // Onefit keeps its profile's "never redelivered"; the others redeliver quickly here.
      ...(synchronous ? {} : { webhookRetryDelaysMs: RETRY_DELAYS_MS }),
    });
    adapter = createAdapter({ timeoutMs: TIMEOUT_MS, idempotencyScope: () => scope });
    ctx = { connectionId: `conn-${id}`, externalVenueId: VENUE, baseUrl: sandbox.url, credentials: { apiToken: TOKEN, webhookSecret: SECRET }, settings: {} };
  });
  afterAll(async () => {
    await sandbox.close();
    await receiver.close();
  });
  beforeEach(() => {
    sandbox.reset();
    receiver.reset();
    scope = undefined;
  });

  const publish = async (listing: SessionListing = session()) => {
    await adapter.pushActivity(ctx, activity());
    await adapter.createSession(ctx, 'activity-1', listing);
  };
  const booking = (bookingId: string) => sandbox.state().bookings.find((candidate) => candidate.id === bookingId);
  const sessionState = (reference = 'session-1') =>
    sandbox.state().sessions.find((candidate) => candidate.reference === reference)!;
  /** A confirmed booking, whichever way this aggregator confirms. */
  const confirmedBooking = async (bookingId?: string) => {
    const sent = await sandbox.sendBookingRequest({ venueId: VENUE, sessionReference: 'session-1', bookingId });
    if (!synchronous) await adapter.confirmBooking(ctx, { bookingNumber: sent.booking.id });
    expect(booking(sent.booking.id)?.status).toBe('confirmed');
    return sent.booking.id;
  };
  const raw = async (method: string, path: string, body?: unknown, headers: Record<string, string> = {}) => {
    const response = await fetch(`${sandbox.url}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${TOKEN}`,
        'idempotency-key': randomUUID(),
        ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
        ...headers,
      },
      ...(body !== undefined ? { body: typeof body === 'string' ? body : JSON.stringify(body) } : {}),
    });
    const text = await response.text();
    return { status: response.status, headers: response.headers, body: text ? JSON.parse(text) : undefined };
  };

  describe('endpoints', () => {
    it('checks health with the API key, and a wrong key is a non-retryable 401', async () => {
      await expect(adapter.health(ctx)).resolves.toBeUndefined();
      const error = await failure(adapter.health({ ...ctx, credentials: { apiToken: 'wrong' } }));
      expect(error).toMatchObject({ status: 401, retryable: false, aggregatorMessage: 'API key is not valid', aggregator: id });
      expect((await raw('GET', '/v1/health', undefined, { authorization: '' })).status).toBe(401);
    });

    it('pushes, updates and hides an activity (never deletes it)', async () => {
      await expect(adapter.pushActivity(ctx, activity({ notes: 'Bring a mat' }))).resolves.toEqual({ externalId: 'activity-1' });
      await adapter.updateActivity(ctx, 'activity-1', activity({ name: 'Yin Yoga', category: null }));
      expect(sandbox.state().activities).toEqual([
        expect.objectContaining({ reference: 'activity-1', venue_id: VENUE, name: 'Yin Yoga', category: null, notes: null, bookable: true, visible: true }),
      ]);
      await adapter.hideActivity(ctx, 'activity-1', activity());
      expect(sandbox.state().activities[0]).toMatchObject({ name: 'Yoga', bookable: false, visible: false });
      const calls = sandbox.calls();
      expect(calls.map((call) => `${call.method} ${call.path} ${call.status}`)).toEqual([
        'PUT /v1/venues/venue-1/activities/activity-1 201',
        'PUT /v1/venues/venue-1/activities/activity-1 200',
        'PUT /v1/venues/venue-1/activities/activity-1 200',
      ]);
      expect(calls.every((call) => call.headers['idempotency-key'] !== undefined)).toBe(true);
    });

    it('creates, updates, patches and deletes a session, keeping the venue offset', async () => {
      await adapter.pushActivity(ctx, activity());
      await expect(adapter.createSession(ctx, 'activity-1', session())).resolves.toEqual({ externalId: 'session-1' });
      expect(sessionState()).toMatchObject({
        activity_reference: 'activity-1',
        starts_at: at(0),
        duration_minutes: 60,
        room: 'Studio 1',
        instructors: [{ name: 'Ana', substitute: false }],
        capacity: 12,
        booked: 3,
        available: 9,
        booking_closes_at: at(-30 * MIN),
        cancellable_until: at(-2 * HOUR),
        status: 'scheduled',
      });
      expect(sessionState().starts_at).toMatch(/\+01:00$/);
      await adapter.updateSession(ctx, REF, session({ room: null, instructors: [], bookingOpensAt: undefined, active: false }));
      expect(sessionState()).toMatchObject({ room: null, instructors: [], booking_opens_at: null, active: false });
      await adapter.patchSessionCounts(ctx, REF, { totalBooked: 5 });
      expect(sessionState()).toMatchObject({ capacity: 12, booked: 5, available: 7 });
      await adapter.patchSessionCounts(ctx, REF, { totalCapacity: 8, totalBooked: 8 });
      expect(sessionState()).toMatchObject({ capacity: 8, booked: 8, available: 0 });
      await adapter.deleteSession(ctx, REF);
      expect(sandbox.state().sessions).toEqual([]);
      expect(sandbox.calls({ method: 'DELETE' })[0]?.status).toBe(204);
    });

    it('cancels a session with every booking in it, idempotently, and refuses changes to it afterwards', async () => {
      await publish();
      const confirmed = await confirmedBooking();
      await adapter.cancelSession(ctx, REF, 'Instructor ill');
      expect(sessionState()).toMatchObject({ status: 'cancelled', cancellation_reason: 'Instructor ill' });
      expect(booking(confirmed)?.status).toBe('cancelled_by_venue');
      await expect(adapter.cancelSession(ctx, REF)).resolves.toBeUndefined();
      const error = await failure(adapter.updateSession(ctx, REF, session()));
      expect(error).toMatchObject({ status: 409, retryable: true, aggregatorMessage: 'session session-1 is cancelled' });
      expect(partnerErrorCode(error)).toBe('session_cancelled');
    });

    if (id === 'egym_wellpass') {
      it('refuses to cancel a single booking before sending anything, and the sandbox refuses it too', async () => {
        await publish();
        const confirmed = await confirmedBooking();
        const before = sandbox.calls().length;
        const error = await failure(adapter.cancelBookingByGym(ctx, { bookingNumber: confirmed }, 'Closed'));
        expect(error).toMatchObject({ retryable: false, status: undefined });
        expect(error.message).toContain('cancel the whole session (cancelSession)');
        expect(sandbox.calls()).toHaveLength(before);
        const refused = await raw('POST', `/v1/bookings/${confirmed}/cancel`, { venue_id: VENUE });
        expect(refused.status).toBe(422);
        expect(refused.body.error.code).toBe('operation_not_supported');
        expect(booking(confirmed)?.status).toBe('confirmed');
      });
    } else {
      it('cancels a single confirmed booking for the venue, idempotently', async () => {
        await publish();
        const confirmed = await confirmedBooking();
        await adapter.cancelBookingByGym(ctx, { bookingNumber: confirmed }, 'Studio closed');
        expect(booking(confirmed)).toMatchObject({ status: 'cancelled_by_venue', message: 'Studio closed' });
        await expect(adapter.cancelBookingByGym(ctx, { bookingNumber: confirmed })).resolves.toBeUndefined();
      });
    }

    it('refuses state conflicts with a retryable 409 whose code the caller can read', async () => {
      await publish();
      const low = await failure(adapter.patchSessionCounts(ctx, REF, { totalCapacity: 2 }));
      expect(low).toMatchObject({ status: 409, retryable: true, aggregatorMessage: 'capacity 2 is below the 3 spots booked' });
      expect(partnerErrorCode(low)).toBe('capacity_below_booked');
      await confirmedBooking();
      const held = await failure(adapter.deleteSession(ctx, REF));
      expect(partnerErrorCode(held)).toBe('session_has_bookings');
      expect(held.retryable).toBe(true);
      expect(sessionState()).toBeDefined();
    });

    it('refuses unknown targets with a non-retryable 404 carrying the partner message', async () => {
      await publish();
      const session404 = await failure(adapter.patchSessionCounts(ctx, { ...REF, sessionExternalId: 'nope' }, { totalBooked: 1 }));
      expect(session404).toMatchObject({ status: 404, retryable: false, aggregatorMessage: 'session nope does not exist for venue venue-1' });
      expect(partnerErrorCode(await failure(adapter.confirmBooking(ctx, { bookingNumber: 'bk-unknown' })))).toBe('booking_not_found');
      const venue404 = await failure(adapter.pushActivity({ ...ctx, externalVenueId: 'venue-9' }, activity()));
      expect(venue404).toMatchObject({ status: 404, retryable: false, aggregatorMessage: 'venue venue-9 is not connected' });
      const confirmed = await confirmedBooking();
      // The same booking addressed as another venue's: a misrouted call must not touch it.
      const misrouted = await failure(adapter.rejectBooking({ ...ctx, externalVenueId: OTHER_VENUE }, { bookingNumber: confirmed }, 'GENERAL_ERROR'));
      expect(misrouted.status).toBe(404);
      expect((await raw('GET', '/v1/nothing-here')).body.error.code).toBe('not_found');
    });

    it('refuses semantic errors with a non-retryable 422', async () => {
      await adapter.pushActivity(ctx, activity());
      const unknown = await failure(adapter.createSession(ctx, 'activity-9', session()));
      expect(unknown).toMatchObject({ status: 422, retryable: false, aggregatorMessage: 'activity activity-9 does not exist for venue venue-1' });
      await adapter.createSession(ctx, 'activity-1', session());
      await adapter.pushActivity(ctx, activity({ activityId: 'activity-2' }));
      const moved = await failure(adapter.updateSession(ctx, { activityExternalId: 'activity-2', sessionExternalId: 'session-1' }, session()));
      expect(partnerErrorCode(moved)).toBe('activity_reference_immutable');
      expect(moved.retryable).toBe(false);
    });

    it('refuses a connection without a certified base URL or API token before sending', async () => {
      const noUrl = await failure(adapter.health({ ...ctx, baseUrl: adapter.defaultBaseUrl }));
      expect(noUrl).toMatchObject({ retryable: false, status: undefined });
      expect(noUrl.message).toContain('no certified base URL');
      const noToken = await failure(adapter.health({ ...ctx, credentials: {} }));
      expect(noToken).toMatchObject({ retryable: false, aggregatorMessage: 'the connection has no API token' });
      expect(sandbox.calls()).toEqual([]);
    });
  });

  describe('session listing', () => {
    const FROM = at(HOUR);
    const TO = at(5 * HOUR);
    /** The same instant as at(offsetMs), written in UTC. */
    const utc = (offsetMs: number) => new Date(Date.parse(at(offsetMs))).toISOString();
    const listCalls = () => sandbox.calls({ method: 'GET', path: /\/sessions$/ });

    /** Sessions of two activities and two venues around [FROM, TO], created out of start order; s-3 cancelled. */
    const seed = async () => {
      const other = { ...ctx, externalVenueId: OTHER_VENUE };
      await adapter.pushActivity(ctx, activity());
      await adapter.pushActivity(ctx, activity({ activityId: 'activity-2', name: 'Pilates' }));
      await adapter.pushActivity(other, activity());
      const create = (c: ConnectionContext, activityId: string, sessionId: string, startsAt: string, overrides: Partial<SessionListing> = {}) =>
        adapter.createSession(c, activityId, session({ sessionId, startsAt, bookingOpensAt: undefined, bookingClosesAt: undefined, cancellableUntil: undefined, ...overrides }));
      await create(ctx, 'activity-1', 's-4', at(4 * HOUR), { room: null, totalCapacity: 20, totalBooked: 0 });
      await create(ctx, 'activity-1', 's-late', at(5 * HOUR + MIN));
      await create(ctx, 'activity-1', 's-1', FROM);
      await create(ctx, 'activity-1', 's-3', at(3 * HOUR));
      await create(ctx, 'activity-1', 's-early', at(HOUR - MIN));
      // The upper bound exactly, written in UTC: bounds compare instants, not strings.
      await create(ctx, 'activity-1', 's-5', utc(5 * HOUR));
      await create(ctx, 'activity-1', 's-2', at(2 * HOUR), { durationMinutes: 45, totalCapacity: 8, totalBooked: 8 });
      await create(ctx, 'activity-2', 's-pilates', at(3 * HOUR));
      await create(other, 'activity-1', 's-other-venue', at(3 * HOUR));
      await adapter.cancelSession(ctx, { activityExternalId: 'activity-1', sessionExternalId: 's-3' }, 'Instructor ill');
    };
    const HELD = [
      { externalId: 's-1', startsAt: FROM, durationMinutes: 60, room: 'Studio 1', totalCapacity: 12, totalBooked: 3 },
      { externalId: 's-2', startsAt: at(2 * HOUR), durationMinutes: 45, room: 'Studio 1', totalCapacity: 8, totalBooked: 8 },
      { externalId: 's-4', startsAt: at(4 * HOUR), durationMinutes: 60, room: null, totalCapacity: 20, totalBooked: 0 },
      { externalId: 's-5', startsAt: utc(5 * HOUR), durationMinutes: 60, room: 'Studio 1', totalCapacity: 12, totalBooked: 3 },
    ];

    it('lists exactly the scheduled sessions of the activity in range, following every page', async () => {
      await seed();
      const paged = createAdapter({ timeoutMs: TIMEOUT_MS, listPageSize: 2 });
      await expect(paged.listSessions(ctx, 'activity-1', { from: FROM, to: TO })).resolves.toEqual(HELD);
      // s-1, s-2 | s-3 (cancelled), s-4 | s-5: three pages of at most two.
      const calls = listCalls();
      expect(calls.map((call) => call.status)).toEqual([200, 200, 200]);
      expect(calls[0]?.query).toEqual({ activity_reference: 'activity-1', from: FROM, to: TO, limit: '2' });
      expect(calls.slice(1).map((call) => Object.keys(call.query).sort())).toEqual(Array(2).fill(['activity_reference', 'cursor', 'from', 'limit', 'to']));
      expect(new Set(calls.map((call) => call.query.cursor)).size).toBe(3);
      expect(calls.every((call) => call.headers['idempotency-key'] === undefined)).toBe(true);

      // The default page is the contract's maximum: one call here.
      await expect(adapter.listSessions(ctx, 'activity-1', { from: FROM, to: TO })).resolves.toEqual(HELD);
      expect(listCalls().slice(3).map((call) => call.query.limit)).toEqual(['500']);
    });

    it('filters by activity, venue and inclusive range, compared as instants', async () => {
      await seed();
      const range = { from: FROM, to: TO };
      await expect(adapter.listSessions(ctx, 'activity-2', range)).resolves.toEqual([expect.objectContaining({ externalId: 's-pilates' })]);
      await expect(adapter.listSessions(ctx, 'activity-9', range)).resolves.toEqual([]);
      await expect(adapter.listSessions({ ...ctx, externalVenueId: OTHER_VENUE }, 'activity-1', range)).resolves.toEqual([
        expect.objectContaining({ externalId: 's-other-venue' }),
      ]);
      const ids = async (from: string, to: string) => (await adapter.listSessions(ctx, 'activity-1', { from, to })).map((held) => held.externalId);
      expect(await ids(at(2 * HOUR), at(2 * HOUR))).toEqual(['s-2']);
      expect(await ids(utc(HOUR), formatInOffset(new Date(Date.parse(TO)), '-05:00'))).toEqual(['s-1', 's-2', 's-4', 's-5']);
      expect(await ids(at(HOUR - MIN), at(5 * HOUR + MIN))).toEqual(['s-early', 's-1', 's-2', 's-4', 's-5', 's-late']);
      expect(await ids(at(6 * HOUR), at(7 * HOUR))).toEqual([]);
    });

    it('the sandbox lists every status in start order, pages by cursor, and new sessions do not shift the pages', async () => {
      await seed();
      const all = await raw('GET', '/v1/venues/venue-1/sessions');
      expect(all.status).toBe(200);
      expect(all.body.next_cursor).toBeNull();
      const order = ['s-early', 's-1', 's-2', 's-3', 's-pilates', 's-4', 's-5', 's-late'];
      expect(all.body.items.map((item: { reference: string }) => item.reference)).toEqual(order);
      expect(all.body.items[3]).toMatchObject({ status: 'cancelled', cancellation_reason: 'Instructor ill', activity_reference: 'activity-1', venue_id: VENUE });
      expect(all.body.items[4]).toMatchObject({ status: 'scheduled', activity_reference: 'activity-2', capacity: 12, booked: 3, available: 9 });

      const first = await raw('GET', '/v1/venues/venue-1/sessions?limit=3');
      expect(first.body.items.map((item: { reference: string }) => item.reference)).toEqual(order.slice(0, 3));
      expect(first.body.next_cursor).toEqual(expect.any(String));
      // Created before the cursor's position while paging: the next page still starts where the first ended.
      await adapter.createSession(ctx, 'activity-1', session({ sessionId: 's-new', startsAt: at(HOUR + MIN), bookingOpensAt: undefined, bookingClosesAt: undefined, cancellableUntil: undefined }));
      const second = await raw('GET', `/v1/venues/venue-1/sessions?limit=3&cursor=${first.body.next_cursor}`);
      expect(second.body.items.map((item: { reference: string }) => item.reference)).toEqual(order.slice(3, 6));
      const third = await raw('GET', `/v1/venues/venue-1/sessions?limit=3&cursor=${second.body.next_cursor}`);
      expect(third.body).toMatchObject({ next_cursor: null });
      expect(third.body.items.map((item: { reference: string }) => item.reference)).toEqual(order.slice(6));

      const query = new URLSearchParams({ activity_reference: 'activity-1', from: FROM, to: TO });
      const filtered = await raw('GET', `/v1/venues/venue-1/sessions?${query.toString()}`);
      expect(filtered.body.items.map((item: { reference: string }) => item.reference)).toEqual(['s-1', 's-new', 's-2', 's-3', 's-4', 's-5']);
      expect((await raw('GET', '/v1/venues/venue-1/sessions?activity_reference=activity-9')).body).toEqual({ items: [], next_cursor: null });
      const unknownVenue = await raw('GET', '/v1/venues/venue-9/sessions');
      expect(unknownVenue.status).toBe(404);
      expect(unknownVenue.body.error.code).toBe('venue_not_found');
    });

    it.each(LIST_CASES)('the sandbox refuses %s with 400 (%s)', async (_label, path, field) => {
      const response = await raw('GET', path);
      expect(response.status).toBe(400);
      expect(response.body.error.code).toBe('validation_failed');
      expect(response.body.error.fields.map((entry: { field: string }) => entry.field)).toContain(field);
      expect(listCalls().map((call) => call.status)).toEqual([400]);
    });

    it('refuses a missing or wrong API key with a non-retryable 401', async () => {
      await seed();
      const error = await failure(adapter.listSessions({ ...ctx, credentials: { apiToken: 'wrong' } }, 'activity-1', { from: FROM, to: TO }));
      expect(error).toMatchObject({ status: 401, retryable: false, aggregatorMessage: 'API key is not valid', operation: 'listSessions' });
      const anonymous = await raw('GET', '/v1/venues/venue-1/sessions', undefined, { authorization: '' });
      expect(anonymous.status).toBe(401);
      expect(anonymous.headers.get('www-authenticate')).toBe('Bearer');
      expect(anonymous.body.error.code).toBe('unauthorized');
      expect(listCalls().map((call) => call.status)).toEqual([401, 401]);
    });

    it('a fault on a later page fails the whole listing, retryably; the retry lists everything again', async () => {
      await seed();
      let fetches = 0;
      const flaky = createAdapter({
        timeoutMs: TIMEOUT_MS,
        listPageSize: 2,
        fetchImpl: (input, init) => {
          fetches += 1;
          if (fetches === 2) sandbox.faults.set({ status: 503, retryAfter: 1, times: 1 });
          return fetch(input, init);
        },
      });
      const error = await failure(flaky.listSessions(ctx, 'activity-1', { from: FROM, to: TO }));
      expect(error).toMatchObject({ status: 503, retryable: true, retryAfterMs: 1_000 });
      await expect(flaky.listSessions(ctx, 'activity-1', { from: FROM, to: TO })).resolves.toEqual(HELD);
      expect(listCalls().map((call) => call.status)).toEqual([200, 503, 200, 200, 200]);
    });

    it('an unexpected page is a non-retryable error: a bad body, a session not asked for, a cursor that does not advance', async () => {
      await seed();
      const resource = (reference: string) => sandbox.state().sessions.find((candidate) => candidate.reference === reference);
      const answer = async (body: unknown) => {
        sandbox.faults.set({ status: 200, body, method: 'GET', path: '/sessions$' });
        const error = await failure(adapter.listSessions(ctx, 'activity-1', { from: FROM, to: TO }));
        expect(error).toMatchObject({ status: 200, retryable: false, operation: 'listSessions' });
        return error.message;
      };
      expect(await answer({ items: [{ reference: 's-1' }], next_cursor: null })).toContain('unexpected response body: items.0.venue_id');
      expect(await answer([resource('s-1')])).toContain('unexpected response body');
      expect(await answer({ items: [resource('s-pilates')], next_cursor: null })).toContain('items.0.activity_reference: is not the activity asked for');
      expect(await answer({ items: [resource('s-1'), resource('s-late')], next_cursor: null })).toContain('items.1.starts_at: is outside the range asked for');
      expect(await answer({ items: [resource('s-1')], next_cursor: 'again' })).toContain('next_cursor: repeats an earlier cursor');
      sandbox.faults.clear();
      await expect(adapter.listSessions(ctx, 'activity-1', { from: FROM, to: TO })).resolves.toEqual(HELD);
    });
  });

  describe('validation', () => {
    it.each(CLIENT_CASES)('the adapter refuses %s before sending (field %s)', async (_label, field, call) => {
      const error = await failure(call(adapter, ctx));
      expect(error).toMatchObject({ retryable: false, status: undefined });
      expect(error.message).toContain('request refused before sending');
      expect((error.body as { fields: { field: string }[] }).fields.map((entry) => entry.field)).toContain(field);
      expect(sandbox.calls()).toEqual([]);
    });

    it.each(RAW_CASES)('the sandbox refuses %s with 400 (%s %s)', async (_label, method, path, body, field) => {
      const response = await raw(method, path, body);
      expect(response.status).toBe(400);
      expect(response.body.error.code).toBe('validation_failed');
      expect(response.body.error.fields.map((entry: { field: string }) => entry.field)).toContain(field);
      expect(sandbox.state()).toMatchObject({ activities: [], sessions: [] });
    });

    it('the sandbox refuses a missing Idempotency-Key, malformed JSON, a non-object body and a non-JSON content type', async () => {
      const path = '/v1/venues/venue-1/activities/activity-1';
      const noKey = await fetch(`${sandbox.url}${path}`, {
        method: 'PUT',
        headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
        body: JSON.stringify(validActivityBody()),
      });
      expect(noKey.status).toBe(400);
      expect(await noKey.json()).toMatchObject({ error: { code: 'idempotency_key_missing', fields: [{ field: 'Idempotency-Key' }] } });
      expect((await raw('PUT', path, '{"name":')).body.error.code).toBe('malformed_json');
      expect((await raw('PUT', path, '[1,2]')).body.error.fields).toEqual([{ field: '(body)', message: 'must be a JSON object' }]);
      const text = await raw('PUT', path, JSON.stringify(validActivityBody()), { 'content-type': 'text/plain' });
      expect(text.status).toBe(400);
      expect(sandbox.state().activities).toEqual([]);
    });
  });

  describe('faults', () => {
    it.each([
      [500, undefined, true, undefined],
      [502, undefined, true, undefined],
      [429, 7, true, 7_000],
      [503, 3, true, 3_000],
      [503, undefined, true, undefined],
      [409, undefined, true, undefined],
    ])('HTTP %i (Retry-After %s) is retryable=%s with retryAfterMs %s', async (status, retryAfter, retryable, retryAfterMs) => {
      sandbox.faults.set({ status, ...(retryAfter !== undefined ? { retryAfter } : {}) });
      const error = await failure(adapter.pushActivity(ctx, activity()));
      expect(error).toMatchObject({ status, retryable, retryAfterMs });
      expect(sandbox.state().activities).toEqual([]);
    });

    it.each([400, 401, 404, 422])('HTTP %i is not retryable and carries the partner message', async (status) => {
      sandbox.faults.set({ status, body: { error: { code: 'injected', message: `partner says ${status}` } } });
      const error = await failure(adapter.confirmBooking(ctx, { bookingNumber: 'bk-1' }));
      expect(error).toMatchObject({ status, retryable: false, aggregatorMessage: `partner says ${status}` });
      expect(partnerErrorCode(error)).toBe('injected');
    });

    it('latency delays the answer without failing it', async () => {
      sandbox.faults.set({ latencyMs: 150 });
      const started = Date.now();
      await adapter.health(ctx);
      expect(Date.now() - started).toBeGreaterThanOrEqual(140);
    });

    it('a hanging aggregator times out as a retryable error without status', async () => {
      sandbox.faults.set({ hang: true });
      const started = Date.now();
      const error = await failure(adapter.patchSessionCounts(ctx, REF, { totalBooked: 1 }));
      expect(error).toMatchObject({ status: undefined, retryable: true, aggregatorMessage: `no answer within ${TIMEOUT_MS} ms` });
      expect(Date.now() - started).toBeLessThan(TIMEOUT_MS + 1_000);
    });

    it('a refused connection is retryable', async () => {
      const error = await failure(adapter.health({ ...ctx, baseUrl: `http://127.0.0.1:${await freePort()}` }));
      expect(error).toMatchObject({ status: undefined, retryable: true });
      expect(error.aggregatorMessage).toMatch(/^connection failed/);
    });

    it('a fault scoped to a path and a count hits only there, only that often', async () => {
      sandbox.faults.set({ status: 500, path: '/sessions/', times: 1 });
      await adapter.pushActivity(ctx, activity());
      expect((await failure(adapter.createSession(ctx, 'activity-1', session()))).status).toBe(500);
      await expect(adapter.createSession(ctx, 'activity-1', session())).resolves.toEqual({ externalId: 'session-1' });
      expect(sandbox.faults.list()[0]?.hits).toBe(1);
    });
  });

  describe('idempotency', () => {
    it('a retry of one activity execution sends the same key and gets the first answer replayed', async () => {
      scope = 'workflow-1/run-1/activity-7';
      await adapter.pushActivity(ctx, activity());
      sandbox.faults.set({ status: 500, path: '/sessions/', times: 1 });
      await failure(adapter.createSession(ctx, 'activity-1', session()));
      await adapter.createSession(ctx, 'activity-1', session());
      await adapter.createSession(ctx, 'activity-1', session());
      const puts = sandbox.calls({ path: '/sessions/' });
      expect(puts.map((call) => call.status)).toEqual([500, 201, 201]);
      const keys = new Set(puts.map((call) => call.headers['idempotency-key']));
      expect(keys.size).toBe(1);
      expect(sandbox.state().idempotencyKeys).toBe(2);
    });

    it('a different body or another activity execution gets a new key and is applied', async () => {
      scope = 'workflow-1/run-1/activity-7';
      await publish();
      await adapter.patchSessionCounts(ctx, REF, { totalBooked: 5 });
      // The same execution recomputed its body (an attempt after a lost answer): applied, not replayed nor refused.
      await adapter.patchSessionCounts(ctx, REF, { totalBooked: 4 });
      expect(sessionState().booked).toBe(4);
      scope = 'workflow-1/run-1/activity-8';
      await adapter.patchSessionCounts(ctx, REF, { totalBooked: 3 });
      scope = 'workflow-1/run-1/activity-9';
      // Back to 4: the same body as activity-7, but a new execution, so applied rather than replayed.
      await adapter.patchSessionCounts(ctx, REF, { totalBooked: 4 });
      expect(sessionState().booked).toBe(4);
      const patches = sandbox.calls({ method: 'PATCH' });
      expect(patches.map((call) => call.status)).toEqual([200, 200, 200, 200]);
      expect(new Set(patches.map((call) => call.headers['idempotency-key'])).size).toBe(4);
    });

    it('outside Temporal every call gets a fresh key', async () => {
      await adapter.pushActivity(ctx, activity());
      await adapter.pushActivity(ctx, activity());
      const [first, second] = sandbox.calls();
      expect(first?.headers['idempotency-key']).not.toBe(second?.headers['idempotency-key']);
      expect([first?.status, second?.status]).toEqual([201, 200]);
    });

    it('the sandbox replays the same key and body, refuses the key with another body, and keeps no 409 or 5xx', async () => {
      const path = '/v1/venues/venue-1/activities/activity-1';
      const first = await raw('PUT', path, validActivityBody(), { 'idempotency-key': 'key-1' });
      await raw('PUT', path, { ...validActivityBody(), name: 'Pilates' }, { 'idempotency-key': 'key-2' });
      const replay = await raw('PUT', path, { ...validActivityBody() }, { 'idempotency-key': 'key-1' });
      expect(replay.status).toBe(201);
      expect(replay.headers.get('idempotent-replayed')).toBe('true');
      expect(replay.body).toEqual(first.body);
      expect(sandbox.state().activities[0]).toMatchObject({ name: 'Pilates' });
      const reused = await raw('PUT', path, { ...validActivityBody(), name: 'Other' }, { 'idempotency-key': 'key-1' });
      expect(reused.status).toBe(422);
      expect(reused.body.error.code).toBe('idempotency_key_reused');

      await raw('PUT', '/v1/venues/venue-1/sessions/session-1', validSessionBody());
      const availability = '/v1/venues/venue-1/sessions/session-1/availability';
      expect((await raw('PATCH', availability, { capacity: 2 }, { 'idempotency-key': 'key-3' })).status).toBe(409);
      await raw('PATCH', availability, { booked: 1 });
      expect((await raw('PATCH', availability, { capacity: 2 }, { 'idempotency-key': 'key-3' })).status).toBe(200);

      sandbox.faults.set({ status: 500, times: 1 });
      expect((await raw('PATCH', availability, { capacity: 3 }, { 'idempotency-key': 'key-4' })).status).toBe(500);
      const after = await raw('PATCH', availability, { capacity: 3 }, { 'idempotency-key': 'key-4' });
      expect(after.status).toBe(200);
      expect(after.headers.get('idempotent-replayed')).toBeNull();
    });
  });

  describe('webhooks', () => {
    it('sends signed events that the adapter verifies and parses: requested, cancelled (late flag), checked in', async () => {
      await publish();
      const first = await confirmedBooking('bk-first');
      await confirmedBooking('bk-second');
      await sandbox.cancelBookingByMember(first, { late: true });
      await sandbox.checkIn('bk-second');
      const events = receiver.received.map((request) => {
        expect(request.path).toBe('/webhooks/partner');
        expect(adapter.verifyWebhook(request, SECRET)).toEqual({ ok: true });
        expect(adapter.verifyWebhook(request, 'other-secret').ok).toBe(false);
        expect(adapter.webhookVenueId(request)).toBe(VENUE);
        return adapter.parseWebhook(request);
      });
      expect(events.map((event) => [event.type, event.bookingNumber])).toEqual([
        ['booking_requested', 'bk-first'],
        ['booking_requested', 'bk-second'],
        ['booking_cancelled', 'bk-first'],
        ['checked_in', 'bk-second'],
      ]);
      expect(events[2]).toMatchObject({ aggregator: id, late: true, externalVenueId: VENUE, sessionExternalId: 'session-1', activityExternalId: 'activity-1' });
      expect(new Set(events.map((event) => event.eventId)).size).toBe(4);
      expect(booking('bk-second')?.status).toBe('checked_in');
    });

    it('a member cancellation is late after the session cancellation cutoff, on time before it', async () => {
      const soon = Date.now() + HOUR;
      await publish(session({ startsAt: formatInOffset(new Date(soon), '+01:00'), bookingOpensAt: undefined, bookingClosesAt: undefined, cancellableUntil: formatInOffset(new Date(Date.now() - MIN), '+01:00') }));
      const late = await confirmedBooking();
      expect((await sandbox.cancelBookingByMember(late)).booking.late).toBe(true);
      await adapter.updateSession(ctx, REF, session({ cancellableUntil: undefined }));
      const onTime = await confirmedBooking();
      expect((await sandbox.cancelBookingByMember(onTime)).booking.late).toBe(false);
      const parsed = receiver.received.map((request) => adapter.parseWebhook(request)).filter((event) => event.type === 'booking_cancelled');
      expect(parsed.map((event) => event.type === 'booking_cancelled' && event.late)).toEqual([true, false]);
    });

    it('a redelivered event keeps its id and is signed afresh', async () => {
      await publish();
      const sent = await sandbox.sendBookingRequest({ venueId: VENUE, sessionReference: 'session-1' });
      await sandbox.redeliver(sent.delivery.eventId);
      const [first, again] = receiver.received;
      expect(adapter.verifyWebhook(again!, SECRET)).toEqual({ ok: true });
      expect(adapter.parseWebhook(again!).eventId).toBe(adapter.parseWebhook(first!).eventId);
      expect(adapter.parseWebhook(again!).bookingNumber).toBe(sent.booking.id);
    });
  });
});

const ASYNC_PARTNERS = PARTNERS.filter((partner) => partner.id !== 'onefit');

describe.each(ASYNC_PARTNERS)('$id asynchronous booking answers', ({ id, createAdapter, start }) => {
  let sandbox: PartnerSandbox;
  let receiver: Receiver;
  let adapter: PartnerAdapter;
  let ctx: ConnectionContext;

  beforeAll(async () => {
    receiver = await startReceiver();
    sandbox = await start({ apiToken: TOKEN, webhookSecret: SECRET, webhookUrl: receiver.url, webhookRetryDelaysMs: RETRY_DELAYS_MS });
    adapter = createAdapter({ timeoutMs: TIMEOUT_MS });
    ctx = { connectionId: `conn-${id}`, externalVenueId: VENUE, baseUrl: sandbox.url, credentials: { apiToken: TOKEN }, settings: {} };
  });
  afterAll(async () => {
    await sandbox.close();
    await receiver.close();
  });
  beforeEach(async () => {
    sandbox.reset();
    receiver.reset();
    await adapter.pushActivity(ctx, activity());
    await adapter.createSession(ctx, 'activity-1', session());
  });
  const booking = (bookingId: string) => sandbox.state().bookings.find((candidate) => candidate.id === bookingId);
  const request = () => sandbox.sendBookingRequest({ venueId: VENUE, sessionReference: 'session-1', member: { id: 'member-1', name: 'Kim' } });

  it('keeps a request pending until confirmed or rejected with the mapped reason code', async () => {
    const first = await request();
    expect(first.booking.status).toBe('pending');
    expect(Date.parse(first.booking.respond_by) - Date.parse(first.booking.requested_at)).toBe(15 * MIN);
    await adapter.confirmBooking(ctx, { bookingNumber: first.booking.id });
    await adapter.confirmBooking(ctx, { bookingNumber: first.booking.id });
    expect(booking(first.booking.id)?.status).toBe('confirmed');
    const second = await request();
    await adapter.rejectBooking(ctx, { bookingNumber: second.booking.id }, 'CLASS_IS_FULL', 'Sorry, full');
    expect(booking(second.booking.id)).toMatchObject({ status: 'rejected', reason_code: 'session_full', message: 'Sorry, full' });
    const late = await failure(adapter.confirmBooking(ctx, { bookingNumber: second.booking.id }));
    expect(partnerErrorCode(late)).toBe('booking_not_pending');
  });

  it('redelivers an unacknowledged event with the same id after backoff, then stops', async () => {
    receiver.reply = (_request, index) => (index < 2 ? { status: index === 0 ? 500 : 503 } : acknowledge());
    const sent = await request();
    expect(sent.delivery.attempts).toHaveLength(1);
    expect(sent.delivery.outcome).toBe('pending');
    await vi.waitFor(() => expect(sandbox.state().deliveries[0]?.outcome).toBe('acknowledged'), { timeout: 2_000 });
    const delivery = sandbox.state().deliveries[0]!;
    expect(delivery.attempts.map((attempt) => attempt.status)).toEqual([500, 503, 200]);
    expect(receiver.received.map((received) => adapter.parseWebhook(received).eventId)).toEqual(Array(3).fill(sent.delivery.eventId));
    expect(receiver.received.every((received) => adapter.verifyWebhook(received, SECRET).ok)).toBe(true);
  });

  it('gives up after the last redelivery; the request then expires at the deadline', async () => {
    receiver.reply = () => ({ status: 500 });
    const sent = await request();
    await vi.waitFor(() => expect(sandbox.state().deliveries[0]?.outcome).toBe('failed'), { timeout: 2_000 });
    expect(sandbox.state().deliveries[0]?.attempts).toHaveLength(1 + RETRY_DELAYS_MS.length);
    await sandbox.clock.advance(15 * MIN - 1_000);
    expect(booking(sent.booking.id)?.status).toBe('pending');
    await sandbox.clock.advance(1_000);
    expect(booking(sent.booking.id)).toMatchObject({ status: 'expired', reason_code: 'no_answer' });
    const error = await failure(adapter.confirmBooking(ctx, { bookingNumber: sent.booking.id }));
    // Final: the aggregator settled the booking otherwise; asking again would change nothing.
    expect(error).toMatchObject({ status: 409, retryable: false });
    expect(partnerErrorCode(error)).toBe('booking_not_pending');
  });

  it('a request answered in time is not expired by the deadline', async () => {
    const sent = await request();
    await adapter.confirmBooking(ctx, { bookingNumber: sent.booking.id });
    await sandbox.clock.advance(16 * MIN);
    expect(booking(sent.booking.id)?.status).toBe('confirmed');
    expect(sandbox.clock.pendingTimers()).toBe(0);
  });
});

describe('onefit synchronous booking answers', () => {
  let sandbox: PartnerSandbox;
  let receiver: Receiver;
  let adapter: PartnerAdapter;
  let ctx: ConnectionContext;

  beforeAll(async () => {
    receiver = await startReceiver();
    // The profile's own timeout (1 s) and no redelivery: nothing overridden here.
    sandbox = await startOnefitSandbox({ apiToken: TOKEN, webhookSecret: SECRET, webhookUrl: receiver.url });
    adapter = createOnefitAdapter({ timeoutMs: TIMEOUT_MS });
    ctx = { connectionId: 'conn-onefit', externalVenueId: VENUE, baseUrl: sandbox.url, credentials: { apiToken: TOKEN }, settings: {} };
  });
  afterAll(async () => {
    await sandbox.close();
    await receiver.close();
  });
  beforeEach(() => {
    sandbox.reset();
    receiver.reset();
  });
  const request = () => sandbox.sendBookingRequest({ venueId: VENUE, sessionReference: 'session-1', activityReference: 'activity-1' });

  it('confirms from the webhook answer, and a later confirm call is idempotent while a reject conflicts', async () => {
    receiver.reply = () => ({ status: 200, body: adapter.bookingAnswer({ status: 'confirmed' }) });
    const sent = await request();
    expect(sent.booking.status).toBe('confirmed');
    expect(sent.delivery).toMatchObject({ outcome: 'acknowledged', answer: { status: 'confirmed' } });
    expect(adapter.capabilities).toEqual({ cancelsWholeSessions: false, answersBookingsSynchronously: true, bookingDeadlineMs: 1_000 });
    await adapter.confirmBooking(ctx, { bookingNumber: sent.booking.id });
    expect(partnerErrorCode(await failure(adapter.rejectBooking(ctx, { bookingNumber: sent.booking.id }, 'GENERAL_ERROR')))).toBe('booking_not_pending');
  });

  it('rejects from the webhook answer with the mapped reason code', async () => {
    receiver.reply = () => ({ status: 200, body: adapter.bookingAnswer({ status: 'rejected', reason: 'USER_IS_ALREADY_BOOKED', message: 'Already in' }) });
    const sent = await request();
    expect(sent.booking).toMatchObject({ status: 'rejected', reason_code: 'already_booked', message: 'Already in' });
  });

  it.each([
    ['a 500', { status: 500, body: { status: 'confirmed' } }],
    ['a 202 without a decision', { status: 202 }],
    ['a text body', { status: 200, body: 'OK' }],
    ['an unknown status', { status: 200, body: { status: 'maybe' } }],
    ['our category instead of a reason code', { status: 200, body: { status: 'rejected', reason_code: 'CLASS_IS_FULL' } }],
  ])('%s rejects the booking (no_answer) and is never redelivered', async (_label, reply) => {
    receiver.reply = () => reply;
    const sent = await request();
    expect(sent.booking).toMatchObject({ status: 'expired', reason_code: 'no_answer' });
    expect(sent.delivery.answer).toBeNull();
    await sandbox.clock.advance(10 * MIN);
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(receiver.received).toHaveLength(1);
    expect(sandbox.state().deliveries[0]?.attempts).toHaveLength(1);
  });

  it('an answer later than about 1 s comes too late', async () => {
    receiver.reply = () => ({ status: 200, body: { status: 'confirmed' }, delayMs: 1_300 });
    const started = Date.now();
    const sent = await request();
    expect(Date.now() - started).toBeLessThan(1_250);
    expect(sent.booking.status).toBe('expired');
    expect(sent.delivery.attempts[0]).toMatchObject({ status: null, error: 'no answer within 1000 ms' });
  });

  it('cancellation and check-in events are not redelivered either', async () => {
    const sent = await request();
    receiver.reply = () => ({ status: 503 });
    const cancelled = await sandbox.cancelBookingByMember(sent.booking.id);
    expect(cancelled.delivery).toMatchObject({ outcome: 'failed' });
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(receiver.received).toHaveLength(2);
  });
});

describe('egym_wellpass whole-session cancellation', () => {
  it('cancels every pending and confirmed booking of the session in one call', async () => {
    const receiver = await startReceiver();
    const sandbox = await startEgymWellpassSandbox({ apiToken: TOKEN, webhookSecret: SECRET, webhookUrl: receiver.url });
    try {
      const adapter = createEgymWellpassAdapter();
      const ctx: ConnectionContext = { connectionId: 'c', externalVenueId: VENUE, baseUrl: sandbox.url, credentials: { apiToken: TOKEN }, settings: {} };
      expect(adapter.capabilities.cancelsWholeSessions).toBe(true);
      await adapter.pushActivity(ctx, activity());
      await adapter.createSession(ctx, 'activity-1', session());
      await adapter.createSession(ctx, 'activity-1', session({ sessionId: 'session-2' }));
      const ids: string[] = [];
      for (const reference of ['session-1', 'session-1', 'session-1', 'session-2']) {
        ids.push((await sandbox.sendBookingRequest({ venueId: VENUE, sessionReference: reference })).booking.id);
      }
      await adapter.confirmBooking(ctx, { bookingNumber: ids[0]! });
      await adapter.confirmBooking(ctx, { bookingNumber: ids[1]! });
      await adapter.confirmBooking(ctx, { bookingNumber: ids[3]! });
      await adapter.cancelSession(ctx, REF, 'Pool closed');
      const statuses = Object.fromEntries(sandbox.state().bookings.map((entry) => [entry.id, entry.status]));
      expect(ids.map((bookingId) => statuses[bookingId])).toEqual(['cancelled_by_venue', 'cancelled_by_venue', 'cancelled_by_venue', 'confirmed']);
      expect(sandbox.calls({ path: '/bookings/' }).filter((call) => call.path.endsWith('/cancel'))).toEqual([]);
    } finally {
      await sandbox.close();
      await receiver.close();
    }
  });
});

describe('partner sandbox control API and handle', () => {
  let sandbox: PartnerSandbox;
  let receiver: Receiver;

  beforeAll(async () => {
    receiver = await startReceiver();
    sandbox = await startClasspassSandbox({ apiToken: TOKEN, webhookSecret: SECRET });
  });
  afterAll(async () => {
    await sandbox.close();
    await receiver.close();
  });

  const control = async (method: string, path: string, body?: unknown) => {
    const response = await fetch(`${sandbox.url}/__sandbox${path}`, {
      method,
      ...(body !== undefined ? { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) } : {}),
    });
    const text = await response.text();
    return { status: response.status, body: text ? JSON.parse(text) : undefined };
  };

  it('drives bookings, faults, the clock and the webhook target over HTTP, and never shows a secret', async () => {
    const adapter = createClasspassAdapter();
    const ctx: ConnectionContext = { connectionId: 'c', externalVenueId: VENUE, baseUrl: sandbox.url, credentials: { apiToken: TOKEN }, settings: {} };
    await adapter.pushActivity(ctx, activity());
    await adapter.createSession(ctx, 'activity-1', session());

    const undelivered = await control('POST', '/bookings', { venue_id: VENUE, session_reference: 'session-1' });
    expect(undelivered.status).toBe(201);
    expect(undelivered.body.delivery.attempts[0].error).toBe('no webhook URL configured');
    expect((await control('PUT', '/webhook', { url: receiver.url })).status).toBe(204);
    const booked = await control('POST', '/bookings', { venue_id: VENUE, session_reference: 'session-1', booking_id: 'bk-ctl', member: { id: 'm-1' } });
    expect(booked.body).toMatchObject({ booking: { id: 'bk-ctl', status: 'pending' }, delivery: { outcome: 'acknowledged' } });
    expect(receiver.received).toHaveLength(1);
    expect((await control('POST', '/bookings', { venue_id: VENUE, session_reference: 'session-1', booking_id: 'bk-ctl' })).status).toBe(409);
    expect((await control('POST', '/bookings', { venue_id: 'bad venue', session_reference: 'session-1' })).status).toBe(400);
    expect((await control('POST', '/bookings/bk-ctl/check-in')).status).toBe(409);
    expect((await control('POST', '/events/evt_unknown/redeliver')).status).toBe(404);

    await control('POST', '/clock/advance', { ms: 15 * MIN });
    const state = await control('GET', '/state');
    expect(state.body.bookings.find((entry: { id: string }) => entry.id === 'bk-ctl').status).toBe('expired');

    await control('POST', '/faults', { status: 503, retryAfter: 2, times: 1 });
    expect((await failure(adapter.health(ctx))).retryAfterMs).toBe(2_000);

    const calls = await control('GET', '/calls');
    expect(calls.body.calls.length).toBeGreaterThan(0);
    expect(calls.body.calls[0].headers.authorization).toBe('Bearer [redacted]');
    const everything = JSON.stringify([calls.body, state.body, (await control('GET', '/deliveries')).body, sandbox.state()]);
    expect(everything).not.toContain(TOKEN);
    expect(everything).not.toContain(SECRET);

    expect((await control('POST', '/reset')).status).toBe(204);
    expect(sandbox.state()).toMatchObject({ activities: [], sessions: [], bookings: [], deliveries: [], idempotencyKeys: 0 });
    expect(sandbox.calls()).toEqual([]);
  });
});
