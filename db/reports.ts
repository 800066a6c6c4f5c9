import { sql } from 'kysely';
import { VISIT_OUTCOMES, VISIT_STATUSES, OUTCOME_STATUS, type VisitCounts } from '../domain/visits.js';
import type { Aggregator } from '../domain/model.js';
import type { Db } from './index.js';

/**
 * The aggregator visits report's reads. A visit's day is the day its session starts in its venue's time zone (what
 * the studio's timetable and the aggregators' statements show), so `from` and `to` are local dates, both included.
 * Every read is scoped by the company whose key asked.
 */
export interface VisitsFilter {
  companyId: string;
  /** YYYY-MM-DD, the first local day included. */
  from: string;
  /** YYYY-MM-DD, the last local day included. */
  to: string;
  venueId?: string | undefined;
  aggregator?: Aggregator | undefined;
}

export interface VisitsRow extends VisitCounts {
  date: string;
  aggregator: Aggregator;
  venueId: string;
  activityId: string;
  activityName: string;
}

export interface VisitBooking {
  id: string;
  date: string;
  aggregator: Aggregator;
  bookingNumber: string | null;
  venueId: string;
  activityId: string;
  activityName: string;
  sessionId: string;
  sessionStartsAt: Date;
  sessionUtcOffset: string;
  customerId: string;
  status: string;
  statusAt: Date;
}

function visits(db: Db, filter: VisitsFilter) {
  const day = sql<string>`(sessions.starts_at at time zone venues.time_zone)::date`;
  let query = db
    .selectFrom('bookings')
    .innerJoin('sessions', 'sessions.id', 'bookings.session_id')
    .innerJoin('activities', 'activities.id', 'sessions.activity_id')
    .innerJoin('venues', 'venues.id', 'sessions.venue_id')
    .where('bookings.company_id', '=', filter.companyId)
    .where('venues.company_id', '=', filter.companyId)
    .where('bookings.source', '<>', 'direct')
    .where(sql<boolean>`bookings.status = any(${[...VISIT_STATUSES]}::text[])`)
    .where(day, '>=', sql<string>`${filter.from}::date`)
    .where(day, '<=', sql<string>`${filter.to}::date`);
  if (filter.venueId !== undefined) query = query.where('sessions.venue_id', '=', filter.venueId);
  if (filter.aggregator !== undefined) query = query.where('bookings.source', '=', filter.aggregator);
  return { query, dayText: sql<string>`to_char(${day}, 'YYYY-MM-DD')` };
}

/** Per local day, aggregator and activity: the visits, by what became of them. */
export async function visitsByDay(db: Db, filter: VisitsFilter): Promise<VisitsRow[]> {
  const { query, dayText } = visits(db, filter);
  const counted = (status: string) => sql<number>`count(*) filter (where bookings.status = ${status})`;
  const rows = await query
    .select([
      dayText.as('date'),
      'bookings.source as aggregator',
      'venues.id as venue_id',
      'activities.id as activity_id',
      'activities.name as activity_name',
      sql<number>`count(*)`.as('reserved'),
      ...VISIT_OUTCOMES.map((outcome) => counted(OUTCOME_STATUS[outcome]).as(outcome)),
    ])
    .groupBy([dayText, 'bookings.source', 'venues.id', 'activities.id', 'activities.name'])
    .orderBy('date')
    .orderBy('activities.name')
    .orderBy('activities.id')
    .orderBy('bookings.source')
    .execute();
  return rows.map((row) => {
    const counts = row as unknown as Record<string, number>;
    return {
      date: row.date,
      aggregator: row.aggregator as Aggregator,
      venueId: row.venue_id,
      activityId: row.activity_id,
      activityName: row.activity_name,
      reserved: Number(row.reserved),
      ...(Object.fromEntries(VISIT_OUTCOMES.map((outcome) => [outcome, Number(counts[outcome])])) as Record<(typeof VISIT_OUTCOMES)[number], number>),
    };
  });
}

/** Every visit of the period, one line each, in the order of the sessions. */
export async function visitBookings(db: Db, filter: VisitsFilter, limit: number): Promise<VisitBooking[]> {
  const { query, dayText } = visits(db, filter);
  const rows = await query
    .select((eb) => [
      'bookings.id',
      dayText.as('date'),
      'bookings.source as aggregator',
      'bookings.aggregator_booking_number',
      'venues.id as venue_id',
      'activities.id as activity_id',
      'activities.name as activity_name',
      'sessions.id as session_id',
      'sessions.starts_at',
      'sessions.utc_offset',
      'bookings.customer_id',
      'bookings.status',
      eb
        .selectFrom('booking_status_history')
        .select((h) => h.fn.max('booking_status_history.at').as('at'))
        .whereRef('booking_status_history.booking_id', '=', 'bookings.id')
        .as('status_at'),
      'bookings.updated_at',
    ])
    .orderBy('sessions.starts_at')
    .orderBy('bookings.id')
    .limit(limit)
    .execute();
  return rows.map((row) => ({
    id: row.id,
    date: row.date,
    aggregator: row.aggregator as Aggregator,
    bookingNumber: row.aggregator_booking_number,
    venueId: row.venue_id,
    activityId: row.activity_id,
    activityName: row.activity_name,
    sessionId: row.session_id,
    sessionStartsAt: row.starts_at,
    sessionUtcOffset: row.utc_offset,
    customerId: row.customer_id,
    status: row.status,
    statusAt: row.status_at ?? row.updated_at,
  }));
}
