import { sql } from 'kysely';
import type { Db } from './index.js';
import { recordBookingStatusEvents, recordCancellationCompleted } from './studio-events.js';

/**
 * The ledger side of a studio's session cancellation (the cancellation fan-out: every booking ends cancelled_by_gym and every aggregator is told). The studio's
 * decision is final locally at once: in one transaction under the session's row lock (the lock every reservation
 * takes, so no booking can slip in beside it) the session becomes `cancelled`, every reserved booking
 * `cancelled_by_gym` with the reason in its history, and one branch is recorded per connection the session was pushed
 * to. The branches then tell the aggregators, each at its own pace.
 */

export interface CancellationInput {
  companyId: string;
  sessionId: string;
  reason: string;
  actor: string;
}

export type CancelOutcome =
  | { outcome: 'not_found' }
  | { outcome: 'started'; venueId: string; activityId: string; offered: boolean }
  | { outcome: 'already'; venueId: string; activityId: string };

/** Cancels the session in the ledger (or finds it cancelled): the caller starts the fan-out in the same transaction. */
export async function cancelSessionInLedger(trx: Db, input: CancellationInput): Promise<CancelOutcome> {
  const session = await trx
    .selectFrom('sessions')
    .innerJoin('activities', 'activities.id', 'sessions.activity_id')
    .select(['sessions.id', 'sessions.status', 'sessions.venue_id', 'sessions.activity_id', 'activities.allow_aggregator_bookings'])
    .where('sessions.id', '=', input.sessionId)
    .where('sessions.company_id', '=', input.companyId)
    .forUpdate('sessions')
    .executeTakeFirst();
  if (!session) return { outcome: 'not_found' };
  const existing = await trx.selectFrom('session_cancellations').select('session_id').where('session_id', '=', session.id).executeTakeFirst();
  if (existing) return { outcome: 'already', venueId: session.venue_id, activityId: session.activity_id };

  const now = new Date();
  await trx
    .updateTable('sessions')
    .set({ status: 'cancelled', cancelled_at: now, cancellation_reason: input.reason, updated_at: now })
    .where('id', '=', session.id)
    .execute();
  const cancelled = await trx
    .updateTable('bookings')
    .set({ status: 'cancelled_by_gym', status_reason: input.reason, updated_at: now })
    .where('session_id', '=', session.id)
    .where('status', '=', 'reserved')
    .returning('id')
    .execute();
  if (cancelled.length > 0) {
    await trx
      .insertInto('booking_status_history')
      .values(cancelled.map((b) => ({ booking_id: b.id, from_status: 'reserved' as const, to_status: 'cancelled_by_gym' as const, reason: input.reason, actor: input.actor })))
      .execute();
    await recordBookingStatusEvents(trx, cancelled.map((b) => b.id), 'cancelled_by_gym');
  }
  await trx
    .insertInto('session_cancellations')
    .values({
      session_id: session.id,
      company_id: input.companyId,
      venue_id: session.venue_id,
      activity_id: session.activity_id,
      reason: input.reason,
      requested_by: input.actor,
      bookings_cancelled: cancelled.length,
    })
    .execute();
  // Every connection that holds the session, whatever its status now: a paused aggregator must hear it too.
  const pushed = await trx
    .selectFrom('session_publications')
    .innerJoin('connections', 'connections.id', 'session_publications.connection_id')
    .select(['connections.id', 'connections.aggregator'])
    .where('session_publications.session_id', '=', session.id)
    .where('session_publications.external_id', 'is not', null)
    .where('session_publications.removed', '=', false)
    .execute();
  if (pushed.length > 0) {
    await trx
      .insertInto('session_cancellation_branches')
      .values(pushed.map((c) => ({ session_id: session.id, connection_id: c.id, aggregator: c.aggregator })))
      .execute();
  }
  return { outcome: 'started', venueId: session.venue_id, activityId: session.activity_id, offered: session.allow_aggregator_bookings };
}

export async function readCancellation(db: Db, companyId: string, sessionId: string) {
  const row = await db
    .selectFrom('session_cancellations')
    .selectAll()
    .where('session_id', '=', sessionId)
    .where('company_id', '=', companyId)
    .executeTakeFirst();
  if (!row) return undefined;
  const branches = await db
    .selectFrom('session_cancellation_branches')
    .selectAll()
    .where('session_id', '=', sessionId)
    .orderBy('aggregator')
    .execute();
  return { ...row, branches };
}

/** The branches still to finish, for the fan-out workflow. */
export function openBranches(db: Db, sessionId: string) {
  return db
    .selectFrom('session_cancellation_branches')
    .select(['connection_id', 'aggregator'])
    .where('session_id', '=', sessionId)
    .where('status', 'in', ['pending', 'retrying'])
    .orderBy('aggregator')
    .execute();
}

/** Booking requests of the session still waiting for their answer (their workflows must answer CLASS_HAS_BEEN_CANCELED). */
export function inFlightRequests(db: Db, sessionId: string) {
  return db
    .selectFrom('booking_requests')
    .select(['aggregator', 'connection_id', 'booking_number'])
    .where('session_id', '=', sessionId)
    .where('answer', '=', 'pending')
    .execute();
}

export async function recordBranch(
  db: Db,
  sessionId: string,
  connectionId: string,
  update: { status: 'retrying' | 'done' | 'failed'; attempts: number; error?: string | undefined },
): Promise<void> {
  const now = new Date();
  await db
    .updateTable('session_cancellation_branches')
    .set({
      status: update.status,
      attempts: update.attempts,
      ...(update.error !== undefined ? { last_error: update.error.slice(0, 2000), last_error_at: now } : {}),
      ...(update.status === 'done' ? { done_at: now } : {}),
    })
    .where('session_id', '=', sessionId)
    .where('connection_id', '=', connectionId)
    .execute();
}

/**
 * The aggregator's bookings in the cancelled session that it has not yet been told of. Reserved ones left behind by
 * a request answered while the session was being cancelled follow the session first (`cancelled_by_gym`).
 */
export async function bookingsToCancelAt(db: Db, sessionId: string, aggregator: string, reason: string) {
  await db.transaction().execute(async (trx) => {
    const late = await trx
      .updateTable('bookings')
      .set({ status: 'cancelled_by_gym', status_reason: reason, updated_at: new Date() })
      .where('session_id', '=', sessionId)
      .where('source', '=', aggregator as never)
      .where('status', '=', 'reserved')
      .returning('id')
      .execute();
    if (late.length > 0) {
      await trx
        .insertInto('booking_status_history')
        .values(late.map((b) => ({ booking_id: b.id, from_status: 'reserved' as const, to_status: 'cancelled_by_gym' as const, reason, actor: 'service' })))
        .execute();
      await recordBookingStatusEvents(trx, late.map((b) => b.id), 'cancelled_by_gym');
    }
  });
  return db
    .selectFrom('bookings')
    .select(['id', 'aggregator_booking_number'])
    .where('session_id', '=', sessionId)
    .where('source', '=', aggregator as never)
    .where('status', '=', 'cancelled_by_gym')
    .where('aggregator_cancelled_at', 'is', null)
    .execute();
}

export async function markAggregatorCancelled(db: Db, bookingIds: string[]): Promise<void> {
  if (bookingIds.length === 0) return;
  await db.updateTable('bookings').set({ aggregator_cancelled_at: new Date() }).where('id', 'in', bookingIds).execute();
}

export async function markSessionRemoved(db: Db, sessionId: string, connectionId: string): Promise<void> {
  await db
    .updateTable('session_publications')
    .set({ removed: true })
    .where('session_id', '=', sessionId)
    .where('connection_id', '=', connectionId)
    .execute();
}

/** Marks the cancellation completed and announces it (`session.cancellation.completed`) once, in one transaction. */
export async function completeCancellation(db: Db, sessionId: string): Promise<void> {
  await db.transaction().execute(async (trx) => {
    const completed = await trx
      .updateTable('session_cancellations')
      .set({ completed_at: new Date() })
      .where('session_id', '=', sessionId)
      .where('completed_at', 'is', null)
      .returning('session_id')
      .executeTakeFirst();
    if (completed) await recordCancellationCompleted(trx, sessionId);
  });
}

/**
 * Whether the session's cancellation is committed, read once no transaction holds the session's row lock. The API
 * starts the fan-out inside the transaction that cancels the session under that lock, so the fan-out's first read
 * can come before the commit; waiting on the lock (FOR SHARE conflicts with the cancel's FOR UPDATE) and reading in a
 * fresh statement afterwards sees the outcome however late it lands: committed, or rolled back (false).
 */
export async function committedCancellation(db: Db, sessionId: string): Promise<boolean> {
  return db.transaction().execute(async (trx) => {
    await trx.selectFrom('sessions').select('id').where('id', '=', sessionId).forShare().executeTakeFirst();
    const row = await trx.selectFrom('session_cancellations').select('session_id').where('session_id', '=', sessionId).executeTakeFirst();
    return row !== undefined;
  });
}

/** The branches of a connection still to finish (pending or retrying), to wake them when the connection changes. */
export function openBranchesOfConnection(db: Db, connectionId: string) {
  return db
    .selectFrom('session_cancellation_branches')
    .select(['session_id', 'aggregator'])
    .where('connection_id', '=', connectionId)
    .where('status', 'in', ['pending', 'retrying'])
    .execute();
}

/**
 * Claims up to `limit` cancellations not completed, requested before `requestedBefore` and not swept since
 * `sweptBefore`, longest unchecked first, and stamps them swept. SKIP LOCKED lets several API processes sweep at once
 * without waiting on each other or claiming the same rows.
 */
export async function claimOpenCancellations(db: Db, options: { requestedBefore: Date; sweptBefore: Date; limit: number }) {
  return db
    .updateTable('session_cancellations')
    .set({ swept_at: new Date() })
    .where('session_id', 'in', (eb) =>
      eb
        .selectFrom('session_cancellations')
        .select('session_id')
        .where('completed_at', 'is', null)
        .where('requested_at', '<', options.requestedBefore)
        .where((w) => w.or([w('swept_at', 'is', null), w('swept_at', '<', options.sweptBefore)]))
        .orderBy(sql`swept_at NULLS FIRST`)
        .orderBy('requested_at')
        .limit(options.limit)
        .forUpdate()
        .skipLocked(),
    )
    .returning(['session_id', 'company_id', 'venue_id', 'activity_id', 'reason'])
    .execute();
}

/** A cancellation's fan-out input, when it is not completed yet (a repeated cancel restarts it). */
export function openCancellation(db: Db, companyId: string, sessionId: string) {
  return db
    .selectFrom('session_cancellations')
    .select(['session_id', 'company_id', 'venue_id', 'activity_id', 'reason'])
    .where('session_id', '=', sessionId)
    .where('company_id', '=', companyId)
    .where('completed_at', 'is', null)
    .executeTakeFirst();
}
