/**
 * The vocabulary shared by the database, the API, the workflows and the logs. One name per thing:
 * a "session" is one dated occurrence of an activity (Wellhub's "slot" only appears inside the Wellhub adapter).
 */

/** The aggregators this build has an adapter for. Adding one is a new adapter folder plus a line here. */
export const AGGREGATORS = ['wellhub', 'classpass', 'egym_wellpass', 'onefit', 'workit'] as const;
export type Aggregator = (typeof AGGREGATORS)[number];

export const CONNECTION_STATUSES = ['requested', 'active', 'paused', 'disabled'] as const;
export type ConnectionStatus = (typeof CONNECTION_STATUSES)[number];

export const SESSION_STATUSES = ['scheduled', 'cancelled'] as const;
export type SessionStatus = (typeof SESSION_STATUSES)[number];

export const BOOKING_STATUSES = [
  'requested',
  'reserved',
  'rejected',
  'cancelled_by_customer',
  'late_cancelled',
  'cancelled_by_gym',
  'attended',
  'no_show',
] as const;
export type BookingStatus = (typeof BOOKING_STATUSES)[number];

/**
 * Statuses that hold a spot in the session. `attended` and `no_show` are the two ends of a place that was sold and
 * kept: both come only after the session (a no-show is decided after its end), so neither can change what is free
 * before the start, but a customer marked as either still holds the session's place (the live-booking index agrees,
 * and a late check-in moves a no-show to attended without a second place).
 */
export const SPOT_HOLDING_STATUSES: readonly BookingStatus[] = ['requested', 'reserved', 'attended', 'no_show'];

/**
 * Allowed status transitions: requested → reserved | rejected; reserved → cancelled (three ways) | attended |
 * no_show; no_show → attended. A check-in the aggregator reports after the no-show pass is its record of a visit the
 * studio is paid for, so it wins over our timer: the booking becomes attended, with both moves in its history.
 */
export const BOOKING_TRANSITIONS: Readonly<Record<BookingStatus, readonly BookingStatus[]>> = {
  requested: ['reserved', 'rejected'],
  reserved: ['cancelled_by_customer', 'late_cancelled', 'cancelled_by_gym', 'attended', 'no_show'],
  rejected: [],
  cancelled_by_customer: [],
  late_cancelled: [],
  cancelled_by_gym: [],
  attended: [],
  no_show: ['attended'],
};

export function canTransition(from: BookingStatus, to: BookingStatus): boolean {
  return BOOKING_TRANSITIONS[from].includes(to);
}

export type BookingSource = 'direct' | Aggregator;

/** What was decided on an aggregator's booking request. */
export const REQUEST_DECISIONS = ['awaiting_approval', 'reserve', 'reject'] as const;
export type RequestDecision = (typeof REQUEST_DECISIONS)[number];

/**
 * What the aggregator was told about a booking request: pending (not yet), sent (by its API), in_webhook_response
 * (synchronously), refused (it refused our answer), unreachable (its own auto-reject applies), not_needed (the member
 * cancelled first).
 */
export const REQUEST_ANSWERS = ['pending', 'sent', 'in_webhook_response', 'refused', 'unreachable', 'not_needed'] as const;
export type RequestAnswer = (typeof REQUEST_ANSWERS)[number];
/** The answers that end a request: everything but pending. */
export type RequestTold = Exclude<RequestAnswer, 'pending'>;

/** Where a session's cancellation stands at one aggregator. */
export const CANCELLATION_BRANCH_STATUSES = ['pending', 'retrying', 'done', 'failed'] as const;
export type CancellationBranchStatus = (typeof CANCELLATION_BRANCH_STATUSES)[number];

/** Why an activity lifecycle ran a sync pass. */
export const SYNC_REASONS = ['start', 'change', 'periodic'] as const;
export type SyncReason = (typeof SYNC_REASONS)[number];

/** An activity lifecycle as the ledger records it, and as its workflow reports its phase. */
export const LIFECYCLE_STATUSES = ['running', 'stopped'] as const;
export type LifecycleStatus = (typeof LIFECYCLE_STATUSES)[number];
export const LIFECYCLE_PHASES = ['starting', 'running', 'stopping', 'stopped'] as const;
export type LifecyclePhase = (typeof LIFECYCLE_PHASES)[number];
