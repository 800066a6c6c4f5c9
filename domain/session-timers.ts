/**
 * The moments of one session that the per-session timer workflow (`workflows/session-timers/`) waits for, as
 * instants (milliseconds since the epoch): time zones and daylight saving play no part, since a session's start is
 * stored as an instant. Pure, so the workflow stays deterministic and the arithmetic is tested on its own.
 *
 * - the no-show pass: the session's end plus the activity's `noShowAfterMinutes`;
 * - the release of unsold aggregator spots: start − `releaseAggregatorSpotsMinutesBefore`;
 * - the offer of unsold direct spots to the aggregators: start − `offerDirectSpotsToAggregatorsMinutesBefore`.
 */

const MINUTE_MS = 60_000;

export interface SessionTimerFacts {
  status: 'scheduled' | 'cancelled';
  /** The start, in ms since the epoch. */
  startsAt: number;
  durationMinutes: number;
  noShowAfterMinutes: number;
  releaseAggregatorSpotsMinutesBefore: number | null;
  offerDirectSpotsToAggregatorsMinutesBefore: number | null;
}

export type SessionTimerAction = 'push_counts' | 'no_show_pass';

export interface SessionTimerPlan {
  /** What is due now, in this order. */
  due: SessionTimerAction[];
  /** The next moment to wake at (ms), or null when nothing is left to wait for. */
  nextAt: number | null;
  /** Nothing will ever be due: the session is gone or cancelled. */
  finished: boolean;
}

export function sessionEndsAt(startsAt: number, durationMinutes: number): number {
  return startsAt + durationMinutes * MINUTE_MS;
}

/** When reserved aggregator bookings without a check-in become no-shows. */
export function noShowAt(facts: Pick<SessionTimerFacts, 'startsAt' | 'durationMinutes' | 'noShowAfterMinutes'>): number {
  return sessionEndsAt(facts.startsAt, facts.durationMinutes) + facts.noShowAfterMinutes * MINUTE_MS;
}

/** The moment `minutesBefore` the start, or null when the option is not set. */
export function momentBefore(startsAt: number, minutesBefore: number | null): number | null {
  return minutesBefore === null ? null : startsAt - minutesBefore * MINUTE_MS;
}

/** The moments at which the free spots at the aggregators change without a booking: release and offer. */
export function spotMoments(facts: Pick<SessionTimerFacts, 'startsAt' | 'releaseAggregatorSpotsMinutesBefore' | 'offerDirectSpotsToAggregatorsMinutesBefore'>): number[] {
  return [momentBefore(facts.startsAt, facts.releaseAggregatorSpotsMinutesBefore), momentBefore(facts.startsAt, facts.offerDirectSpotsToAggregatorsMinutesBefore)]
    .filter((m): m is number => m !== null)
    .sort((a, b) => a - b);
}

/**
 * What the session's timer workflow does at `now`, having handled every moment up to `handledUntil` (null: nothing
 * yet, e.g. a first run). The free spots are pushed again once for every spot moment passed since (while the session
 * has not started: the aggregators are no longer told about a started session); the no-show pass is due from its
 * moment on, and the workflow ends once it has run.
 */
export function planSessionTimers(facts: SessionTimerFacts | undefined, now: number, handledUntil: number | null): SessionTimerPlan {
  if (facts === undefined || facts.status === 'cancelled') return { due: [], nextAt: null, finished: true };
  const moments = spotMoments(facts);
  const due: SessionTimerAction[] = [];
  const passed = moments.some((m) => m <= now && (handledUntil === null || m > handledUntil));
  if (passed && now < facts.startsAt) due.push('push_counts');
  const noShow = noShowAt(facts);
  if (noShow <= now) due.push('no_show_pass');
  const upcoming = [...moments.filter((m) => m > now && m < facts.startsAt), ...(noShow > now ? [noShow] : [])];
  return { due, nextAt: upcoming.length === 0 ? null : Math.min(...upcoming), finished: false };
}
