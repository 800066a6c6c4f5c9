import { randomUUID } from 'node:crypto';
import type { SandboxClock } from '../../sandbox-kit/index.js';
import type { PartnerProfile } from '../profile.js';
import { NO_ANSWER_REASON, type PartnerReasonCode } from '../reasons.js';
import type {
  ActivityBody,
  ActivityResource,
  AvailabilityBody,
  BookingResource,
  Member,
  PartnerBookingStatus,
  SessionBody,
  SessionResource,
} from '../schemas.js';

/** What the contract answers: a resource with its status, or an error code (CONTRACT.md, Errors). */
export type Outcome<T> = { ok: true; status: number; value: T } | { ok: false; status: number; code: string; message: string };

const ok = <T>(value: T, status = 200): Outcome<T> => ({ ok: true, status, value });
const fail = <T>(status: number, code: string, message: string): Outcome<T> => ({ ok: false, status, code, message });

export interface BookingRequestInput {
  venueId: string;
  sessionReference: string;
  /** Needed only when the session is unknown to the sandbox (to exercise a "session not found" rejection). */
  activityReference?: string | undefined;
  /** Default a fresh id; give one to replay a booking number. */
  bookingId?: string | undefined;
  member: Member;
}

/** Where a session sits in the listing order: its start instant, then its reference. */
export interface SessionKey {
  startsAt: number;
  reference: string;
}

export interface SessionFilter {
  activityReference?: string | undefined;
  /** Inclusive bounds on the start instant, in ms. */
  from?: number | undefined;
  to?: number | undefined;
  /** Only sessions after this key (the cursor of the previous page). */
  after?: SessionKey | undefined;
  limit: number;
}

const keyOf = (session: SessionResource): SessionKey => ({ startsAt: Date.parse(session.starts_at), reference: session.reference });
const compareKeys = (a: SessionKey, b: SessionKey) =>
  a.startsAt !== b.startsAt ? a.startsAt - b.startsAt : a.reference < b.reference ? -1 : a.reference > b.reference ? 1 : 0;

/** The opaque cursor of a listing: the key of the last session of the page (keyset, so inserts do not shift pages). */
export function encodeSessionCursor(key: SessionKey): string {
  return Buffer.from(JSON.stringify([key.startsAt, key.reference]), 'utf8').toString('base64url');
}

/** The key a cursor carries; undefined for anything this sandbox did not issue. */
export function decodeSessionCursor(cursor: string): SessionKey | undefined {
  if (!/^[A-Za-z0-9_-]+$/.test(cursor)) return undefined;
  try {
    const value: unknown = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    if (!Array.isArray(value) || value.length !== 2) return undefined;
    const [startsAt, reference] = value as unknown[];
    if (typeof startsAt !== 'number' || !Number.isFinite(startsAt) || typeof reference !== 'string') return undefined;
    return { startsAt, reference };
  } catch {
    return undefined;
  }
}

const HOLDS_SPOT: readonly PartnerBookingStatus[] = ['pending', 'confirmed'];

/**
 * The aggregator's side of the contract held in memory: activities, sessions and bookings with their state machine.
 * It does not refuse what a real aggregator would never send (a request for a full or unknown session), so tests can
 * drive every rejection of ours through it.
 */
export class PartnerStore {
  readonly activities = new Map<string, ActivityResource>();
  readonly sessions = new Map<string, SessionResource>();
  readonly bookings = new Map<string, BookingResource>();
  private readonly deadlines = new Map<string, number>();

  constructor(
    private readonly profile: PartnerProfile,
    private readonly clock: SandboxClock,
    private readonly venues: ReadonlySet<string> | undefined,
  ) {}

  private now(): string {
    return new Date(this.clock.now()).toISOString();
  }

  knowsVenue(venueId: string): boolean {
    return this.venues === undefined || this.venues.has(venueId);
  }

  upsertActivity(venueId: string, reference: string, body: ActivityBody): Outcome<ActivityResource> {
    const key = `${venueId}/${reference}`;
    const existing = this.activities.get(key);
    const now = this.now();
    const activity: ActivityResource = {
      reference,
      venue_id: venueId,
      name: body.name,
      description: body.description,
      notes: body.notes ?? null,
      category: body.category,
      bookable: body.bookable,
      visible: body.visible,
      created_at: existing?.created_at ?? now,
      updated_at: now,
    };
    this.activities.set(key, activity);
    return ok(activity, existing ? 200 : 201);
  }

  upsertSession(venueId: string, reference: string, body: SessionBody): Outcome<SessionResource> {
    if (!this.activities.has(`${venueId}/${body.activity_reference}`)) {
      return fail(422, 'unknown_activity', `activity ${body.activity_reference} does not exist for venue ${venueId}`);
    }
    const key = `${venueId}/${reference}`;
    const existing = this.sessions.get(key);
    if (existing?.status === 'cancelled') return fail(409, 'session_cancelled', `session ${reference} is cancelled`);
    if (existing && existing.activity_reference !== body.activity_reference) {
      return fail(422, 'activity_reference_immutable', `session ${reference} belongs to activity ${existing.activity_reference}`);
    }
    const now = this.now();
    const session: SessionResource = {
      reference,
      venue_id: venueId,
      activity_reference: body.activity_reference,
      starts_at: body.starts_at,
      duration_minutes: body.duration_minutes,
      room: body.room,
      instructors: body.instructors,
      capacity: body.capacity,
      booked: body.booked,
      available: body.capacity - body.booked,
      booking_opens_at: body.booking_opens_at ?? null,
      booking_closes_at: body.booking_closes_at ?? null,
      cancellable_until: body.cancellable_until ?? null,
      active: body.active,
      status: 'scheduled',
      cancellation_reason: null,
      created_at: existing?.created_at ?? now,
      updated_at: now,
    };
    this.sessions.set(key, session);
    return ok(session, existing ? 200 : 201);
  }

  patchAvailability(venueId: string, reference: string, body: AvailabilityBody): Outcome<SessionResource> {
    const session = this.sessions.get(`${venueId}/${reference}`);
    if (!session) return fail(404, 'session_not_found', `session ${reference} does not exist for venue ${venueId}`);
    if (session.status === 'cancelled') return fail(409, 'session_cancelled', `session ${reference} is cancelled`);
    const capacity = body.capacity ?? session.capacity;
    const booked = body.booked ?? session.booked;
    if (booked > capacity) {
      return fail(409, 'capacity_below_booked', `capacity ${capacity} is below the ${booked} spots booked`);
    }
    Object.assign(session, { capacity, booked, available: capacity - booked, updated_at: this.now() });
    return ok(session);
  }

  deleteSession(venueId: string, reference: string): Outcome<undefined> {
    const key = `${venueId}/${reference}`;
    if (!this.sessions.has(key)) return fail(404, 'session_not_found', `session ${reference} does not exist for venue ${venueId}`);
    const held = this.bookingsOf(venueId, reference).filter((booking) => HOLDS_SPOT.includes(booking.status));
    if (held.length > 0) {
      return fail(409, 'session_has_bookings', `session ${reference} has ${held.length} booking(s): cancel it instead`);
    }
    this.sessions.delete(key);
    return ok(undefined, 204);
  }

  cancelSession(venueId: string, reference: string, reason: string | undefined): Outcome<SessionResource> {
    const session = this.sessions.get(`${venueId}/${reference}`);
    if (!session) return fail(404, 'session_not_found', `session ${reference} does not exist for venue ${venueId}`);
    if (session.status === 'cancelled') return ok(session);
    const now = this.now();
    Object.assign(session, { status: 'cancelled', cancellation_reason: reason ?? null, updated_at: now });
    for (const booking of this.bookingsOf(venueId, reference)) {
      if (HOLDS_SPOT.includes(booking.status)) this.settle(booking, 'cancelled_by_venue', null, reason ?? null);
    }
    return ok(session);
  }

  /** A venue's sessions of every status, ordered by start then reference, one page from `after` on. */
  listSessions(venueId: string, filter: SessionFilter): { items: SessionResource[]; next: SessionKey | null } {
    const { activityReference, from, to, after, limit } = filter;
    const matching = [...this.sessions.values()]
      .filter((session) => {
        if (session.venue_id !== venueId) return false;
        if (activityReference !== undefined && session.activity_reference !== activityReference) return false;
        const key = keyOf(session);
        if (from !== undefined && key.startsAt < from) return false;
        if (to !== undefined && key.startsAt > to) return false;
        return after === undefined || compareKeys(key, after) > 0;
      })
      .sort((a, b) => compareKeys(keyOf(a), keyOf(b)));
    const items = matching.slice(0, limit);
    const last = items.at(-1);
    return { items, next: matching.length > limit && last ? keyOf(last) : null };
  }

  /** A booking as the venue may address it: unknown and another venue's look the same (no probing across venues). */
  private venueBooking(venueId: string, id: string): Outcome<BookingResource> {
    const booking = this.bookings.get(id);
    if (!booking || booking.venue_id !== venueId) return fail(404, 'booking_not_found', `booking ${id} does not exist for venue ${venueId}`);
    return ok(booking);
  }

  /** A venue's booking as it stands (GET). */
  read(venueId: string, id: string): Outcome<BookingResource> {
    return this.venueBooking(venueId, id);
  }

  confirm(venueId: string, id: string): Outcome<BookingResource> {
    const found = this.venueBooking(venueId, id);
    if (!found.ok) return found;
    const booking = found.value;
    if (booking.status === 'confirmed') return ok(booking);
    if (booking.status !== 'pending') return fail(409, 'booking_not_pending', `booking ${id} is ${booking.status}`);
    return ok(this.settle(booking, 'confirmed', null, null));
  }

  reject(venueId: string, id: string, reasonCode: PartnerReasonCode, message: string | undefined): Outcome<BookingResource> {
    const found = this.venueBooking(venueId, id);
    if (!found.ok) return found;
    const booking = found.value;
    if (booking.status === 'rejected') return ok(booking);
    if (booking.status !== 'pending') return fail(409, 'booking_not_pending', `booking ${id} is ${booking.status}`);
    return ok(this.settle(booking, 'rejected', reasonCode, message ?? null));
  }

  cancelByVenue(venueId: string, id: string, message: string | undefined): Outcome<BookingResource> {
    if (this.profile.capabilities.cancelsWholeSessions) {
      return fail(
        422,
        'operation_not_supported',
        `${this.profile.displayName} cancels whole sessions only: POST /v1/venues/{venue_id}/sessions/{reference}/cancel`,
      );
    }
    const found = this.venueBooking(venueId, id);
    if (!found.ok) return found;
    const booking = found.value;
    if (booking.status === 'cancelled_by_venue') return ok(booking);
    if (booking.status !== 'confirmed') return fail(409, 'booking_not_confirmed', `booking ${id} is ${booking.status}`);
    return ok(this.settle(booking, 'cancelled_by_venue', null, message ?? null));
  }

  /** A member books: a pending request the venue must answer before respond_by. */
  request(input: BookingRequestInput): Outcome<BookingResource> {
    const id = input.bookingId ?? `bk_${randomUUID()}`;
    if (this.bookings.has(id)) return fail(409, 'booking_exists', `booking ${id} exists already`);
    const session = this.sessions.get(`${input.venueId}/${input.sessionReference}`);
    const activityReference = session?.activity_reference ?? input.activityReference;
    if (activityReference === undefined) {
      return fail(400, 'validation_failed', 'activity_reference is required for a session the sandbox does not know');
    }
    const now = this.clock.now();
    const booking: BookingResource = {
      id,
      venue_id: input.venueId,
      session_reference: input.sessionReference,
      activity_reference: activityReference,
      member: input.member,
      status: 'pending',
      reason_code: null,
      message: null,
      late: null,
      requested_at: new Date(now).toISOString(),
      respond_by: new Date(now + this.profile.capabilities.bookingDeadlineMs).toISOString(),
      updated_at: new Date(now).toISOString(),
    };
    this.bookings.set(id, booking);
    return ok(booking, 201);
  }

  /** The aggregator's own refusal when nobody answered in time. */
  expire(id: string): BookingResource | undefined {
    const booking = this.bookings.get(id);
    if (booking?.status !== 'pending') return undefined;
    return this.settle(booking, 'expired', NO_ANSWER_REASON, null);
  }

  /** Remembers a deadline timer so a settled booking does not leave it pending on the clock. */
  trackDeadline(id: string, timer: number): void {
    this.deadlines.set(id, timer);
  }

  memberCancel(id: string, late: boolean | undefined): Outcome<BookingResource> {
    const booking = this.bookings.get(id);
    if (!booking) return fail(404, 'booking_not_found', `booking ${id} does not exist`);
    if (booking.status !== 'confirmed') return fail(409, 'booking_not_confirmed', `booking ${id} is ${booking.status}`);
    const session = this.sessions.get(`${booking.venue_id}/${booking.session_reference}`);
    const cutoff = session?.cancellable_until ? Date.parse(session.cancellable_until) : undefined;
    const isLate = late ?? (cutoff !== undefined && this.clock.now() > cutoff);
    Object.assign(booking, { status: 'cancelled_by_member', late: isLate, updated_at: this.now() });
    return ok(booking);
  }

  checkIn(id: string): Outcome<BookingResource> {
    const booking = this.bookings.get(id);
    if (!booking) return fail(404, 'booking_not_found', `booking ${id} does not exist`);
    if (booking.status !== 'confirmed') return fail(409, 'booking_not_confirmed', `booking ${id} is ${booking.status}`);
    Object.assign(booking, { status: 'checked_in', updated_at: this.now() });
    return ok(booking);
  }

  private settle(
    booking: BookingResource,
    status: PartnerBookingStatus,
    reasonCode: BookingResource['reason_code'],
    message: string | null,
  ): BookingResource {
    Object.assign(booking, { status, reason_code: reasonCode, message, updated_at: this.now() });
    const timer = this.deadlines.get(booking.id);
    if (timer !== undefined && status !== 'pending') {
      this.clock.clearTimer(timer);
      this.deadlines.delete(booking.id);
    }
    return booking;
  }

  private bookingsOf(venueId: string, sessionReference: string): BookingResource[] {
    return [...this.bookings.values()].filter(
      (booking) => booking.venue_id === venueId && booking.session_reference === sessionReference,
    );
  }

  clear(): void {
    this.activities.clear();
    this.sessions.clear();
    this.bookings.clear();
    this.deadlines.clear();
  }

  snapshot() {
    return {
      activities: [...this.activities.values()],
      sessions: [...this.sessions.values()],
      bookings: [...this.bookings.values()],
    };
  }
}
