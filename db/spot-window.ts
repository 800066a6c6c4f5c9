import { sql, type Transaction } from 'kysely';
import { spotWindow, type SpotWindow } from '../domain/free-spots.js';
import type { Db } from './index.js';
import type { Database } from './schema.js';

/**
 * Where a session stands against its activity's spot options (release, offer), by the ledger's own clock: every
 * decision that takes a spot reads it under the session's row lock, so a booking racing the moment is decided by one
 * clock whichever process decides it (domain/free-spots.ts spotWindow).
 */
export async function readSpotWindow(db: Db | Transaction<Database>, sessionId: string): Promise<SpotWindow> {
  const row = await db
    .selectFrom('sessions')
    .innerJoin('activities', 'activities.id', 'sessions.activity_id')
    .select([
      'sessions.starts_at',
      'activities.release_aggregator_spots_minutes_before',
      'activities.offer_direct_spots_to_aggregators_minutes_before',
      sql<Date>`now()`.as('db_now'),
    ])
    .where('sessions.id', '=', sessionId)
    .executeTakeFirst();
  if (!row) return { holdBack: false, limitsLifted: false };
  return spotWindow(
    row.starts_at,
    {
      releaseAggregatorSpotsMinutesBefore: row.release_aggregator_spots_minutes_before,
      offerDirectSpotsToAggregatorsMinutesBefore: row.offer_direct_spots_to_aggregators_minutes_before,
    },
    row.db_now,
  );
}

/**
 * What every decision that takes a spot reads of the session it locks (sessions joined with activities): its state,
 * its start, and what bounds its places (db/booking-requests.ts for aggregator requests, db/reservations.ts for direct
 * bookings).
 */
export const SESSION_PLACES_COLUMNS = [
  'sessions.id',
  'sessions.status',
  'sessions.starts_at',
  'sessions.capacity_override',
  'sessions.aggregator_limit_override',
  'activities.id as activity_id',
  'activities.max_participants',
  'activities.aggregator_limit',
] as const;
