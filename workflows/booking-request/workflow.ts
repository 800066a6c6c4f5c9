import {
  ActivityFailure,
  ApplicationFailure,
  CancellationScope,
  TimeoutFailure,
  isCancellation,
  allHandlersFinished,
  condition,
  getExternalWorkflowHandle,
  log,
  patched,
  proxyActivities,
  proxyLocalActivities,
  setHandler,
  sleep,
  upsertSearchAttributes,
} from '@temporalio/workflow';
import { answerFor, requestedAtOf } from '../../domain/booking-answer.js';
import { afterFailedConfirmation, mayHaveLanded, type AnswerFailure, type HeldThere } from '../../domain/confirmation-outcome.js';
import type { RejectReason } from '../../domain/reasons.js';
import { SA } from '../../temporal/search-attributes.js';
import { activityChangedSignal } from '../activity-lifecycle/contract.js';
import { workflowIds } from '../ids.js';
import { sessionCancelledSignal } from '../session-cancellation/contract.js';
import {
  approvalUpdate,
  bookingEventSignal,
  bookingRequestStateQuery,
  requestDecisionUpdate,
  synchronousAnswerSignal,
  type ApprovalInput,
  type BookingEvent,
  type BookingRequestActivities,
  type BookingRequestInput,
  type BookingRequestState,
  type DecidedRequest,
  type RequestAnswerBody,
} from './contract.js';

/** A held request that nobody approves is rejected this long before the aggregator's deadline, to tell it in time. */
export const APPROVAL_MARGIN_MS = 2 * 60_000;
/** A RESERVED answer the aggregator keeps refusing to take is turned into a rejection this long before the deadline. */
export const CONFIRM_MARGIN_MS = 2 * 60_000;
/** The last attempt to tell the aggregator anything ends this long before its deadline. */
export const ANSWER_MARGIN_MS = 15_000;
/** How long the workflow lingers after its last event, so copies of a webhook sent at once join this run. */
const LINGER_MS = 10_000;
/**
 * How long a synchronous answer's webhook route has to report that the answer went out. The report itself is in the
 * inbox (the route writes it when the response closes); the signal only wakes the workflow early.
 */
const SYNC_REPORT_MS = 5_000;
/** Reading back a synchronous aggregator's booking: how long the reads may retry, how often a pending one is read. */
const READ_BACK_WINDOW_MS = 60_000;
const READ_BACK_TRIES = 5;
const READ_BACK_PAUSE_MS = 500;

/** Patch ids: each guards a change of this workflow's commands, so histories of runs started before it still replay. */
const SYNC_RESPONSE_IN_INBOX = 'synchronous-response-read-from-inbox';
const RESERVED_OUTCOME_UNKNOWN = 'reserved-outcome-unknown';
const SYNC_DECIDED_BY_ROUTE = 'synchronous-request-decided-by-the-route';

const ledger = proxyLocalActivities<BookingRequestActivities>({
  startToCloseTimeout: '10 seconds',
  retry: { initialInterval: '200 milliseconds', backoffCoefficient: 2, maximumInterval: '10 seconds' },
});

/**
 * One attempt's own bound. Longer than the HTTP client's timeout (10 s), so an attempt ends with the client's answer or
 * its timeout, never cut off by Temporal in the middle of a call whose outcome would then be unknown.
 */
const ATTEMPT_MS = 15_000;

/** Calls to the aggregator retry with backoff until the given moment (Temporal's schedule-to-close). */
function aggregatorCalls(until: number) {
  return proxyActivities<BookingRequestActivities>({
    startToCloseTimeout: ATTEMPT_MS,
    scheduleToCloseTimeout: Math.max(1_000, until - Date.now()),
    retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '30 seconds' },
  });
}

function failureMessage(error: unknown): string {
  const cause = error instanceof ActivityFailure ? (error.cause ?? error) : error;
  return cause instanceof Error ? cause.message : String(cause);
}

/** How a failed answer call failed, for the rules of domain/confirmation-outcome.ts. */
function answerFailureOf(error: unknown): AnswerFailure {
  if (isCancellation(error)) return { kind: 'abandoned' };
  if (!(error instanceof ActivityFailure)) return { kind: 'no_answer' };
  if (error.cause instanceof TimeoutFailure) return { kind: 'abandoned' };
  if (refused(error)) return { kind: 'refused' };
  const status = error.cause instanceof ApplicationFailure ? (error.cause.details?.[0] as { status?: number | null } | undefined)?.status : undefined;
  return typeof status === 'number' ? { kind: 'status', status } : { kind: 'no_answer' };
}

/** The aggregator refused the answer for good (a 4xx): retrying would change nothing. */
function refused(error: unknown): boolean {
  return error instanceof ActivityFailure && error.cause instanceof ApplicationFailure && error.cause.nonRetryable === true;
}

const answerOf = answerFor;

/**
 * One aggregator booking, from its request to its end: the decision under the session's lock, the answer before
 * the aggregator's deadline (a manual approval or a failing aggregator included), and the member's later
 * cancellation or check-in. Every event about the booking reaches this workflow (id `booking:<aggregator>:<number>`),
 * so copies of one webhook have one effect; a run that finds the request decided by an earlier run answers the same.
 */
export async function bookingRequestWorkflow(input: BookingRequestInput): Promise<BookingRequestState> {
  const state: BookingRequestState = {
    phase: 'waiting',
    answer: null,
    deadlineAt: null,
    sessionId: null,
    bookingId: null,
    events: [],
    answerAttempts: 0,
    lastAnswerError: null,
  };
  /** The booking number as its connection received it: every ledger step is scoped by it. */
  const ref = { aggregator: input.aggregator, connectionId: input.connectionId, bookingNumber: input.bookingNumber };
  const queue: BookingEvent[] = [];
  const seen = new Set<string>();
  let approval: ApprovalInput | undefined;
  let approvalAnswer: RequestAnswerBody | undefined;
  /** The request holds a spot in the session (a `requested` booking) until it is reserved or rejected. */
  let heldSpot = false;
  let syncReport: { delivered: boolean } | undefined;
  let lastEventAt = Date.now();

  const enqueue = (event: BookingEvent) => {
    lastEventAt = Date.now();
    if (seen.has(event.eventId)) return;
    seen.add(event.eventId);
    queue.push(event);
  };
  setHandler(bookingEventSignal, enqueue);
  setHandler(requestDecisionUpdate, async (event) => {
    enqueue(event);
    await condition(() => state.answer !== null);
    return state.answer as RequestAnswerBody;
  });
  setHandler(synchronousAnswerSignal, (report) => {
    syncReport = report;
  });
  setHandler(
    approvalUpdate,
    async (decision) => {
      approval = decision;
      await condition(() => approvalAnswer !== undefined);
      return approvalAnswer as RequestAnswerBody;
    },
    {
      validator: (_decision: ApprovalInput) => {
        if (state.phase !== 'awaiting_approval') {
          throw new Error(`the request is not waiting for approval (it is ${state.phase})`);
        }
      },
    },
  );
  setHandler(bookingRequestStateQuery, () => state);
  /** The studio cancelled the session while the request waited for its answer: it is rejected CLASS_HAS_BEEN_CANCELED. */
  let sessionCancelled = false;
  let telling: CancellationScope | undefined;
  setHandler(sessionCancelledSignal, () => {
    sessionCancelled = true;
    telling?.cancel();
  });
  const cancelledAnswer = { status: 'REJECTED', reason: 'CLASS_HAS_BEEN_CANCELED', message: 'the session has been cancelled' } as const;

  /** Signals to the lifecycle run beside the request's own steps (awaited before the workflow ends), off its critical path. */
  const notifications: Promise<void>[] = [];
  const notifyLifecycle = (activityId: string | null, sessionId: string | null): Promise<void> => {
    notifications.push(signalLifecycle(activityId, sessionId));
    return Promise.resolve();
  };
  const signalLifecycle = async (activityId: string | null, sessionId: string | null) => {
    if (activityId === null || sessionId === null) return;
    try {
      await getExternalWorkflowHandle(workflowIds.activityLifecycle(activityId)).signal(activityChangedSignal, { kind: 'booking', id: sessionId });
    } catch (error) {
      // No lifecycle runs for an activity that is not offered: nothing to update at the aggregators.
      log.info('activity lifecycle not signalled', { activityId, error: failureMessage(error) });
    }
  };

  const setStatus = (status: string) => upsertSearchAttributes([{ key: SA.bookingStatus, value: status }]);

  /** The request's event, and events that came before it and wait to be applied after it. */
  let requestEventId: string | undefined;
  const earlier: BookingEvent[] = [];

  const finish = async (
    decided: DecidedRequest,
    answer: RequestAnswerBody,
    told: 'sent' | 'in_webhook_response' | 'refused' | 'unreachable' | 'not_needed',
    error?: string,
    settles: string[] = [],
  ): Promise<true> => {
    await ledger.finishRequest({
      ...ref,
      decision: answer.status === 'RESERVED' ? 'reserve' : 'reject',
      reason: answer.status === 'REJECTED' ? answer.reason : undefined,
      message: answer.status === 'REJECTED' ? answer.message : undefined,
      answer: told,
      lastError: error,
      actor: told === 'unreachable' ? `aggregator:${input.aggregator}:auto-reject` : 'service',
      eventIds: [...(requestEventId !== undefined ? [requestEventId] : []), ...settles],
    });
    state.answer = answer;
    state.phase = 'answered';
    setStatus(answer.status === 'RESERVED' ? 'reserved' : 'rejected');
    // A reservation keeps the spot its request held; a rejection frees it, and the aggregators' counts follow.
    if (answer.status === 'REJECTED' && heldSpot) await notifyLifecycle(decided.activityId, decided.sessionId);
    return true;
  };

  /** Tells an asynchronous aggregator, retrying until `until`; returns the error that stopped it, if any. */
  const tell = async (
    event: BookingEvent,
    answer: RequestAnswerBody,
    until: number,
  ): Promise<{ ok: true } | { ok: false; refused: boolean; error: string; failure: AnswerFailure }> => {
    if (until - Date.now() < ATTEMPT_MS && patched(RESERVED_OUTCOME_UNKNOWN)) {
      // Too little time left for one whole attempt: a call cut off midway would leave its outcome unknown.
      state.lastAnswerError = 'too little time left before the deadline for one attempt';
      return { ok: false, refused: false, error: state.lastAnswerError, failure: { kind: 'status', status: 408 } };
    }
    try {
      state.answerAttempts += 1;
      // A RESERVED still being retried gives way as soon as the studio cancels the session.
      await CancellationScope.cancellable(async () => {
        telling = answer.status === 'RESERVED' ? CancellationScope.current() : undefined;
        await aggregatorCalls(until).answerAggregator({
          aggregator: input.aggregator,
          connectionId: input.connectionId,
          bookingNumber: input.bookingNumber,
          sessionExternalId: event.sessionExternalId,
          activityExternalId: event.activityExternalId,
          answer,
        });
      });
      return { ok: true };
    } catch (error) {
      state.lastAnswerError = isCancellation(error) ? 'the session was cancelled' : failureMessage(error);
      return { ok: false, refused: refused(error), error: state.lastAnswerError, failure: answerFailureOf(error) };
    } finally {
      telling = undefined;
    }
  };

  /** Decides and answers the request; true when its inbox event was settled with the final state. */
  const handleRequest = async (event: BookingEvent): Promise<boolean> => {
    if (state.phase !== 'waiting') return false;
    state.phase = 'deciding';
    requestEventId = event.eventId;
    const requestedAt = requestedAtOf(Date.now(), event.occurredAt, input.bookingDeadlineMs);
    const deadline = requestedAt + input.bookingDeadlineMs;
    let decided = await ledger.decideRequest({ ...input, event, deadlineAt: new Date(deadline).toISOString() });
    state.deadlineAt = decided.deadlineAt;
    state.sessionId = decided.sessionId;
    state.bookingId = decided.bookingId;
    if (decided.sessionId !== null) upsertSearchAttributes([{ key: SA.sessionId, value: decided.sessionId }]);
    const deadlineAt = Date.parse(decided.deadlineAt);

    if (decided.known && decided.answer !== 'pending') {
      // A redelivery after the decision: the aggregator has its answer (the webhook response repeats it, and a
      // synchronous aggregator gets it again in the update's result); it is never told twice, nor booked twice.
      const answer = answerOf(decided);
      state.answer = answer;
      state.phase = 'answered';
      setStatus(answer.status === 'RESERVED' ? 'reserved' : 'rejected');
      log.info('request redelivered after its answer: nothing to do again', { answer: answer.status });
      return false;
    }
    heldSpot = decided.bookingId !== null && decided.decision !== 'reject';
    const cancelledFirst = decided.waiting.find((e) => e.type === 'booking_cancelled');
    if (cancelledFirst !== undefined && decided.bookingId !== null) {
      // The member cancelled at the aggregator before its request reached us: there is nothing to answer any more.
      log.warn('request arrived after its cancellation: settled as cancelled, nothing told', { bookingNumber: input.bookingNumber });
      const settled = { status: 'REJECTED', reason: 'GENERAL_ERROR', message: 'cancelled by the member before the answer' } as const;
      approvalAnswer = settled;
      return finish(decided, settled, 'not_needed', undefined, [cancelledFirst.eventId]);
    }
    earlier.push(...decided.waiting);
    // A synchronous aggregator's answer goes out first; the lifecycle hears of the held spot right after.
    if (!decided.known && heldSpot && !input.answersSynchronously) await notifyLifecycle(decided.activityId, decided.sessionId);

    if (decided.decision === 'awaiting_approval') {
      state.phase = 'awaiting_approval';
      setStatus('awaiting_approval');
      const memberCancelled = () => queue.some((e) => e.type === 'booking_cancelled');
      const answered = await condition(
        () => approval !== undefined || memberCancelled() || sessionCancelled,
        Math.max(0, deadlineAt - APPROVAL_MARGIN_MS - Date.now()),
      );
      if (sessionCancelled) {
        approvalAnswer = cancelledAnswer;
      } else if (!answered) {
        decided = await ledger.recordApproval({
          ...ref,
          approval: { approve: false, reason: 'GENERAL_ERROR', message: 'the studio did not approve the booking in time', actor: 'service' },
        });
        approvalAnswer = answerOf(decided);
      } else if (approval !== undefined) {
        decided = await ledger.recordApproval({ ...ref, approval });
        approvalAnswer = answerOf(decided);
      } else {
        // The member cancelled at the aggregator while the studio was deciding: the cancellation settles it.
        state.phase = 'answered';
        state.answer = { status: 'REJECTED', reason: 'GENERAL_ERROR', message: 'cancelled by the member before the answer' };
        approvalAnswer = state.answer;
        return false;
      }
    }

    let answer: RequestAnswerBody = sessionCancelled ? cancelledAnswer : answerOf(decided);
    if (input.answersSynchronously) {
      // The webhook route returns this answer in its response, then reports whether that went out in time.
      state.answer = answer;
      state.phase = 'answering';
      // The webhook route decides a synchronous aggregator's request itself (the run finds it decided, answer pending):
      // the spot it holds is this run's to announce.
      if ((!decided.known || patched(SYNC_DECIDED_BY_ROUTE)) && heldSpot) await notifyLifecycle(decided.activityId, decided.sessionId);
      await condition(() => syncReport !== undefined, SYNC_REPORT_MS);
      const missed = { status: 'REJECTED', reason: 'TECHNICAL_ERROR', message: 'the answer did not reach the aggregator in time' } as const;
      // What the route recorded durably decides, not the signal: the signal is lost when the route could not reach
      // the workflow (the update-with-start had not landed) or its process died after answering. Nothing recorded
      // means "not known": the read-back below then asks the aggregator itself.
      const delivered = patched(SYNC_RESPONSE_IN_INBOX)
        ? await ledger.readSynchronousResponse({ connectionId: input.connectionId, eventId: event.eventId })
        : syncReport?.delivered;
      if (delivered === false) return finish(decided, missed, 'unreachable');
      if (answer.status === 'RESERVED') {
        // Only the aggregator knows whether our response reached it within its wait: the ledger follows what it holds.
        // Unreadable (no such call, or it keeps failing until the margin): the reservation stands, which can leave a
        // spot unused but never gives one away twice.
        let held: Awaited<ReturnType<BookingRequestActivities['readHeldStatus']>>;
        try {
          // The aggregator settles the booking as it reads our response: a moment later it is no longer pending.
          for (let read = 0; read < READ_BACK_TRIES && (read === 0 || held === 'pending'); read += 1) {
            if (read > 0) await sleep(READ_BACK_PAUSE_MS);
            held = await aggregatorCalls(Date.now() + READ_BACK_WINDOW_MS).readHeldStatus({ ...ref, sessionExternalId: event.sessionExternalId });
          }
        } catch (error) {
          log.warn('could not read back the synchronous answer', { error: failureMessage(error) });
        }
        if (held === 'rejected') return finish(decided, missed, 'unreachable');
      }
      return finish(decided, answer, 'in_webhook_response');
    }

    state.phase = 'answering';
    /** How our RESERVED failed, when it did without a refusal: it may still have reached the aggregator. */
    let failedConfirmation: AnswerFailure | undefined;
    if (answer.status === 'RESERVED') {
      const told = await tell(event, answer, deadlineAt - CONFIRM_MARGIN_MS);
      if (told.ok) return finish(decided, answer, 'sent');
      if (!told.refused) failedConfirmation = told.failure;
      if (sessionCancelled) {
        answer = cancelledAnswer;
      } else if (told.refused) {
        // The aggregator will not take the booking (it no longer waits for an answer): free the spot.
        return finish(decided, { status: 'REJECTED', reason: 'TECHNICAL_ERROR', message: `the aggregator refused the confirmation: ${told.error}` }, 'refused', told.error);
      } else {
        answer = { status: 'REJECTED', reason: 'TECHNICAL_ERROR', message: 'the aggregator could not be reached to confirm the booking in time' };
        log.warn('confirmation not delivered before the margin: rejecting instead', { bookingNumber: input.bookingNumber, error: told.error });
      }
    }
    const told = await tell(event, answer, deadlineAt - ANSWER_MARGIN_MS);
    if (told.ok) return finish(decided, answer, 'sent');
    if (failedConfirmation !== undefined && patched(RESERVED_OUTCOME_UNKNOWN)) {
      return settleFailedConfirmation(decided, event, answer, { ...told, confirmation: failedConfirmation });
    }
    // The aggregator cannot hear the rejection: its own auto-reject at the deadline applies, which is the same outcome.
    return finish(decided, answer, told.refused ? 'refused' : 'unreachable', told.error);
  };

  /** Our RESERVED failed and so did the REJECTED after it: the ledger follows what the aggregator holds. */
  const settleFailedConfirmation = async (
    decided: DecidedRequest,
    event: BookingEvent,
    rejection: RequestAnswerBody,
    told: { refused: boolean; error: string; confirmation: AnswerFailure },
  ): Promise<true> => {
    let held: HeldThere;
    // Worth asking only when the rejection did not settle it: a refused one already says the aggregator holds it.
    if (told.refused || mayHaveLanded(told.confirmation)) {
      try {
        held = await aggregatorCalls(Date.now() + READ_BACK_WINDOW_MS).readHeldStatus({ ...ref, sessionExternalId: event.sessionExternalId });
      } catch (error) {
        log.warn('could not read back a booking whose confirmation may have landed', { error: failureMessage(error) });
      }
    }
    const outcome = afterFailedConfirmation({ confirmation: told.confirmation, rejection: told.refused ? 'refused' : 'unreachable', held });
    if (outcome.keep === 'rejected') return finish(decided, rejection, told.refused ? 'refused' : 'unreachable', told.error);
    const note = outcome.known
      ? `the aggregator holds the booking: a confirmation that seemed to fail had reached it (${told.error})`
      : `unknown whether the aggregator holds the booking; kept reserved so its spot is never sold twice (${told.error})`;
    log.warn('a confirmation that seemed to fail: the reservation stands', { bookingNumber: input.bookingNumber, known: outcome.known, held });
    return finish(decided, { status: 'RESERVED' }, outcome.known ? 'sent' : 'unreachable', note);
  };

  const handleMemberEvent = async (event: BookingEvent) => {
    const result = await ledger.applyMemberEvent({ ...ref, event });
    state.events.push({ eventId: event.eventId, type: event.type, outcome: `${result.outcome}: ${result.detail}` });
    await ledger.markEvents({ connectionId: input.connectionId, outcomes: [{ eventId: event.eventId, outcome: result.outcome, detail: result.detail }] });
    if (result.outcome === 'waiting_for_request') {
      log.warn('event for a booking not requested yet: kept until its request arrives', { type: event.type, bookingNumber: input.bookingNumber });
    } else if (result.outcome === 'ignored') {
      log.warn('event does not fit the booking: ignored', { type: event.type, detail: result.detail });
    } else {
      if (result.sessionId !== null) state.sessionId = result.sessionId;
      setStatus(event.type === 'checked_in' ? 'attended' : event.late ? 'late_cancelled' : 'cancelled_by_customer');
    }
    if (result.notifyLifecycle) await notifyLifecycle(result.activityId, result.sessionId);
  };

  for (;;) {
    const more = await condition(() => queue.length > 0, Math.max(1, lastEventAt + LINGER_MS - Date.now()));
    if (!more) {
      if (Date.now() - lastEventAt >= LINGER_MS) break;
      continue;
    }
    const event = queue.shift() as BookingEvent;
    if (event.type === 'booking_requested') {
      state.events.push({ eventId: event.eventId, type: event.type, outcome: 'request' });
      const settled = await handleRequest(event);
      if (!settled) await ledger.markEvents({ connectionId: input.connectionId, outcomes: [{ eventId: event.eventId, outcome: 'applied' }] });
      // A check-in that came before the request was kept for it: apply it now, in order.
      for (const e of earlier.splice(0)) if (!queue.some((q) => q.eventId === e.eventId)) queue.push(e);
    } else {
      await handleMemberEvent(event);
    }
  }
  await Promise.all(notifications);
  state.phase = 'done';
  await condition(allHandlersFinished);
  return state;
}

export type { RejectReason };
