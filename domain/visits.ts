import type { BookingStatus } from './model.js';

/**
 * What a studio checks its aggregator payouts against: the aggregator bookings that became visits, by what became of
 * them. A booking counts once it was reserved (a request rejected or never confirmed was never a visit); from there it
 * ends in exactly one column. Which of the columns an aggregator pays for (check-ins; often late cancellations and
 * no-shows too, at a lower rate) is its contract with the studio, not a rule of this service, so the report gives the
 * counts and leaves the prices out.
 */
export const VISIT_OUTCOMES = ['open', 'attended', 'noShow', 'lateCancelled', 'cancelledByCustomer', 'cancelledByGym'] as const;
export type VisitOutcome = (typeof VISIT_OUTCOMES)[number];

/** The status a booking ends each outcome in. */
export const OUTCOME_STATUS: Readonly<Record<VisitOutcome, BookingStatus>> = {
  open: 'reserved',
  attended: 'attended',
  noShow: 'no_show',
  lateCancelled: 'late_cancelled',
  cancelledByCustomer: 'cancelled_by_customer',
  cancelledByGym: 'cancelled_by_gym',
};

/** Every status a reserved booking can be in: the bookings the report counts. */
export const VISIT_STATUSES: readonly string[] = VISIT_OUTCOMES.map((outcome) => OUTCOME_STATUS[outcome]);

/** The outcome of a booking in this status, or undefined for one that never became a visit (requested, rejected). */
export function visitOutcome(status: string): VisitOutcome | undefined {
  return VISIT_OUTCOMES.find((outcome) => OUTCOME_STATUS[outcome] === status);
}

export type VisitCounts = Record<VisitOutcome, number> & { reserved: number };

export function emptyCounts(): VisitCounts {
  return { reserved: 0, open: 0, attended: 0, noShow: 0, lateCancelled: 0, cancelledByCustomer: 0, cancelledByGym: 0 };
}

/** Adds one booking in this status; a status that was never a visit changes nothing. */
export function countVisit(counts: VisitCounts, status: string): VisitCounts {
  const outcome = visitOutcome(status);
  if (outcome === undefined) return counts;
  return { ...counts, reserved: counts.reserved + 1, [outcome]: counts[outcome] + 1 };
}

export function addCounts(a: VisitCounts, b: VisitCounts): VisitCounts {
  const sum = emptyCounts();
  for (const key of Object.keys(sum) as (keyof VisitCounts)[]) sum[key] = a[key] + b[key];
  return sum;
}
