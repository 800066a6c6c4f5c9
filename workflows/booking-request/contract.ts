import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type { Aggregator, RequestAnswer, RequestDecision, RequestTold } from '../../domain/model.js';
import type { RejectReason } from '../../domain/reasons.js';

/**
 * The booking request flow's contract: input, messages and activity interface. One workflow per aggregator booking
 * number (`booking:<aggregator>:<number>`) receives every event about that booking: the request, the member's
 * cancellation, the check-in. The workflow, its activities, the webhook route and the approval API import this
 * module; it imports none of them.
 */

export const BOOKING_REQUEST_WORKFLOW = 'bookingRequestWorkflow';

export interface BookingRequestInput {
  aggregator: Aggregator;
  bookingNumber: string;
  companyId: string;
  venueId: string;
  connectionId: string;
  /** The aggregator reads the decision from the webhook response (Onefit): no answer call. */
  answersSynchronously: boolean;
  /** How long after its request the aggregator waits for the answer before it rejects on its own. */
  bookingDeadlineMs: number;
}

/** An aggregator's webhook event about one booking, in our vocabulary (dates as ISO strings for the history). */
export interface BookingEvent {
  type: 'booking_requested' | 'booking_cancelled' | 'checked_in';
  eventId: string;
  occurredAt: string;
  late?: boolean | undefined;
  sessionExternalId: string;
  activityExternalId?: string | undefined;
  member: { externalId: string; name?: string | undefined; email?: string | undefined };
}

export type { RequestAnswerBody } from '../../domain/booking-answer.js';
import type { RequestAnswerBody } from '../../domain/booking-answer.js';

export interface ApprovalInput {
  approve: boolean;
  /** With approve: false; default USAGE_RESTRICTION. */
  reason?: RejectReason | undefined;
  message?: string | undefined;
  actor: string;
}

export type BookingRequestPhase =
  | 'waiting'
  | 'deciding'
  | 'awaiting_approval'
  | 'answering'
  | 'answered'
  | 'done';

export interface BookingRequestState {
  phase: BookingRequestPhase;
  answer: RequestAnswerBody | null;
  /** ISO time by which the aggregator must have its answer. */
  deadlineAt: string | null;
  sessionId: string | null;
  bookingId: string | null;
  events: { eventId: string; type: BookingEvent['type']; outcome: string }[];
  answerAttempts: number;
  lastAnswerError: string | null;
}

/** Every event about the booking (the webhook route signals it, with signal-with-start). */
export const bookingEventSignal = defineSignal<[BookingEvent]>('bookingEvent');
/**
 * A synchronous aggregator's request: delivers the event and returns the decision. The webhook route now decides such
 * requests itself; the handler stays so that runs started by an API that still sent this update finish as they began.
 */
export const requestDecisionUpdate = defineUpdate<RequestAnswerBody, [BookingEvent]>('requestDecision');
/** The webhook route reports whether the synchronous answer went out in time. */
export const synchronousAnswerSignal = defineSignal<[{ delivered: boolean }]>('synchronousAnswer');
/** A backend service confirms or rejects a request held for manual approval. */
export const approvalUpdate = defineUpdate<RequestAnswerBody, [ApprovalInput]>('approval');
export const bookingRequestStateQuery = defineQuery<BookingRequestState>('bookingRequestState');
/**
 * The studio cancelled the request's session while the request waited for its answer (the cancellation fan-out sends
 * it): the request is answered CLASS_HAS_BEEN_CANCELED.
 */
export const sessionCancelledSignal = defineSignal('sessionCancelled');

/** The ledger's view of a request after the decision step. */
export interface DecidedRequest {
  /** The request was decided by an earlier run: nothing is decided again. */
  known: boolean;
  decision: RequestDecision;
  reason: RejectReason | null;
  message: string | null;
  answer: RequestAnswer;
  deadlineAt: string;
  sessionId: string | null;
  activityId: string | null;
  bookingId: string | null;
  /** The activity is offered to aggregators: its lifecycle workflow runs and wants to hear of count changes. */
  notifyLifecycle: boolean;
  /** Cancellations and check-ins of this booking that arrived before its request and wait in the inbox. */
  waiting: BookingEvent[];
}

export interface FinishInput {
  aggregator: Aggregator;
  connectionId: string;
  bookingNumber: string;
  /** Final decision: reserve moves the held spot to reserved; reject frees it. */
  decision: 'reserve' | 'reject';
  reason?: RejectReason | undefined;
  message?: string | undefined;
  answer: RequestTold;
  lastError?: string | undefined;
  actor: string;
  /** Inbox events this settles, marked applied in the same transaction. */
  eventIds?: string[] | undefined;
}

export interface MemberEventResult {
  outcome: 'applied' | 'waiting_for_request' | 'ignored';
  detail: string;
  sessionId: string | null;
  activityId: string | null;
  notifyLifecycle: boolean;
}

export interface BookingRequestActivities {
  /** Matches or creates the customer, locks the session, decides, and holds the spot: one transaction. */
  decideRequest(input: BookingRequestInput & { event: BookingEvent; deadlineAt: string }): Promise<DecidedRequest>;
  /** Records a manual approval's outcome on a held request (awaiting_approval → reserve | reject). */
  recordApproval(input: { aggregator: Aggregator; connectionId: string; bookingNumber: string; approval: ApprovalInput }): Promise<DecidedRequest>;
  /** Tells the aggregator RESERVED or REJECTED (retried by Temporal until the deadline's margin). */
  answerAggregator(input: {
    aggregator: Aggregator;
    connectionId: string;
    bookingNumber: string;
    sessionExternalId: string;
    activityExternalId?: string | undefined;
    answer: RequestAnswerBody;
  }): Promise<void>;
  /** Where a synchronous aggregator holds the booking after our answer (undefined: it cannot be read back). */
  readHeldStatus(input: {
    aggregator: Aggregator;
    connectionId: string;
    bookingNumber: string;
    sessionExternalId: string;
  }): Promise<'pending' | 'reserved' | 'rejected' | 'cancelled' | 'attended' | undefined>;
  /** Writes the final state: booking reserved or rejected (spot freed), and what the aggregator was told. */
  finishRequest(input: FinishInput): Promise<void>;
  /** A member's cancellation or check-in from the aggregator. */
  applyMemberEvent(input: { aggregator: Aggregator; connectionId: string; bookingNumber: string; event: BookingEvent }): Promise<MemberEventResult>;
  /** Marks inbox events as handled with their outcome (and why, where it is not plain). */
  markEvents(input: { connectionId: string; outcomes: { eventId: string; outcome: string; detail?: string | undefined }[] }): Promise<void>;
  /**
   * Whether the webhook route's response carrying a synchronous answer went out in time, as it recorded in the inbox;
   * undefined while (or if never) recorded.
   */
  readSynchronousResponse(input: { connectionId: string; eventId: string }): Promise<boolean | undefined>;
}
