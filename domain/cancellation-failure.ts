/**
 * What a failed cancellation call means for the branch that made it. Only the aggregator saying the booking or
 * session is not there (404, 410) or its documented "nothing confirmed to cancel" answer lets the branch count it as
 * gone: anything that says nothing about the booking itself (an expired token, a forbidden call, an outage, a
 * throttle) must be retried, or bookings would be stamped as told that the aggregator still holds. A payments
 * platform treats an auth failure the same way: the request was never looked at, so nothing about it is settled.
 */
export type CancelCallVerdict =
  /** The aggregator does not hold it (any more): the cancellation is done there. */
  | 'gone'
  /** Try again later: the aggregator was unreachable, throttled us, or refused our credentials (they can be fixed). */
  | 'retry'
  /** Refused for good: repeating the same call cannot succeed. */
  | 'refused';

export interface CancelCallFailure {
  /** HTTP status; undefined when no answer came. */
  status: number | undefined;
  /** The aggregator's error code, when its contract has one (partner contract: `error.code`). */
  code?: string | undefined;
  /** Whether the HTTP classification (5xx, 408, 409, 429, no answer) retries it. */
  retryable: boolean;
}

/**
 * The partner contract's answer to cancelling a booking that is not confirmed there (cancelled by the member, rejected,
 * expired, checked in): the aggregator settled it otherwise. Cancelling one already cancelled by the venue answers
 * 200 under the same contract, as Wellhub does with 204, so neither needs a case here.
 */
const NOTHING_TO_CANCEL_CODES: ReadonlySet<string> = new Set(['booking_not_confirmed']);

export function cancelCallVerdict(failure: CancelCallFailure): CancelCallVerdict {
  if (failure.status === 404 || failure.status === 410) return 'gone';
  if (failure.code !== undefined && NOTHING_TO_CANCEL_CODES.has(failure.code)) return 'gone';
  if (failure.status === 401 || failure.status === 403) return 'retry';
  return failure.retryable ? 'retry' : 'refused';
}
