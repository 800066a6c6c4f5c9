/**
 * Free spots of a session, per channel (never overbooked; an aggregator never shows more free spots than can be booked through it). The service alone decides whether a spot is free,
 * so what each aggregator is shown and what the booking flow accepts come from the same bounds here.
 */

/** Spot-holding bookings of one session (SPOT_HOLDING_STATUSES). */
export interface BookedCounts {
  /** Every channel, direct included. */
  total: number;
  /** All aggregator channels together. */
  aggregators: number;
  /** The aggregator being offered to (or asking to book); part of `aggregators`. */
  thisAggregator: number;
}

export interface OfferInput {
  /** The activity's max participants. */
  maxParticipants: number;
  /** The session's capacity; replaces maxParticipants when not null. */
  capacityOverride: number | null;
  /** The activity's aggregator limit: the most spots all aggregators together may take; null = none. */
  aggregatorLimit: number | null;
  /** The session's aggregator limit; replaces the activity's when not null. */
  aggregatorLimitOverride: number | null;
  /** This aggregator's quota within the limit; undefined = none. */
  quota: number | undefined;
  booked: BookedCounts;
  /**
   * The activity offers unsold direct spots to the aggregators and its moment has come (spotWindow(...).limitsLifted):
   * the aggregator limit and the quotas no longer apply, only capacity does.
   */
  limitsLifted?: boolean | undefined;
}

/** What one aggregator is told about a session (Wellhub: total_capacity and total_booked of the slot). */
export interface AggregatorOffer {
  totalCapacity: number;
  totalBooked: number;
  free: number;
}

/** Negative, fractional or non-finite numbers from bad data count as the nearest safe whole number. */
function count(n: number): number {
  return Number.isFinite(n) ? Math.max(0, Math.floor(n)) : 0;
}

export function sessionCapacity(maxParticipants: number, capacityOverride: number | null): number {
  return count(capacityOverride ?? maxParticipants);
}

export function directFree(capacity: number, total: number): number {
  return Math.max(0, count(capacity) - count(total));
}

/**
 * Free spots for one aggregator: the tightest of capacity, aggregator limit and quota, each less what already holds
 * it. Counts that contradict each other (this aggregator above all aggregators, aggregators above the total) are
 * raised to agree, which only ever shrinks the answer: bad data must never show a spot that is not there.
 */
export function aggregatorOffer(input: OfferInput): AggregatorOffer {
  const thisAggregator = count(input.booked.thisAggregator);
  const aggregators = Math.max(count(input.booked.aggregators), thisAggregator);
  const total = Math.max(count(input.booked.total), aggregators);

  let free = directFree(sessionCapacity(input.maxParticipants, input.capacityOverride), total);
  const limit = input.aggregatorLimitOverride ?? input.aggregatorLimit;
  if (input.limitsLifted !== true) {
    if (limit !== null) free = Math.min(free, Math.max(0, count(limit) - aggregators));
    if (input.quota !== undefined) free = Math.min(free, Math.max(0, count(input.quota) - thisAggregator));
  }

  // The aggregator counts only its own bookings as taken, so capacity is what it holds plus what it may still take.
  return { totalCapacity: thisAggregator + free, totalBooked: thisAggregator, free };
}

/**
 * Whether one more booking from this aggregator fits. `booked` must not yet count the request being decided
 * (leave it out if it is already stored as a spot-holding `requested` booking).
 */
export function canAggregatorBook(input: OfferInput): boolean {
  return aggregatorOffer(input).free > 0;
}

/** Whether one more direct booking fits, with no spots held back for aggregators: capacity alone binds it. */
export function canBookDirect(capacity: number, total: number): boolean {
  return directFree(capacity, total) > 0;
}

/**
 * The two spot options of an activity, each minutes before a session's start (null = off):
 * - `releaseAggregatorSpotsMinutesBefore`: the aggregators' share of the session (the aggregator limit, or without
 *   one the sum of the quotas) is held back from direct customers until that moment; then whatever of it the
 *   aggregators have not booked becomes bookable directly. Without the option nothing is held back (direct bookings
 *   are bound by capacity alone, as always).
 * - `offerDirectSpotsToAggregatorsMinutesBefore`: from that moment the aggregator limit and quotas are lifted, so the
 *   aggregators may book every spot still free, up to capacity.
 */
export interface SpotOptions {
  releaseAggregatorSpotsMinutesBefore: number | null;
  offerDirectSpotsToAggregatorsMinutesBefore: number | null;
}

export interface SpotWindow {
  /** Unsold aggregator spots are still held back from direct customers. */
  holdBack: boolean;
  /** The aggregator limit and quotas no longer bind the aggregators. */
  limitsLifted: boolean;
}

/** Where a session stands against its activity's spot options at `now` (both moments are instants). */
export function spotWindow(startsAt: Date, options: SpotOptions, now: Date): SpotWindow {
  const moment = (minutes: number | null) => (minutes === null ? null : startsAt.getTime() - count(minutes) * 60_000);
  const release = moment(options.releaseAggregatorSpotsMinutesBefore);
  const offer = moment(options.offerDirectSpotsToAggregatorsMinutesBefore);
  return { holdBack: release !== null && now.getTime() < release, limitsLifted: offer !== null && now.getTime() >= offer };
}

export interface DirectInput {
  maxParticipants: number;
  capacityOverride: number | null;
  aggregatorLimit: number | null;
  aggregatorLimitOverride: number | null;
  /** Every quota of the activity (one per aggregator that has one). */
  quotas: readonly number[];
  /** Spot-holding bookings: every channel, and all aggregators together. */
  booked: Pick<BookedCounts, 'total' | 'aggregators'>;
  /** spotWindow(...).holdBack */
  holdBack: boolean;
}

/**
 * Free spots for a direct booking: what capacity leaves, less, while the aggregators' share is held back, the part
 * of that share the aggregators have not booked yet. The share is the aggregator limit, else the sum of the quotas,
 * else nothing; never more than capacity. Contradicting counts are raised to agree, which only shrinks the answer.
 */
export function directOffer(input: DirectInput): number {
  const capacity = sessionCapacity(input.maxParticipants, input.capacityOverride);
  const aggregators = count(input.booked.aggregators);
  const total = Math.max(count(input.booked.total), aggregators);
  const free = directFree(capacity, total);
  if (!input.holdBack) return free;
  const limit = input.aggregatorLimitOverride ?? input.aggregatorLimit;
  const share = Math.min(capacity, limit !== null ? count(limit) : input.quotas.reduce((sum, q) => sum + count(q), 0));
  return Math.max(0, free - Math.max(0, share - aggregators));
}
