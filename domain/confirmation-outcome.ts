import type { RequestAnswerBody } from './booking-answer.js';

/**
 * What the ledger keeps when our RESERVED answer to an aggregator failed and the REJECTED that follows it did not get
 * through either. Pure rules, so the booking workflow only maps Temporal's failures onto them.
 */

/** How one attempt at telling the aggregator failed, as far as we can know. */
export type AnswerFailure =
  /** The aggregator answered 4xx: it did not take this answer. */
  | { kind: 'refused' }
  /** An HTTP answer with this status (5xx, 429, 408). */
  | { kind: 'status'; status: number }
  /** No HTTP answer: a timeout, a dropped or refused connection. */
  | { kind: 'no_answer' }
  /** The call was abandoned (its attempt timed out in Temporal, or the workflow stopped waiting for it). */
  | { kind: 'abandoned' };

/**
 * Whether a failed answer may nonetheless have reached the aggregator and taken effect. An explicit "not now" (503,
 * 429, 408) or a refusal did not; with no answer at all, or a gateway or server error, the request may have been
 * processed and only its answer lost.
 */
export function mayHaveLanded(failure: AnswerFailure): boolean {
  switch (failure.kind) {
    case 'refused':
      return false;
    case 'status':
      return failure.status !== 503 && failure.status !== 429 && failure.status !== 408;
    case 'no_answer':
    case 'abandoned':
      return true;
  }
}

/** Where the aggregator holds the booking when it can be asked (undefined: it cannot be read back). */
export type HeldThere = 'pending' | 'reserved' | 'rejected' | 'cancelled' | 'attended' | undefined;

export type UnsettledConfirmation =
  /** The aggregator holds the reservation: the ledger keeps it reserved (it was told, one way or the other). */
  | { keep: 'reserved'; known: true }
  /** Nobody can tell whether the aggregator holds it: the reservation stands, so its spot is never sold twice. */
  | { keep: 'reserved'; known: false }
  /** The aggregator does not hold it (it took the rejection, or rejects it by itself at its deadline): free the spot. */
  | { keep: 'rejected' };

/**
 * A RESERVED failed (`confirmation`), then the REJECTED after it was refused or never got through (`rejection`).
 * Freeing the spot while the aggregator holds a reservation would sell that spot twice, so the ledger follows the
 * aggregator: what it says when it can be read back; else a refused rejection means it holds the reservation (it
 * refuses to reject a booking it has confirmed); else, when the confirmation may have landed, nothing is known and the
 * reservation stands, which may leave a spot unused but never gives one away twice.
 */
export function afterFailedConfirmation(input: { confirmation: AnswerFailure; rejection: 'refused' | 'unreachable'; held: HeldThere }): UnsettledConfirmation {
  if (input.held === 'rejected' || input.held === 'pending') return { keep: 'rejected' };
  if (input.held !== undefined) return { keep: 'reserved', known: true };
  if (input.rejection === 'refused') return { keep: 'reserved', known: true };
  return mayHaveLanded(input.confirmation) ? { keep: 'reserved', known: false } : { keep: 'rejected' };
}

/** The answer to a request whose session the studio cancelled while it waited for its answer. */
export const SESSION_CANCELLED_ANSWER: RequestAnswerBody = { status: 'REJECTED', reason: 'CLASS_HAS_BEEN_CANCELED', message: 'the session has been cancelled' };

/**
 * What follows a RESERVED that did not get through by the confirmation margin: a session the studio cancelled
 * meanwhile is answered as cancelled; an aggregator that refused the confirmation no longer waits for an answer, so
 * the request ends there and its spot is freed; otherwise the aggregator is told REJECTED (TECHNICAL_ERROR) instead.
 */
export function afterUndeliveredConfirmation(input: { sessionCancelled: boolean; refused: boolean; error: string }):
  | { then: 'end'; answer: RequestAnswerBody }
  | { then: 'reject'; answer: RequestAnswerBody } {
  if (input.sessionCancelled) return { then: 'reject', answer: SESSION_CANCELLED_ANSWER };
  if (input.refused) {
    return { then: 'end', answer: { status: 'REJECTED', reason: 'TECHNICAL_ERROR', message: `the aggregator refused the confirmation: ${input.error}` } };
  }
  return { then: 'reject', answer: { status: 'REJECTED', reason: 'TECHNICAL_ERROR', message: 'the aggregator could not be reached to confirm the booking in time' } };
}
