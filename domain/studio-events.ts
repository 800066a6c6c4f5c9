/**
 * Events to the studio backend: which events exist, which booking status announces which event, when a failed
 * delivery is tried again, and when a connection counts as failing. Pure functions; the signing is in
 * lib/standard-webhooks.ts, the outbox in db/studio-events.ts, the delivery in workflows/studio-events/.
 */

export const STUDIO_EVENT_TYPES = [
  'booking.requested',
  'booking.reserved',
  'booking.rejected',
  'booking.cancelled',
  'booking.attended',
  'booking.no_show',
  'booking.awaiting_approval',
  'session.cancellation.completed',
  'connection.failing',
  'connection.recovered',
] as const;
export type StudioEventType = (typeof STUDIO_EVENT_TYPES)[number];

export function isStudioEventType(value: string): value is StudioEventType {
  return (STUDIO_EVENT_TYPES as readonly string[]).includes(value);
}

export type CancelledBy = 'customer' | 'late' | 'gym';

export interface BookingEventKind {
  type: StudioEventType;
  /** For `booking.cancelled`: who cancelled (`late`: the member, after the cancellation cutoff). */
  cancelledBy?: CancelledBy;
}

/**
 * The event a booking's new status announces. Keyed by the status name as a string, not the BookingStatus union,
 * so a status added to the ledger later (`no_show`) announces its event as soon as it lands; a status with no event
 * here announces nothing.
 */
const BY_STATUS: Readonly<Record<string, BookingEventKind>> = {
  requested: { type: 'booking.requested' },
  reserved: { type: 'booking.reserved' },
  rejected: { type: 'booking.rejected' },
  cancelled_by_customer: { type: 'booking.cancelled', cancelledBy: 'customer' },
  late_cancelled: { type: 'booking.cancelled', cancelledBy: 'late' },
  cancelled_by_gym: { type: 'booking.cancelled', cancelledBy: 'gym' },
  attended: { type: 'booking.attended' },
  no_show: { type: 'booking.no_show' },
};

export function bookingEventFor(status: string): BookingEventKind | undefined {
  return Object.hasOwn(BY_STATUS, status) ? BY_STATUS[status] : undefined;
}

/**
 * The events a decided aggregator request announces, in order: the request (its spot held), then what the decision
 * made of it at once: rejected, or held for the studio's approval (announced so a backend need not poll). A request
 * decided `reserve` is announced `booking.reserved` only once the aggregator has the answer (its status move).
 */
export function decisionEvents(outcome: 'reserve' | 'reject' | 'hold_for_approval'): BookingEventKind[] {
  const requested: BookingEventKind = { type: 'booking.requested' };
  if (outcome === 'reject') return [requested, { type: 'booking.rejected' }];
  if (outcome === 'hold_for_approval') return [requested, { type: 'booking.awaiting_approval' }];
  return [requested];
}

/**
 * The delivery schedule. Standard Webhooks counts any answer but a 2xx as a failure to retry, and so do we, 4xx
 * included: a receiver answering 401 or 404 is most often one being deployed or misconfigured for a moment, and an
 * event given up on early is lost to it; three days bound the cost. Waits double from 1 s (so a receiver back after
 * a short outage has its events within a minute: 1+2+4+…+32 s covers the first minute with six attempts) up to one
 * attempt every 10 minutes (a receiver down for hours has them within 10 minutes of coming back), and never less than
 * the receiver's Retry-After (capped at an hour: a bogus date must not park the events for days).
 */
export const DELIVERY_FIRST_RETRY_MS = 1_000;
export const DELIVERY_MAX_RETRY_MS = 10 * 60_000;
export const DELIVERY_GIVE_UP_AFTER_MS = 3 * 24 * 3_600_000;
export const MAX_RETRY_AFTER_MS = 3_600_000;

/** The wait after failed attempt number `attempt` (1 = the first attempt failed). */
export function deliveryRetryDelayMs(attempt: number, retryAfterMs?: number | null): number {
  const backoff = Math.min(DELIVERY_FIRST_RETRY_MS * 2 ** Math.min(Math.max(attempt, 1) - 1, 30), DELIVERY_MAX_RETRY_MS);
  return Math.max(backoff, Math.min(Math.max(retryAfterMs ?? 0, 0), MAX_RETRY_AFTER_MS));
}

export type DeliveryStep = { retryInMs: number } | { giveUp: true };

/**
 * After a failed attempt: wait and try again, or give up when the next attempt would come after three days from the
 * first (times on the delivery workflow's clock, so the time-skipping test server can skip through them).
 */
export function nextDeliveryStep(input: { attempt: number; firstAttemptAt: number; now: number; retryAfterMs?: number | null }): DeliveryStep {
  const wait = deliveryRetryDelayMs(input.attempt, input.retryAfterMs);
  if (input.now + wait > input.firstAttemptAt + DELIVERY_GIVE_UP_AFTER_MS) return { giveUp: true };
  return { retryInMs: wait };
}

/**
 * A connection is failing once its aggregator calls have kept failing, with no success in between, for this long:
 * long enough that one pass retrying a 503 for a few seconds is not announced, short enough that the backend hears
 * of an outage while it matters.
 */
export const CONNECTION_FAILING_AFTER_MS = 5 * 60_000;

export interface ConnectionHealth {
  /** The first failed call since the last success; null when the last call succeeded. */
  firstFailureAt: Date | null;
  /** When `connection.failing` was announced: the first failure's time; null while not announced. */
  failingSince: Date | null;
}

export interface HealthTransition {
  next: ConnectionHealth;
  event: 'connection.failing' | 'connection.recovered' | null;
}

/** The connection's health after one observed call outcome, and the event it announces (each transition once). */
export function connectionHealthAfter(health: ConnectionHealth, observed: { ok: boolean; at: Date }, failingAfterMs = CONNECTION_FAILING_AFTER_MS): HealthTransition {
  if (observed.ok) {
    return { next: { firstFailureAt: null, failingSince: null }, event: health.failingSince !== null ? 'connection.recovered' : null };
  }
  const firstFailureAt = health.firstFailureAt ?? observed.at;
  if (health.failingSince !== null) return { next: { firstFailureAt, failingSince: health.failingSince }, event: null };
  if (observed.at.getTime() - firstFailureAt.getTime() >= failingAfterMs) {
    return { next: { firstFailureAt, failingSince: firstFailureAt }, event: 'connection.failing' };
  }
  return { next: { firstFailureAt, failingSince: null }, event: null };
}

/** What delivery keeps in order: the events of one booking, one session or one connection, to each endpoint. */
export type OrderedSubject = 'booking' | 'session' | 'connection';
export function orderingKey(subject: OrderedSubject, id: string): string {
  return `${subject}:${id}`;
}
