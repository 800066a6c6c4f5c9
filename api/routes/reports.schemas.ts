import type { VisitBooking, VisitsRow } from '../../db/reports.js';
import { formatInOffset } from '../../domain/time.js';
import { addCounts, emptyCounts, type VisitCounts } from '../../domain/visits.js';
import { AGGREGATORS, type Aggregator } from '../../domain/model.js';
import { toCsv } from '../../lib/csv.js';
import { AggregatorSchema, iso, rule, timestamp, Uuid } from '../schemas.js';
import { z } from '../zod.js';

/** The longest period one report covers: a year and a day, so a whole calendar year (leap or not) always fits. */
export const MAX_REPORT_DAYS = 366;
/** The most bookings one report lists (`include=bookings`); a longer list asks for a shorter period. */
export const MAX_REPORT_BOOKINGS = 10_000;

const localDate = z.iso.date().meta({ description: 'A local date (YYYY-MM-DD) in the venue’s time zone' });
const daysBetween = (from: string, to: string) => (Date.parse(`${to}T00:00:00Z`) - Date.parse(`${from}T00:00:00Z`)) / 86_400_000;

export const VisitsQuery = z
  .object({
    from: localDate.meta({ description: 'First day included: a visit’s day is the day its session starts, in the venue’s time zone' }),
    to: localDate.meta({ description: `Last day included; at most ${MAX_REPORT_DAYS} days after from` }),
    venueId: Uuid.optional().meta({ description: 'Only this venue' }),
    aggregator: AggregatorSchema.optional().meta({ description: 'Only this aggregator' }),
    include: z.enum(['bookings']).optional().meta({ description: `\`bookings\`: list every visit too (at most ${MAX_REPORT_BOOKINGS}); as CSV, the list replaces the summary` }),
  })
  .strict()
  // Year 0000 fits the date pattern but not PostgreSQL's calendar (1 BC is followed by 1 AD).
  .refine((q) => !q.from.startsWith('0000-') && !q.to.startsWith('0000-'), rule('year 0000 does not exist', ['from']))
  .refine((q) => q.from <= q.to, rule('to must not be before from', ['to']))
  .refine((q) => daysBetween(q.from, q.to) < MAX_REPORT_DAYS, rule(`a report covers at most ${MAX_REPORT_DAYS} days`, ['to']));

const count = z.number().int().min(0);
const countsShape = {
  reserved: count.meta({ description: 'Bookings that were reserved: the sum of the six columns below' }),
  attended: count.meta({ description: 'Checked in (the visits aggregators pay for)' }),
  noShow: count.meta({ description: 'Still reserved a set time after the session ended, with no check-in' }),
  lateCancelled: count.meta({ description: 'Cancelled by the member after the cancellation cutoff' }),
  cancelledByCustomer: count.meta({ description: 'Cancelled by the member in time' }),
  cancelledByGym: count.meta({ description: 'Cancelled because the studio cancelled the session' }),
  open: count.meta({ description: 'Still reserved: the session is to come, or its no-show pass has not run yet' }),
};

const VisitBookingSchema = z
  .object({
    id: Uuid,
    date: localDate,
    aggregator: AggregatorSchema,
    bookingNumber: z.string().nullable(),
    venueId: Uuid,
    activityId: Uuid,
    activityName: z.string(),
    sessionId: Uuid,
    sessionStartsAt: timestamp,
    customerId: Uuid,
    status: z.string().meta({ description: 'reserved, attended, no_show, late_cancelled, cancelled_by_customer or cancelled_by_gym' }),
    statusAt: timestamp,
  })
  .meta({ id: 'VisitBooking' });

export const AggregatorVisits = z
  .object({
    from: localDate,
    to: localDate,
    venueId: Uuid.nullable(),
    // Not the registered Aggregator component: the document would show a $ref without its null.
    aggregator: z.enum(AGGREGATORS).nullable().meta({ description: 'The aggregator the report was narrowed to, or null' }),
    rows: z.array(z.object({ date: localDate, aggregator: AggregatorSchema, venueId: Uuid, activityId: Uuid, activityName: z.string(), ...countsShape })),
    totals: z.array(z.object({ aggregator: AggregatorSchema, ...countsShape })).meta({ description: 'Per aggregator, over the whole period' }),
    bookings: z.array(VisitBookingSchema).optional(),
  })
  .meta({ id: 'AggregatorVisits' });
export type AggregatorVisitsOutput = z.output<typeof AggregatorVisits>;

function countsOf(row: VisitCounts): VisitCounts {
  const { reserved, attended, noShow, lateCancelled, cancelledByCustomer, cancelledByGym, open } = row;
  return { reserved, attended, noShow, lateCancelled, cancelledByCustomer, cancelledByGym, open };
}

/** The totals per aggregator, in the order aggregators first appear. */
export function totalsByAggregator(rows: readonly VisitsRow[]): { aggregator: Aggregator; counts: VisitCounts }[] {
  const totals = new Map<Aggregator, VisitCounts>();
  for (const row of rows) totals.set(row.aggregator, addCounts(totals.get(row.aggregator) ?? emptyCounts(), countsOf(row)));
  return [...totals].map(([aggregator, counts]) => ({ aggregator, counts }));
}

export function presentVisits(
  query: z.output<typeof VisitsQuery>,
  rows: readonly VisitsRow[],
  bookings: readonly VisitBooking[] | undefined,
): z.input<typeof AggregatorVisits> {
  return {
    from: query.from,
    to: query.to,
    venueId: query.venueId ?? null,
    aggregator: query.aggregator ?? null,
    rows: rows.map((row) => ({
      date: row.date,
      aggregator: row.aggregator,
      venueId: row.venueId,
      activityId: row.activityId,
      activityName: row.activityName,
      ...countsOf(row),
    })),
    totals: totalsByAggregator(rows).map(({ aggregator, counts }) => ({ aggregator, ...counts })),
    ...(bookings === undefined
      ? {}
      : {
          bookings: bookings.map((b) => ({
            id: b.id,
            date: b.date,
            aggregator: b.aggregator,
            bookingNumber: b.bookingNumber,
            venueId: b.venueId,
            activityId: b.activityId,
            activityName: b.activityName,
            sessionId: b.sessionId,
            sessionStartsAt: formatInOffset(b.sessionStartsAt, b.sessionUtcOffset),
            customerId: b.customerId,
            status: b.status,
            statusAt: iso(b.statusAt),
          })),
        }),
  };
}

const COUNT_COLUMNS = ['reserved', 'attended', 'no_show', 'late_cancelled', 'cancelled_by_customer', 'cancelled_by_gym', 'open'] as const;

/** The summary (one line per day, venue, activity and aggregator), or with `include=bookings` one line per visit. */
export function visitsCsv(report: AggregatorVisitsOutput): string {
  if (report.bookings !== undefined) {
    return toCsv(
      ['date', 'aggregator', 'booking_number', 'booking_id', 'venue_id', 'activity_id', 'activity', 'session_id', 'session_starts_at', 'customer_id', 'status', 'status_at'],
      report.bookings.map((b) => [b.date, b.aggregator, b.bookingNumber, b.id, b.venueId, b.activityId, b.activityName, b.sessionId, b.sessionStartsAt, b.customerId, b.status, b.statusAt]),
    );
  }
  return toCsv(
    ['date', 'venue_id', 'activity_id', 'activity', 'aggregator', ...COUNT_COLUMNS],
    report.rows.map((r) => [r.date, r.venueId, r.activityId, r.activityName, r.aggregator, r.reserved, r.attended, r.noShow, r.lateCancelled, r.cancelledByCustomer, r.cancelledByGym, r.open]),
  );
}
