import type { RequestDecision } from './model.js';
import type { RejectReason } from './reasons.js';

/** What the aggregator is told about a request (and what a redelivery of it gets again). */
export type RequestAnswerBody = { status: 'RESERVED' } | { status: 'REJECTED'; reason: RejectReason; message: string };

/**
 * The answer for a request's decision in the ledger. A request still waiting for the studio's approval has no answer
 * yet; everything else is RESERVED or REJECTED with its reason (a rejection recorded without one is a technical error).
 */
export function answerFor(decided: { decision: RequestDecision; reason: RejectReason | null; message: string | null }): RequestAnswerBody {
  if (decided.decision === 'reserve') return { status: 'RESERVED' };
  if (decided.decision === 'awaiting_approval') throw new Error('a request waiting for approval has no answer yet');
  return { status: 'REJECTED', reason: decided.reason ?? 'TECHNICAL_ERROR', message: decided.message ?? 'the booking was rejected' };
}

/**
 * When the aggregator made the request, as far as we trust its clock: never in our future, and never longer ago than
 * its deadline (an older timestamp would leave no time to answer, so the request counts as made just in time).
 */
export function requestedAtOf(now: number, occurredAt: string, deadlineMs: number): number {
  const claimed = Date.parse(occurredAt);
  return Math.max(Math.min(now, Number.isNaN(claimed) ? now : claimed), now - deadlineMs);
}
