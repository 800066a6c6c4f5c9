import {
  ActivityFailure,
  CancellationScope,
  TimeoutFailure,
  condition,
  getExternalWorkflowHandle,
  isCancellation,
  log,
  patched,
  proxyActivities,
  proxyLocalActivities,
  sleep,
  upsertSearchAttributes,
} from '@temporalio/workflow';
import { answerFor, requestedAtOf } from '../../domain/booking-answer.js';
import {
  SESSION_CANCELLED_ANSWER,
  afterFailedConfirmation,
  afterUndeliveredConfirmation,
  mayHaveLanded,
  type AnswerFailure,
  type HeldThere,
} from '../../domain/confirmation-outcome.js';
import type { RequestTold } from '../../domain/model.js';
import { SA } from '../../temporal/search-attributes.js';
import { activityChangedSignal } from '../activity-lifecycle/contract.js';
import { applicationCause, failureMessage } from '../failures.js';
import { workflowIds } from '../ids.js';
import { LEDGER_STEP_OPTIONS } from '../ledger-steps.js';
import type {
  ApprovalInput,
  BookingEvent,
  BookingRequestActivities,
  BookingRequestInput,
  BookingRequestState,
  DecidedRequest,
  RequestAnswerBody,
} from './contract.js';

/** A held request that nobody approves is rejected this long before the aggregator's deadline, to tell it in time. */
export const APPROVAL_MARGIN_MS = 2 * 60_000;
/** A RESERVED answer the aggregator keeps refusing to take is turned into a rejection this long before the deadline. */
export const CONFIRM_MARGIN_MS = 2 * 60_000;
/** The last attempt to tell the aggregator anything ends this long before its deadline. */
export const ANSWER_MARGIN_MS = 15_000;
/**
 * How long a synchronous answer's webhook route has to report that the answer went out. The report itself is in the
 * inbox (the route writes it when the response closes); the signal only wakes the workflow early.
 */
const SYNC_REPORT_MS = 5_000;
/** Reading back a synchronous aggregator's booking: how long the reads may retry, how often a pending one is read. */
const READ_BACK_WINDOW_MS = 60_000;
const READ_BACK_TRIES = 5;
const READ_BACK_PAUSE_MS = 500;
/**
 * One attempt's own bound. Longer than the HTTP client's timeout (10 s), so an attempt ends with the client's answer or
 * its timeout, never cut off by Temporal in the middle of a call whose outcome would then be unknown.
 */
const ATTEMPT_MS = 15_000;

/** Patch ids: each guards a change of this workflow's commands, so histories of runs started before it still replay. */
const SYNC_RESPONSE_IN_INBOX = 'synchronous-response-read-from-inbox';
const RESERVED_OUTCOME_UNKNOWN = 'reserved-outcome-unknown';
const SYNC_DECIDED_BY_ROUTE = 'synchronous-request-decided-by-the-route';

const ledger = proxyLocalActivities<BookingRequestActivities>(LEDGER_STEP_OPTIONS);

/** Calls to the aggregator retry with backoff until the given moment (Temporal's schedule-to-close). */
function aggregatorCalls(until: number) {
  return proxyActivities<BookingRequestActivities>({
    startToCloseTimeout: ATTEMPT_MS,
    scheduleToCloseTimeout: Math.max(1_000, until - Date.now()),
    retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '30 seconds' },
  });
}

/** The aggregator refused the answer for good (a 4xx): retrying would change nothing. */
function refused(error: unknown): boolean {
  return error instanceof ActivityFailure && applicationCause(error)?.nonRetryable === true;
}

/** How a failed answer call failed, for the rules of domain/confirmation-outcome.ts. */
function answerFailureOf(error: unknown): AnswerFailure {
  if (isCancellation(error)) return { kind: 'abandoned' };
  if (!(error instanceof ActivityFailure)) return { kind: 'no_answer' };
  if (error.cause instanceof TimeoutFailure) return { kind: 'abandoned' };
  if (refused(error)) return { kind: 'refused' };
  const status = (applicationCause(error)?.details?.[0] as { status?: number | null } | undefined)?.status;
  return typeof status === 'number' ? { kind: 'status', status } : { kind: 'no_answer' };
}

type TellResult = { ok: true } | { ok: false; refused: boolean; error: string; failure: AnswerFailure };

/**
 * One booking's state and its steps: the decision, then one of three ways to the answer (waiting for the studio's
 * approval, answering a synchronous aggregator in the webhook response, telling an asynchronous one by its API), the
 * final state in the ledger, and the member's later events. The workflow function wires messages to it and runs the
 * event loop; every rule it applies is a pure function in domain/.
 */
export class BookingRun {
  readonly state: BookingRequestState = {
    phase: 'waiting',
    answer: null,
    deadlineAt: null,
    sessionId: null,
    bookingId: null,
    events: [],
    answerAttempts: 0,
    lastAnswerError: null,
  };
  /** Events to apply, in order of arrival; each event id once. */
  readonly queue: BookingEvent[] = [];
  private readonly seen = new Set<string>();
  lastEventAt = Date.now();
  /** The booking number as its connection received it: every ledger step is scoped by it. */
  private readonly ref: { aggregator: BookingRequestInput['aggregator']; connectionId: string; bookingNumber: string };
  /** The request holds a spot in the session (a `requested` booking) until it is reserved or rejected. */
  private heldSpot = false;
  private approval: ApprovalInput | undefined;
  /** The answer an approval update waits for. */
  approvalAnswer: RequestAnswerBody | undefined;
  private syncReport: { delivered: boolean } | undefined;
  /** The studio cancelled the session while the request waited for its answer: it is rejected CLASS_HAS_BEEN_CANCELED. */
  private sessionCancelled = false;
  private telling: CancellationScope | undefined;
  /** The request's event, and events that came before it and wait to be applied after it. */
  private requestEventId: string | undefined;
  private readonly earlier: BookingEvent[] = [];
  /** Signals to the lifecycle run beside the request's own steps (awaited before the workflow ends), off its critical path. */
  private readonly notifications: Promise<void>[] = [];

  constructor(private readonly input: BookingRequestInput) {
    this.ref = { aggregator: input.aggregator, connectionId: input.connectionId, bookingNumber: input.bookingNumber };
  }

  // --- messages -------------------------------------------------------------------------------------------------

  enqueue(event: BookingEvent): void {
    this.lastEventAt = Date.now();
    if (this.seen.has(event.eventId)) return;
    this.seen.add(event.eventId);
    this.queue.push(event);
  }

  reportSynchronousAnswer(report: { delivered: boolean }): void {
    this.syncReport = report;
  }

  approve(decision: ApprovalInput): void {
    this.approval = decision;
  }

  cancelSession(): void {
    this.sessionCancelled = true;
    this.telling?.cancel();
  }

  /** Every lifecycle signal sent, before the run ends. */
  async notified(): Promise<void> {
    await Promise.all(this.notifications);
  }

  // --- the event loop's steps --------------------------------------------------------------------------------------

  /** The request: decided, answered, settled; then events that waited for it are queued, in order. */
  async onRequest(event: BookingEvent): Promise<void> {
    this.state.events.push({ eventId: event.eventId, type: event.type, outcome: 'request' });
    const settled = await this.handleRequest(event);
    if (!settled) await ledger.markEvents({ connectionId: this.input.connectionId, outcomes: [{ eventId: event.eventId, outcome: 'applied' }] });
    // A check-in that came before the request was kept for it: apply it now, in order.
    for (const e of this.earlier.splice(0)) if (!this.queue.some((q) => q.eventId === e.eventId)) this.queue.push(e);
  }

  /** A member's cancellation or check-in. */
  async onMemberEvent(event: BookingEvent): Promise<void> {
    const result = await ledger.applyMemberEvent({ ...this.ref, event });
    this.state.events.push({ eventId: event.eventId, type: event.type, outcome: `${result.outcome}: ${result.detail}` });
    await ledger.markEvents({ connectionId: this.input.connectionId, outcomes: [{ eventId: event.eventId, outcome: result.outcome, detail: result.detail }] });
    if (result.outcome === 'waiting_for_request') {
      log.warn('event for a booking not requested yet: kept until its request arrives', { type: event.type, bookingNumber: this.input.bookingNumber });
    } else if (result.outcome === 'ignored') {
      log.warn('event does not fit the booking: ignored', { type: event.type, detail: result.detail });
    } else {
      if (result.sessionId !== null) this.state.sessionId = result.sessionId;
      this.setStatus(event.type === 'checked_in' ? 'attended' : event.late ? 'late_cancelled' : 'cancelled_by_customer');
    }
    if (result.notifyLifecycle) this.notifyLifecycle(result.activityId, result.sessionId);
  }

  // --- the request ------------------------------------------------------------------------------------------------

  /** Decides and answers the request; true when its inbox event was settled with the final state. */
  private async handleRequest(event: BookingEvent): Promise<boolean> {
    const { state, input } = this;
    if (state.phase !== 'waiting') return false;
    state.phase = 'deciding';
    this.requestEventId = event.eventId;
    const requestedAt = requestedAtOf(Date.now(), event.occurredAt, input.bookingDeadlineMs);
    let decided = await ledger.decideRequest({ ...input, event, deadlineAt: new Date(requestedAt + input.bookingDeadlineMs).toISOString() });
    state.deadlineAt = decided.deadlineAt;
    state.sessionId = decided.sessionId;
    state.bookingId = decided.bookingId;
    if (decided.sessionId !== null) upsertSearchAttributes([{ key: SA.sessionId, value: decided.sessionId }]);

    if (decided.known && decided.answer !== 'pending') {
      // A redelivery after the decision: the aggregator has its answer (the webhook response repeats it); it is never
      // told twice, nor booked twice.
      const answer = answerFor(decided);
      state.answer = answer;
      state.phase = 'answered';
      this.setStatus(answer.status === 'RESERVED' ? 'reserved' : 'rejected');
      log.info('request redelivered after its answer: nothing to do again', { answer: answer.status });
      return false;
    }
    this.heldSpot = decided.bookingId !== null && decided.decision !== 'reject';
    const cancelledFirst = decided.waiting.find((e) => e.type === 'booking_cancelled');
    if (cancelledFirst !== undefined && decided.bookingId !== null) {
      // The member cancelled at the aggregator before its request reached us: there is nothing to answer any more.
      log.warn('request arrived after its cancellation: settled as cancelled, nothing told', { bookingNumber: input.bookingNumber });
      const settled = { status: 'REJECTED', reason: 'GENERAL_ERROR', message: 'cancelled by the member before the answer' } as const;
      this.approvalAnswer = settled;
      return this.finish(decided, settled, 'not_needed', undefined, [cancelledFirst.eventId]);
    }
    this.earlier.push(...decided.waiting);
    // A synchronous aggregator's answer goes out first; the lifecycle hears of the held spot right after.
    if (!decided.known && this.heldSpot && !input.answersSynchronously) this.notifyLifecycle(decided.activityId, decided.sessionId);

    if (decided.decision === 'awaiting_approval') {
      const approved = await this.awaitApproval(decided);
      if (approved === undefined) return false;
      decided = approved;
    }
    if (input.answersSynchronously) return this.answerSynchronously(decided, event);
    return this.tellAsynchronously(decided, event);
  }

  /**
   * Holds the spot until the studio approves or declines, or the approval margin before the deadline passes (then the
   * request is declined). undefined: the member cancelled meanwhile, which settles the request without an answer.
   */
  private async awaitApproval(decided: DecidedRequest): Promise<DecidedRequest | undefined> {
    const { state } = this;
    state.phase = 'awaiting_approval';
    this.setStatus('awaiting_approval');
    const memberCancelled = () => this.queue.some((e) => e.type === 'booking_cancelled');
    const answered = await condition(
      () => this.approval !== undefined || memberCancelled() || this.sessionCancelled,
      Math.max(0, Date.parse(decided.deadlineAt) - APPROVAL_MARGIN_MS - Date.now()),
    );
    if (this.sessionCancelled) {
      this.approvalAnswer = SESSION_CANCELLED_ANSWER;
      return decided;
    }
    if (!answered) {
      const declined = await ledger.recordApproval({
        ...this.ref,
        approval: { approve: false, reason: 'GENERAL_ERROR', message: 'the studio did not approve the booking in time', actor: 'service' },
      });
      this.approvalAnswer = answerFor(declined);
      return declined;
    }
    if (this.approval !== undefined) {
      const settled = await ledger.recordApproval({ ...this.ref, approval: this.approval });
      this.approvalAnswer = answerFor(settled);
      return settled;
    }
    // The member cancelled at the aggregator while the studio was deciding: the cancellation settles it.
    state.phase = 'answered';
    state.answer = { status: 'REJECTED', reason: 'GENERAL_ERROR', message: 'cancelled by the member before the answer' };
    this.approvalAnswer = state.answer;
    return undefined;
  }

  /**
   * A synchronous aggregator (Onefit) read the answer from the webhook response: whether it got there decides, as
   * the route recorded it; and since only the aggregator knows whether it took a RESERVED in time, it is read back.
   */
  private async answerSynchronously(decided: DecidedRequest, event: BookingEvent): Promise<true> {
    const { state } = this;
    const answer = this.sessionCancelled ? SESSION_CANCELLED_ANSWER : answerFor(decided);
    state.answer = answer;
    state.phase = 'answering';
    // The webhook route decides a synchronous aggregator's request itself (the run finds it decided, answer pending):
    // the spot it holds is this run's to announce.
    if ((!decided.known || patched(SYNC_DECIDED_BY_ROUTE)) && this.heldSpot) this.notifyLifecycle(decided.activityId, decided.sessionId);
    await condition(() => this.syncReport !== undefined, SYNC_REPORT_MS);
    const missed = { status: 'REJECTED', reason: 'TECHNICAL_ERROR', message: 'the answer did not reach the aggregator in time' } as const;
    // What the route recorded durably decides, not the signal: the signal is lost when the route could not reach the
    // workflow or its process died after answering. Nothing recorded means "not known": the read-back then asks the
    // aggregator itself.
    const delivered = patched(SYNC_RESPONSE_IN_INBOX)
      ? await ledger.readSynchronousResponse({ connectionId: this.input.connectionId, eventId: event.eventId })
      : this.syncReport?.delivered;
    if (delivered === false) return this.finish(decided, missed, 'unreachable');
    if (answer.status === 'RESERVED') {
      // Unreadable (no such call, or it keeps failing until the margin): the reservation stands, which can leave a spot
      // unused but never gives one away twice.
      let held: HeldThere;
      try {
        // The aggregator settles the booking as it reads our response: a moment later it is no longer pending.
        for (let read = 0; read < READ_BACK_TRIES && (read === 0 || held === 'pending'); read += 1) {
          if (read > 0) await sleep(READ_BACK_PAUSE_MS);
          held = await this.readBack(event);
        }
      } catch (error) {
        log.warn('could not read back the synchronous answer', { error: failureMessage(error) });
      }
      if (held === 'rejected') return this.finish(decided, missed, 'unreachable');
    }
    return this.finish(decided, answer, 'in_webhook_response');
  }

  /**
   * An asynchronous aggregator is told by its API, retried until the margins before its deadline: RESERVED until 2
   * minutes before, then a rejection instead until 15 s before; what it holds decides when neither got through.
   */
  private async tellAsynchronously(decided: DecidedRequest, event: BookingEvent): Promise<true> {
    const deadlineAt = Date.parse(decided.deadlineAt);
    this.state.phase = 'answering';
    let answer: RequestAnswerBody = this.sessionCancelled ? SESSION_CANCELLED_ANSWER : answerFor(decided);
    /** How our RESERVED failed, when it did without a refusal: it may still have reached the aggregator. */
    let failedConfirmation: AnswerFailure | undefined;
    if (answer.status === 'RESERVED') {
      const told = await this.tell(event, answer, deadlineAt - CONFIRM_MARGIN_MS);
      if (told.ok) return this.finish(decided, answer, 'sent');
      if (!told.refused) failedConfirmation = told.failure;
      const next = afterUndeliveredConfirmation({ sessionCancelled: this.sessionCancelled, refused: told.refused, error: told.error });
      if (next.then === 'end') return this.finish(decided, next.answer, 'refused', told.error);
      if (!this.sessionCancelled) {
        log.warn('confirmation not delivered before the margin: rejecting instead', { bookingNumber: this.input.bookingNumber, error: told.error });
      }
      answer = next.answer;
    }
    const told = await this.tell(event, answer, deadlineAt - ANSWER_MARGIN_MS);
    if (told.ok) return this.finish(decided, answer, 'sent');
    if (failedConfirmation !== undefined && patched(RESERVED_OUTCOME_UNKNOWN)) {
      return this.settleFailedConfirmation(decided, event, answer, { ...told, confirmation: failedConfirmation });
    }
    // The aggregator cannot hear the rejection: its own auto-reject at the deadline applies, which is the same outcome.
    return this.finish(decided, answer, told.refused ? 'refused' : 'unreachable', told.error);
  }

  /** Our RESERVED failed and so did the REJECTED after it: the ledger follows what the aggregator holds. */
  private async settleFailedConfirmation(
    decided: DecidedRequest,
    event: BookingEvent,
    rejection: RequestAnswerBody,
    told: { refused: boolean; error: string; confirmation: AnswerFailure },
  ): Promise<true> {
    let held: HeldThere;
    // Worth asking only when it may hold it: a confirmation that surely never landed and a rejection never heard leave
    // the booking to the aggregator's own auto-reject.
    if (told.refused || mayHaveLanded(told.confirmation)) {
      try {
        held = await this.readBack(event);
      } catch (error) {
        log.warn('could not read back a booking whose confirmation may have landed', { error: failureMessage(error) });
      }
    }
    const outcome = afterFailedConfirmation({ confirmation: told.confirmation, rejection: told.refused ? 'refused' : 'unreachable', held });
    if (outcome.keep === 'rejected') return this.finish(decided, rejection, told.refused ? 'refused' : 'unreachable', told.error);
    const note = outcome.known
      ? `the aggregator holds the booking: a confirmation that seemed to fail had reached it (${told.error})`
      : `unknown whether the aggregator holds the booking; kept reserved so its spot is never sold twice (${told.error})`;
    log.warn('a confirmation that seemed to fail: the reservation stands', { bookingNumber: this.input.bookingNumber, known: outcome.known, held });
    return this.finish(decided, { status: 'RESERVED' }, outcome.known ? 'sent' : 'unreachable', note);
  }

  /** Tells the aggregator, retrying until `until`; says how it failed, if it did. */
  private async tell(event: BookingEvent, answer: RequestAnswerBody, until: number): Promise<TellResult> {
    const { state } = this;
    if (until - Date.now() < ATTEMPT_MS && patched(RESERVED_OUTCOME_UNKNOWN)) {
      // Too little time left for one whole attempt: a call cut off midway would leave its outcome unknown.
      state.lastAnswerError = 'too little time left before the deadline for one attempt';
      return { ok: false, refused: false, error: state.lastAnswerError, failure: { kind: 'status', status: 408 } };
    }
    try {
      state.answerAttempts += 1;
      // A RESERVED still being retried gives way as soon as the studio cancels the session.
      await CancellationScope.cancellable(async () => {
        this.telling = answer.status === 'RESERVED' ? CancellationScope.current() : undefined;
        await aggregatorCalls(until).answerAggregator({
          ...this.ref,
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
      this.telling = undefined;
    }
  }

  private readBack(event: BookingEvent): Promise<HeldThere> {
    return aggregatorCalls(Date.now() + READ_BACK_WINDOW_MS).readHeldStatus({ ...this.ref, sessionExternalId: event.sessionExternalId });
  }

  /** The final state in the ledger: the held spot reserved, or freed as rejected; and what the aggregator was told. */
  private async finish(decided: DecidedRequest, answer: RequestAnswerBody, told: RequestTold, error?: string, settles: string[] = []): Promise<true> {
    await ledger.finishRequest({
      ...this.ref,
      decision: answer.status === 'RESERVED' ? 'reserve' : 'reject',
      reason: answer.status === 'REJECTED' ? answer.reason : undefined,
      message: answer.status === 'REJECTED' ? answer.message : undefined,
      answer: told,
      lastError: error,
      actor: told === 'unreachable' ? `aggregator:${this.input.aggregator}:auto-reject` : 'service',
      eventIds: [...(this.requestEventId !== undefined ? [this.requestEventId] : []), ...settles],
    });
    this.state.answer = answer;
    this.state.phase = 'answered';
    this.setStatus(answer.status === 'RESERVED' ? 'reserved' : 'rejected');
    // A reservation keeps the spot its request held; a rejection frees it, and the aggregators' counts follow.
    if (answer.status === 'REJECTED' && this.heldSpot) this.notifyLifecycle(decided.activityId, decided.sessionId);
    return true;
  }

  // --- around ------------------------------------------------------------------------------------------------------

  private setStatus(status: string): void {
    upsertSearchAttributes([{ key: SA.bookingStatus, value: status }]);
  }

  /** The lifecycle hears of a spot held or freed, so every aggregator's count follows; sent beside the request's steps. */
  private notifyLifecycle(activityId: string | null, sessionId: string | null): void {
    this.notifications.push(this.signalLifecycle(activityId, sessionId));
  }

  private async signalLifecycle(activityId: string | null, sessionId: string | null): Promise<void> {
    if (activityId === null || sessionId === null) return;
    try {
      await getExternalWorkflowHandle(workflowIds.activityLifecycle(activityId)).signal(activityChangedSignal, { kind: 'booking', id: sessionId });
    } catch (error) {
      // No lifecycle runs for an activity that is not offered: nothing to update at the aggregators.
      log.info('activity lifecycle not signalled', { activityId, error: failureMessage(error) });
    }
  }
}
