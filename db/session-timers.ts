import { sql, type Selectable, type SelectQueryBuilder, type Transaction } from 'kysely';
import { noShowAt, type SessionTimerFacts } from '../domain/session-timers.js';
import { moveBooking } from './bookings.js';
import type { Db } from './index.js';
import type { Database, SessionTimersOutboxTable } from './schema.js';

/**
 * The ledger side of the per-session timers (workflows/session-timers/): what the workflow reads when it wakes, the
 * no-show pass, and the outbox that hands a created or changed session to its timer workflow.
 */

type Trx = Transaction<Database>;

export interface SessionTimerView {
  facts: SessionTimerFacts;
  activityId: string;
  /** The activity is offered to aggregators: its lifecycle runs and pushes the counts. */
  offered: boolean;
}

export async function readSessionTimers(db: Db, sessionId: string): Promise<SessionTimerView | undefined> {
  const row = await db
    .selectFrom('sessions')
    .innerJoin('activities', 'activities.id', 'sessions.activity_id')
    .select([
      'sessions.status',
      'sessions.starts_at',
      'sessions.duration_minutes',
      'activities.id as activity_id',
      'activities.allow_aggregator_bookings',
      'activities.no_show_after_minutes',
      'activities.release_aggregator_spots_minutes_before',
      'activities.offer_direct_spots_to_aggregators_minutes_before',
    ])
    .where('sessions.id', '=', sessionId)
    .executeTakeFirst();
  if (!row) return undefined;
  return {
    facts: {
      status: row.status,
      startsAt: row.starts_at.getTime(),
      durationMinutes: row.duration_minutes,
      noShowAfterMinutes: row.no_show_after_minutes,
      releaseAggregatorSpotsMinutesBefore: row.release_aggregator_spots_minutes_before,
      offerDirectSpotsToAggregatorsMinutesBefore: row.offer_direct_spots_to_aggregators_minutes_before,
    },
    activityId: row.activity_id,
    offered: row.allow_aggregator_bookings,
  };
}

export type NoShowPass = { done: true; marked: number } | { done: false; noShowAt: Date };

/**
 * The no-show pass at `at` (the timer's time): every aggregator booking of the session still `reserved` becomes
 * `no_show`, with its history, through moveBooking (which moves only a booking still `reserved`, so a check-in
 * committed first wins and a second run moves nothing). Under the session's row lock, the lock every writer of its
 * bookings takes first. Not done when the session now ends later than the timer thought (rescheduled meanwhile).
 */
export async function markNoShows(db: Db, input: { sessionId: string; at: Date }): Promise<NoShowPass> {
  return db.transaction().execute(async (trx) => {
    const session = await trx
      .selectFrom('sessions')
      .innerJoin('activities', 'activities.id', 'sessions.activity_id')
      .select(['sessions.id', 'sessions.status', 'sessions.starts_at', 'sessions.duration_minutes', 'activities.no_show_after_minutes'])
      .where('sessions.id', '=', input.sessionId)
      .forUpdate('sessions')
      .executeTakeFirst();
    if (!session || session.status === 'cancelled') return { done: true as const, marked: 0 };
    const due = noShowAt({ startsAt: session.starts_at.getTime(), durationMinutes: session.duration_minutes, noShowAfterMinutes: session.no_show_after_minutes });
    if (input.at.getTime() < due) return { done: false as const, noShowAt: new Date(due) };
    const reserved = await trx
      .selectFrom('bookings')
      .select('id')
      .where('session_id', '=', session.id)
      .where('source', '<>', 'direct')
      .where('status', '=', 'reserved')
      .orderBy('id')
      .execute();
    let marked = 0;
    const reason = `no check-in ${session.no_show_after_minutes} minutes after the session ended`;
    for (const booking of reserved) {
      if (await moveBooking(trx, { bookingId: booking.id, from: 'reserved', to: 'no_show', reason, actor: 'service' })) marked += 1;
    }
    return { done: true as const, marked };
  });
}

export type SessionTimersRow = Selectable<SessionTimersOutboxTable>;

/** The scheduled sessions of offered activities (only those have timers), as the outbox's columns. */
type SessionsWithTimers = SelectQueryBuilder<Database, 'session_timers_outbox' | 'sessions' | 'activities', { company_id: string; id: string }>;

/** Writes an outbox row for each session with timers that `which` keeps. */
function recordTimersOf(db: Db | Trx, which: (sessions: SessionsWithTimers) => SessionsWithTimers) {
  return db
    .insertInto('session_timers_outbox')
    .columns(['company_id', 'session_id'])
    .expression((eb) =>
      which(
        eb
          .selectFrom('sessions')
          .innerJoin('activities', 'activities.id', 'sessions.activity_id')
          .select(['sessions.company_id', 'sessions.id'])
          .where('sessions.status', '=', 'scheduled')
          .where('activities.allow_aggregator_bookings', '=', true),
      ),
    );
}

/** A session created or changed: its timer workflow must hear of it. Only sessions of offered activities have timers. */
export async function recordSessionTimers(db: Db | Trx, sessionId: string): Promise<SessionTimersRow | undefined> {
  return recordTimersOf(db, (sessions) => sessions.where('sessions.id', '=', sessionId))
    .returningAll()
    .executeTakeFirst();
}

/**
 * An activity opted in, or its timer options changed: every scheduled session of it whose no-show pass is still ahead
 * must (re-)arm its timers.
 */
export async function recordActivitySessionTimers(db: Db | Trx, activityId: string): Promise<number> {
  const rows = await recordTimersOf(db, (sessions) =>
    sessions
      .where('sessions.activity_id', '=', activityId)
      .where(sql<Date>`sessions.starts_at + (sessions.duration_minutes + activities.no_show_after_minutes) * interval '1 minute'`, '>', sql<Date>`now()`),
  )
    .returning('id')
    .execute();
  return rows.length;
}

/** Due rows for one relay, claimed with a lease (`FOR UPDATE SKIP LOCKED`: several API processes may run one). */
export async function claimDueSessionTimers(db: Db, options: { limit: number; leaseMs: number }): Promise<SessionTimersRow[]> {
  return db
    .updateTable('session_timers_outbox')
    .set({ due_at: sql`now() + ${sql.lit(options.leaseMs)} * interval '1 millisecond'`, attempts: sql`attempts + 1` })
    .where('id', 'in', (eb) =>
      eb
        .selectFrom('session_timers_outbox')
        .select('id')
        .where('due_at', '<=', sql<Date>`now()`)
        .orderBy('id')
        .limit(options.limit)
        .forUpdate()
        .skipLocked(),
    )
    .returningAll()
    .execute();
}

export async function deleteSessionTimers(db: Db, ids: readonly string[]): Promise<void> {
  if (ids.length === 0) return;
  await db.deleteFrom('session_timers_outbox').where('id', 'in', [...ids]).execute();
}

export async function postponeSessionTimers(db: Db, ids: readonly string[], retryInMs: number, error: string): Promise<void> {
  if (ids.length === 0) return;
  await db
    .updateTable('session_timers_outbox')
    .set({ due_at: sql`now() + ${sql.lit(Math.round(retryInMs))} * interval '1 millisecond'`, last_error: error.slice(0, 500) })
    .where('id', 'in', [...ids])
    .execute();
}
