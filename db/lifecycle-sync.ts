import { sql, type Transaction } from 'kysely';
import type { BookedCounts } from '../domain/free-spots.js';
import { SPOT_HOLDING_STATUSES } from '../domain/model.js';
import { connectionHealthAfter, orderingKey } from '../domain/studio-events.js';
import { shownAggregatorMessage } from '../aggregators/http.js';
import { recordEvent } from './studio-events.js';
import type { Db } from './index.js';
import type { Database } from './schema.js';

/** The reads and writes of the lifecycle's sync pass: what the studio wants listed, and what was last pushed to a connection. */

export async function readActivityForSync(db: Db, activityId: string) {
  const activity = await db.selectFrom('activities').selectAll().where('id', '=', activityId).executeTakeFirst();
  if (!activity) return undefined;
  const quotas = await db.selectFrom('activity_aggregator_quotas').select(['aggregator', 'quota']).where('activity_id', '=', activityId).execute();
  return { activity, quotas: Object.fromEntries(quotas.map((q) => [q.aggregator, q.quota])) as Partial<Record<string, number>> };
}

/** The venue's connections a sync reaches: the active ones. */
export function activeConnectionsOfVenue(db: Db, venueId: string) {
  return db.selectFrom('connections').select(['id', 'aggregator']).where('venue_id', '=', venueId).where('status', '=', 'active').orderBy('aggregator').execute();
}

/** Scheduled sessions starting in (from, to], with their spot-holding bookings counted per channel. */
export async function readSessionsInHorizon(db: Db, activityId: string, from: Date, to: Date) {
  const sessions = await db
    .selectFrom('sessions')
    .selectAll()
    .where('activity_id', '=', activityId)
    .where('status', '=', 'scheduled')
    .where('starts_at', '>', from)
    .where('starts_at', '<=', to)
    .orderBy('starts_at')
    .execute();
  const counts = sessions.length === 0 ? new Map<string, Map<string, number>>() : await bookingCounts(db, sessions.map((s) => s.id));
  return sessions.map((session) => ({ session, bookedBy: counts.get(session.id) ?? new Map<string, number>() }));
}

async function bookingCounts(db: Db, sessionIds: string[]): Promise<Map<string, Map<string, number>>> {
  const rows = await db
    .selectFrom('bookings')
    .select(['session_id', 'source', (eb) => eb.fn.countAll<number>().as('n')])
    .where('session_id', 'in', sessionIds)
    .where('status', 'in', [...SPOT_HOLDING_STATUSES])
    .groupBy(['session_id', 'source'])
    .execute();
  const bySession = new Map<string, Map<string, number>>();
  for (const row of rows) {
    const sources = bySession.get(row.session_id) ?? new Map<string, number>();
    sources.set(row.source, Number(row.n));
    bySession.set(row.session_id, sources);
  }
  return bySession;
}

/** One session's bookings as one aggregator's offer needs them. */
export function bookedFor(bookedBy: Map<string, number>, aggregator: string): BookedCounts {
  let total = 0;
  let aggregators = 0;
  for (const [source, n] of bookedBy) {
    total += n;
    if (source !== 'direct') aggregators += n;
  }
  return { total, aggregators, thisAggregator: bookedBy.get(aggregator) ?? 0 };
}

/** The start of the first scheduled session beyond the horizon: when the next one enters it. */
export async function firstSessionAfter(db: Db, activityId: string, after: Date): Promise<Date | undefined> {
  const row = await db
    .selectFrom('sessions')
    .select('starts_at')
    .where('activity_id', '=', activityId)
    .where('status', '=', 'scheduled')
    .where('starts_at', '>', after)
    .orderBy('starts_at')
    .limit(1)
    .executeTakeFirst();
  return row?.starts_at;
}

export function readActivityPublication(db: Db, activityId: string, connectionId: string) {
  return db
    .selectFrom('activity_publications')
    .selectAll()
    .where('activity_id', '=', activityId)
    .where('connection_id', '=', connectionId)
    .executeTakeFirst();
}

/**
 * What was pushed of the activity's sessions to a connection, with each session's start now. A cancelled session is
 * left out: the cancellation fan-out, not the sync, tells the aggregators about it.
 */
export function readSessionPublications(db: Db, activityId: string, connectionId: string) {
  return db
    .selectFrom('session_publications')
    .innerJoin('sessions', 'sessions.id', 'session_publications.session_id')
    .selectAll('session_publications')
    .select(['sessions.starts_at', 'sessions.status'])
    .where('sessions.activity_id', '=', activityId)
    .where('sessions.status', '=', 'scheduled')
    .where('session_publications.connection_id', '=', connectionId)
    .execute();
}

export interface ActivityPublicationWrite {
  externalId?: string;
  fingerprint?: string;
  hidden?: boolean;
  refusedFingerprint?: string | null;
  lastError?: string | null;
  syncedAt?: Date;
}

export async function writeActivityPublication(db: Db, activityId: string, connectionId: string, write: ActivityPublicationWrite) {
  const now = new Date();
  const values = {
    ...(write.externalId !== undefined ? { external_id: write.externalId } : {}),
    ...(write.fingerprint !== undefined ? { pushed_fingerprint: write.fingerprint, pushed_at: now } : {}),
    ...(write.hidden !== undefined ? { hidden: write.hidden } : {}),
    ...(write.refusedFingerprint !== undefined ? { refused_fingerprint: write.refusedFingerprint } : {}),
    ...(write.lastError !== undefined ? { last_error: write.lastError, last_error_at: write.lastError === null ? null : now } : {}),
    ...(write.syncedAt !== undefined ? { last_synced_at: write.syncedAt } : {}),
  };
  await db
    .insertInto('activity_publications')
    .values({ activity_id: activityId, connection_id: connectionId, external_id: null, pushed_fingerprint: null, pushed_at: null, ...values })
    .onConflict((oc) => oc.columns(['activity_id', 'connection_id']).doUpdateSet(values))
    .execute();
}

export interface SessionPublicationWrite {
  externalId?: string;
  fingerprint?: string;
  totalCapacity?: number;
  totalBooked?: number;
  removed?: boolean;
  refusedFingerprint?: string | null;
  lastError?: string | null;
}

export async function writeSessionPublication(db: Db, sessionId: string, connectionId: string, write: SessionPublicationWrite) {
  const now = new Date();
  const values = {
    ...(write.externalId !== undefined ? { external_id: write.externalId } : {}),
    ...(write.fingerprint !== undefined ? { pushed_fingerprint: write.fingerprint } : {}),
    ...(write.totalCapacity !== undefined ? { pushed_total_capacity: write.totalCapacity } : {}),
    ...(write.totalBooked !== undefined ? { pushed_total_booked: write.totalBooked } : {}),
    ...(write.externalId !== undefined || write.fingerprint !== undefined || write.totalBooked !== undefined ? { pushed_at: now } : {}),
    ...(write.removed !== undefined ? { removed: write.removed } : {}),
    ...(write.refusedFingerprint !== undefined ? { refused_fingerprint: write.refusedFingerprint } : {}),
    ...(write.lastError !== undefined ? { last_error: write.lastError, last_error_at: write.lastError === null ? null : now } : {}),
  };
  await db
    .insertInto('session_publications')
    .values({ session_id: sessionId, connection_id: connectionId, external_id: null, pushed_fingerprint: null, pushed_total_booked: null, pushed_at: null, ...values })
    .onConflict((oc) => oc.columns(['session_id', 'connection_id']).doUpdateSet(values))
    .execute();
}

/** Counts of what a connection lists of the activity now, for the sync status. */
export async function publishedCounts(db: Db, activityId: string, connectionId: string) {
  const row = await db
    .selectFrom('session_publications')
    .innerJoin('sessions', 'sessions.id', 'session_publications.session_id')
    .select(sql<number>`count(*) filter (where not session_publications.removed and session_publications.external_id is not null)`.as('sessions'))
    .where('sessions.activity_id', '=', activityId)
    .where('session_publications.connection_id', '=', connectionId)
    .executeTakeFirstOrThrow();
  return Number(row.sessions);
}

/**
 * What one session's free spots at one connection are computed from, read at the moment a count is written: the
 * session (its status and overrides), the activity's capacity and limit, this aggregator's quota, the spot-holding
 * bookings per channel. Undefined when the session is gone.
 */
export async function readCountFacts(db: Db, sessionId: string, aggregator: string) {
  const [row, booked] = await Promise.all([
    db
      .selectFrom('sessions')
      .innerJoin('activities', 'activities.id', 'sessions.activity_id')
      .leftJoin('activity_aggregator_quotas as q', (join) => join.onRef('q.activity_id', '=', 'activities.id').on('q.aggregator', '=', aggregator))
      .select([
        'sessions.status',
        'sessions.starts_at',
        'sessions.capacity_override',
        'sessions.aggregator_limit_override',
        'activities.max_participants',
        'activities.aggregator_limit',
        'activities.release_aggregator_spots_minutes_before',
        'activities.offer_direct_spots_to_aggregators_minutes_before',
        'q.quota',
        sql<Date>`now()`.as('db_now'),
      ])
      .where('sessions.id', '=', sessionId)
      .executeTakeFirst(),
    bookingCounts(db, [sessionId]),
  ]);
  return row && { ...row, bookedBy: booked.get(sessionId) ?? new Map<string, number>() };
}

/**
 * Forgets what this connection's aggregator refused for good, so the next pass sends it again. A refusal is kept so
 * that the same content is not sent again and again (db writes `refused_fingerprint`); but once the studio changes the
 * connection (its ids, settings, URL or credentials) the refusal may no longer hold, and nothing else would retry it
 * until the content itself changed.
 */
export async function forgetRefusals(db: Db | Transaction<Database>, connectionId: string): Promise<void> {
  await db.updateTable('activity_publications').set({ refused_fingerprint: null }).where('connection_id', '=', connectionId).where('refused_fingerprint', 'is not', null).execute();
  await db.updateTable('session_publications').set({ refused_fingerprint: null }).where('connection_id', '=', connectionId).where('refused_fingerprint', 'is not', null).execute();
}

/**
 * A sync call's outcome for its connection's health (domain/studio-events.ts `connectionHealthAfter`): the transition
 * to failing, or back, is announced to the studio backend once (`connection.failing` / `connection.recovered`), in
 * the transaction that records it under the connection's row lock, so lanes of several activities reporting at once
 * announce it once. A success on a healthy connection is one UPDATE that matches nothing.
 */
export async function recordConnectionHealth(db: Db, connectionId: string, observed: { ok: boolean; at: Date; error?: string | undefined }): Promise<void> {
  if (observed.ok) {
    const healthy = await db
      .selectFrom('connections')
      .select('id')
      .where('id', '=', connectionId)
      .where('first_failure_at', 'is', null)
      .executeTakeFirst();
    if (healthy) return;
  }
  await db.transaction().execute(async (trx) => {
    const row = await trx
      .selectFrom('connections')
      .select(['id', 'company_id', 'venue_id', 'aggregator', 'first_failure_at', 'failing_since'])
      .where('id', '=', connectionId)
      .forUpdate()
      .executeTakeFirst();
    if (!row) return;
    const { next, event } = connectionHealthAfter({ firstFailureAt: row.first_failure_at, failingSince: row.failing_since }, observed);
    if (next.firstFailureAt?.getTime() !== row.first_failure_at?.getTime() || next.failingSince?.getTime() !== row.failing_since?.getTime()) {
      await trx.updateTable('connections').set({ first_failure_at: next.firstFailureAt, failing_since: next.failingSince }).where('id', '=', row.id).execute();
    }
    if (event === null) return;
    await recordEvent(trx, {
      companyId: row.company_id,
      type: event,
      orderingKey: orderingKey('connection', row.id),
      data: {
        connectionId: row.id,
        venueId: row.venue_id,
        aggregator: row.aggregator,
        failingSince: (event === 'connection.failing' ? next.failingSince : row.failing_since)?.toISOString() ?? null,
        ...(event === 'connection.failing' ? { lastError: observed.error === undefined ? null : shownAggregatorMessage(observed.error) } : { recoveredAt: observed.at.toISOString() }),
      },
    });
  });
}
