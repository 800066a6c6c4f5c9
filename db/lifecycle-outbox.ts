import { sql, type Selectable } from 'kysely';
import type { Db } from './index.js';
import type { LifecycleOutboxTable } from './schema.js';

/**
 * The lifecycle outbox. Every change the activity lifecycle must hear of is written in the transaction that makes
 * it, so a committed change can never miss its signal: the API signals right after the commit for latency, and a
 * relay (`api/lifecycle-relay.ts`) signals whatever is still here. A row is deleted once its signal reached Temporal.
 */

export type OutboxRow = Selectable<LifecycleOutboxTable>;
export type OutboxChangeKind = LifecycleOutboxTable['change_kind'];

export interface LifecycleKey {
  companyId: string;
  venueId: string;
  activityId: string;
}

export async function recordChange(db: Db, key: LifecycleKey, change: { kind: OutboxChangeKind; id: string }): Promise<OutboxRow> {
  return db
    .insertInto('lifecycle_outbox')
    .values({ company_id: key.companyId, venue_id: key.venueId, activity_id: key.activityId, change_kind: change.kind, change_id: change.id })
    .returningAll()
    .executeTakeFirstOrThrow();
}

/**
 * A change of one session (its details, or a booking in it), recorded when its activity is offered to aggregators;
 * undefined when it is not (no aggregator lists it).
 */
export async function recordSessionChange(db: Db, sessionId: string, kind: 'session' | 'booking'): Promise<OutboxRow | undefined> {
  return db
    .insertInto('lifecycle_outbox')
    .columns(['company_id', 'venue_id', 'activity_id', 'change_kind', 'change_id'])
    .expression((eb) =>
      eb
        .selectFrom('sessions')
        .innerJoin('activities', 'activities.id', 'sessions.activity_id')
        .select(['sessions.company_id', 'sessions.venue_id', 'sessions.activity_id', sql.lit(kind).as('change_kind'), 'sessions.id'])
        .where('sessions.id', '=', sessionId)
        .where('activities.allow_aggregator_bookings', '=', true),
    )
    .returningAll()
    .executeTakeFirst();
}

export async function deleteChanges(db: Db, ids: readonly string[]): Promise<void> {
  if (ids.length === 0) return;
  await db.deleteFrom('lifecycle_outbox').where('id', 'in', [...ids]).execute();
}

/**
 * Takes up to `limit` due rows for one relay: `FOR UPDATE SKIP LOCKED` lets several API processes claim at once
 * without waiting on each other, and moving `due_at` a lease ahead keeps the rows from every other relay while this
 * one signals, without holding a transaction open across the calls to Temporal. Rows younger than `graceMs` are
 * left to the request that wrote them, which signals right after its commit.
 */
export async function claimDueChanges(db: Db, options: { limit: number; leaseMs: number; graceMs: number }): Promise<OutboxRow[]> {
  const { limit, leaseMs, graceMs } = options;
  return db
    .updateTable('lifecycle_outbox')
    .set({ due_at: sql`now() + ${sql.lit(leaseMs)} * interval '1 millisecond'`, attempts: sql`attempts + 1` })
    .where('id', 'in', (eb) =>
      eb
        .selectFrom('lifecycle_outbox')
        .select('id')
        .where('due_at', '<=', sql<Date>`now()`)
        .where('created_at', '<=', sql<Date>`now() - ${sql.lit(graceMs)} * interval '1 millisecond'`)
        .orderBy('id')
        .limit(limit)
        .forUpdate()
        .skipLocked(),
    )
    .returningAll()
    .execute();
}

/** A signal that failed: the row is due again after `retryInMs`, with the error kept for whoever looks. */
export async function postponeChanges(db: Db, ids: readonly string[], retryInMs: number, error: string): Promise<void> {
  if (ids.length === 0) return;
  await db
    .updateTable('lifecycle_outbox')
    .set({ due_at: sql`now() + ${sql.lit(Math.round(retryInMs))} * interval '1 millisecond'`, last_error: error.slice(0, 500) })
    .where('id', 'in', [...ids])
    .execute();
}

/** Which of these activities are offered to aggregators now (the ledger decides between a change and an opt-out). */
export async function offeredActivities(db: Db, activityIds: readonly string[]): Promise<Set<string>> {
  if (activityIds.length === 0) return new Set();
  const rows = await db
    .selectFrom('activities')
    .select('id')
    .where('id', 'in', [...new Set(activityIds)])
    .where('allow_aggregator_bookings', '=', true)
    .execute();
  return new Set(rows.map((r) => r.id));
}

/**
 * The sweep: every activity offered to aggregators whose lifecycle is not known to run gets a change in the outbox,
 * so the relay signal-with-starts it. Not known to run: never recorded as started, recorded as stopped, or silent
 * since `staleBefore` (a running lifecycle records a pass at least every sync interval; one terminated by hand or
 * failed does not). An activity with a change still waiting in the outbox is left to it. Safe to run any number of
 * times and from several processes: a lifecycle that runs after all just hears of one more change.
 */
export async function recordOrphanedLifecycles(db: Db, staleBefore: Date): Promise<number> {
  const rows = await db
    .insertInto('lifecycle_outbox')
    .columns(['company_id', 'venue_id', 'activity_id', 'change_kind', 'change_id'])
    .expression((eb) =>
      eb
        .selectFrom('activities')
        .leftJoin('activity_lifecycles', 'activity_lifecycles.activity_id', 'activities.id')
        .select(['activities.company_id', 'activities.venue_id', 'activities.id as activity_id', sql.lit('activity').as('change_kind'), 'activities.id'])
        .where('activities.allow_aggregator_bookings', '=', true)
        .where((w) =>
          w.or([
            w('activity_lifecycles.activity_id', 'is', null),
            w('activity_lifecycles.status', '=', 'stopped'),
            w(sql<Date>`coalesce(activity_lifecycles.last_sync_at, activity_lifecycles.started_at)`, '<', staleBefore),
          ]),
        )
        .where((w) =>
          w.not(w.exists(w.selectFrom('lifecycle_outbox').select('lifecycle_outbox.id').whereRef('lifecycle_outbox.activity_id', '=', 'activities.id'))),
        ),
    )
    .returning('id')
    .execute();
  return rows.length;
}
