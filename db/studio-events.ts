import { sql, type Transaction } from 'kysely';
import { presentBooking } from '../api/routes/bookings.schemas.js';
import { bookingEventFor, decisionEvents, orderingKey, type BookingEventKind, type StudioEventType } from '../domain/studio-events.js';
import { newEventId } from '../lib/standard-webhooks.js';
import type { Db } from './index.js';
import type { BookingStatusHistoryTable, Database } from './schema.js';

/**
 * The outbox of events to the studio backend. An event is written in the transaction of the change it announces, so
 * a committed change is never missing its event and a rolled-back one never has one; the relay
 * (`api/event-relay.ts`) then wakes the delivery workflow of each (endpoint, ordering key).
 *
 * Fan-out happens here, at write time: the event gets one dispatch per enabled endpoint of the company subscribed to
 * its type then. An endpoint created or subscribed later does not receive older events (as with any webhook
 * service), and a company with no endpoint for a type pays one cheap read per change and records nothing.
 *
 * Order per booking: every change of a booking moves its row (an UPDATE, so a row lock) or inserts it before the
 * event is written, so two transactions writing events of one booking run one after the other and the later one's
 * dispatch ids (a sequence read after the lock) are higher. Delivery follows the dispatch ids.
 */

type Trx = Transaction<Database>;
type Writer = Trx | Db;

export interface NewStudioEvent {
  companyId: string;
  type: StudioEventType;
  /** `booking:<id>`, `session:<id>` or `connection:<id>`: events of one key are delivered in order. */
  orderingKey: string;
  data: Record<string, unknown>;
}

/**
 * Records one event and its dispatches in one statement, if an enabled endpoint of the company takes its type;
 * returns the event's id, or undefined when nobody subscribes (nothing is written).
 */
export async function recordEvent(trx: Writer, event: NewStudioEvent): Promise<string | undefined> {
  const id = newEventId();
  const createdAt = new Date();
  const payload = JSON.stringify({ type: event.type, timestamp: createdAt.toISOString(), data: event.data });
  const result = await sql<{ event_id: string }>`
    WITH subscribed AS (
      SELECT id FROM event_endpoints
      WHERE company_id = ${event.companyId} AND enabled AND ${event.type} = ANY(event_types)
    ), recorded AS (
      INSERT INTO events (id, company_id, type, ordering_key, payload, created_at)
      SELECT ${id}, ${event.companyId}, ${event.type}, ${event.orderingKey}, ${payload}::jsonb, ${createdAt}
      WHERE EXISTS (SELECT 1 FROM subscribed)
      RETURNING id
    )
    INSERT INTO event_dispatches (event_id, endpoint_id, company_id, ordering_key)
    SELECT recorded.id, subscribed.id, ${event.companyId}, ${event.orderingKey} FROM recorded CROSS JOIN subscribed
    RETURNING event_id
  `.execute(trx);
  return result.rows.length > 0 ? id : undefined;
}

export interface BookingEventInput {
  bookingId: string;
  kind: BookingEventKind;
}

/** The history rows as the bookings presenter takes them, read back from JSON. */
type HistoryJson = Array<Omit<BookingStatusHistoryTable, 'at' | 'id'> & { id: string; at: string }>;

/**
 * Records booking events (in the order given), each carrying the booking as the bookings API presents it, as it
 * stood at the history entry the event announces. One read when no endpoint of the company takes any of these
 * types; then one insert per event.
 */
export async function recordBookingEvents(trx: Writer, events: readonly BookingEventInput[]): Promise<string[]> {
  if (events.length === 0) return [];
  const types = [...new Set(events.map((e) => e.kind.type))];
  const bookingIds = [...new Set(events.map((e) => e.bookingId))];
  const rows = await trx
    .selectFrom('bookings')
    .innerJoin('sessions', 'sessions.id', 'bookings.session_id')
    .innerJoin('activities', 'activities.id', 'sessions.activity_id')
    .selectAll('bookings')
    .select([
      'sessions.starts_at',
      'sessions.status as session_status',
      'sessions.venue_id',
      'activities.id as activity_id',
      'activities.name as activity_name',
      sql<HistoryJson>`(SELECT coalesce(jsonb_agg(h ORDER BY h.id), '[]'::jsonb) FROM booking_status_history h WHERE h.booking_id = bookings.id)`.as('history'),
    ])
    .where('bookings.id', 'in', bookingIds)
    .where((eb) =>
      eb.exists(
        eb
          .selectFrom('event_endpoints')
          .select('event_endpoints.id')
          .whereRef('event_endpoints.company_id', '=', 'bookings.company_id')
          .where('event_endpoints.enabled', '=', true)
          .where(sql<boolean>`event_endpoints.event_types && ${sql.val(types)}::text[]`),
      ),
    )
    .execute();
  if (rows.length === 0) return [];
  const byId = new Map(rows.map((r) => [r.id, r]));
  const recorded: string[] = [];
  for (const event of events) {
    const row = byId.get(event.bookingId);
    if (!row) continue;
    const history = row.history.map((h) => ({ ...h, at: new Date(h.at) }));
    // The entry this event announces: the latest one reaching its status (the request's, for awaiting_approval).
    const status = event.kind.type === 'booking.awaiting_approval' ? 'requested' : statusOf(event.kind);
    let position = history.length;
    for (let i = history.length - 1; i >= 0; i -= 1) {
      if (history[i]?.to_status === status) {
        position = i + 1;
        break;
      }
    }
    const upTo = history.slice(0, position);
    const entry = upTo[upTo.length - 1];
    const booking = presentBooking(
      { ...row, status: entry?.to_status ?? row.status, status_reason: entry ? entry.reason : row.status_reason },
      upTo,
    );
    const id = await recordEvent(trx, {
      companyId: row.company_id,
      type: event.kind.type,
      orderingKey: orderingKey('booking', row.id),
      data: {
        booking,
        historyPosition: position,
        ...(event.kind.cancelledBy !== undefined ? { cancelledBy: event.kind.cancelledBy } : {}),
        reason: entry?.reason ?? null,
        aggregator: row.source === 'direct' ? null : row.source,
        connectionId: row.connection_id,
        session: { id: row.session_id, startsAt: row.starts_at.toISOString(), status: row.session_status },
        activity: { id: row.activity_id, name: row.activity_name },
        venueId: row.venue_id,
      },
    });
    if (id !== undefined) recorded.push(id);
  }
  return recorded;
}

function statusOf(kind: BookingEventKind): string {
  if (kind.type === 'booking.cancelled') {
    return kind.cancelledBy === 'late' ? 'late_cancelled' : kind.cancelledBy === 'gym' ? 'cancelled_by_gym' : 'cancelled_by_customer';
  }
  return kind.type.slice('booking.'.length);
}

/**
 * A select column saying whether the company in `companyIdColumn` has an enabled event endpoint. The booking steps
 * that run under a session's lock read it in their first statement and skip their events' read when it is false, so
 * a company without endpoints pays nothing for events on its hottest path. An endpoint created between that read and
 * the step's commit misses the step's event, as it would had it been created a moment later.
 */
export function eventEndpointsExist(companyIdColumn: string) {
  return sql<boolean>`exists (select 1 from event_endpoints e where e.company_id = ${sql.ref(companyIdColumn)} and e.enabled)`.as('has_event_endpoints');
}

/** The event of a booking's move to `status` (see domain/studio-events.ts); nothing for a status without one. */
export async function recordBookingStatusEvents(trx: Writer, bookingIds: readonly string[], status: string): Promise<void> {
  const kind = bookingEventFor(status);
  if (kind === undefined) return;
  await recordBookingEvents(
    trx,
    bookingIds.map((bookingId) => ({ bookingId, kind })),
  );
}

/** The events of an aggregator request's decision (requested, then rejected or awaiting approval). */
export async function recordDecisionEvents(trx: Writer, bookingId: string, outcome: 'reserve' | 'reject' | 'hold_for_approval'): Promise<void> {
  await recordBookingEvents(
    trx,
    decisionEvents(outcome).map((kind) => ({ bookingId, kind })),
  );
}

/** `session.cancellation.completed`, with what each aggregator made of it. */
export async function recordCancellationCompleted(trx: Writer, sessionId: string): Promise<void> {
  const row = await trx.selectFrom('session_cancellations').selectAll().where('session_id', '=', sessionId).executeTakeFirst();
  if (!row || row.completed_at === null) return;
  const branches = await trx
    .selectFrom('session_cancellation_branches')
    .select(['connection_id', 'aggregator', 'status', 'attempts', 'last_error'])
    .where('session_id', '=', sessionId)
    .orderBy('aggregator')
    .execute();
  await recordEvent(trx, {
    companyId: row.company_id,
    type: 'session.cancellation.completed',
    orderingKey: orderingKey('session', sessionId),
    data: {
      sessionId,
      activityId: row.activity_id,
      venueId: row.venue_id,
      reason: row.reason,
      bookingsCancelled: row.bookings_cancelled,
      requestedAt: row.requested_at.toISOString(),
      completedAt: row.completed_at.toISOString(),
      aggregators: branches.map((b) => ({ connectionId: b.connection_id, aggregator: b.aggregator, status: b.status, attempts: b.attempts, lastError: b.last_error })),
    },
  });
}

// --- Delivery: the relay's hand-over and the workflow's reads ------------------------------------------------------

export interface UnhandedDispatch {
  id: number;
  endpoint_id: string;
  ordering_key: string;
  company_id: string;
  handover_attempts: number;
}

/**
 * Takes up to `limit` dispatches whose delivery workflow has not been woken yet, as the lifecycle relay takes its
 * rows: SKIP LOCKED so several API processes claim at once, and a lease (`due_at` moved ahead) so no transaction
 * stays open across the calls to Temporal.
 */
export async function claimUnhandedDispatches(db: Db, options: { limit: number; leaseMs: number }): Promise<UnhandedDispatch[]> {
  return db
    .updateTable('event_dispatches')
    .set({ due_at: sql`now() + ${sql.lit(options.leaseMs)} * interval '1 millisecond'`, handover_attempts: sql`handover_attempts + 1` })
    .where('id', 'in', (eb) =>
      eb
        .selectFrom('event_dispatches')
        .select('id')
        .where('handed_over_at', 'is', null)
        .where('due_at', '<=', sql<Date>`now()`)
        .orderBy('id')
        .limit(options.limit)
        .forUpdate()
        .skipLocked(),
    )
    .returning(['id', 'endpoint_id', 'ordering_key', 'company_id', 'handover_attempts'])
    .execute();
}

export async function markHandedOver(db: Db, ids: readonly number[]): Promise<void> {
  if (ids.length === 0) return;
  await db.updateTable('event_dispatches').set({ handed_over_at: new Date(), last_handover_error: null }).where('id', 'in', [...ids]).execute();
}

export async function postponeHandover(db: Db, ids: readonly number[], retryInMs: number, error: string): Promise<void> {
  if (ids.length === 0) return;
  await db
    .updateTable('event_dispatches')
    .set({ due_at: sql`now() + ${sql.lit(Math.round(retryInMs))} * interval '1 millisecond'`, last_handover_error: error.slice(0, 500) })
    .where('id', 'in', [...ids])
    .execute();
}

/**
 * Retention: deletes events created more than `olderThanMs` ago, with their dispatches and delivery log (cascade),
 * oldest first and at most `limit` at a time (a short statement, however large the backlog). An event with a dispatch
 * still pending is kept whatever its age: it is deleted once its delivery ends. Returns how many were deleted.
 */
export async function deleteExpiredEvents(db: Db, olderThanMs: number, limit: number): Promise<number> {
  const result = await sql`
    DELETE FROM events WHERE id IN (
      SELECT e.id FROM events e
      WHERE e.created_at < now() - ${sql.lit(Math.round(olderThanMs))} * interval '1 millisecond'
        AND NOT EXISTS (SELECT 1 FROM event_dispatches d WHERE d.event_id = e.id AND d.status = 'pending')
      ORDER BY e.created_at
      LIMIT ${limit}
    )
  `.execute(db);
  return Number(result.numAffectedRows ?? 0);
}

/**
 * The sweep: a dispatch still pending whose workflow has made no attempt for `staleMs` (longer than the longest
 * wait between two attempts) has lost its workflow (terminated by hand, its start lost): handed over again.
 */
export async function releaseStalledDispatches(db: Db, staleMs: number): Promise<number> {
  const rows = await db
    .updateTable('event_dispatches')
    .set({ handed_over_at: null, due_at: sql`now()` })
    .where('status', '=', 'pending')
    .where('handed_over_at', 'is not', null)
    .where(sql<Date>`coalesce(last_attempt_at, handed_over_at)`, '<', sql<Date>`now() - ${sql.lit(staleMs)} * interval '1 millisecond'`)
    .returning('id')
    .execute();
  return rows.length;
}

/** The first dispatch of a lane still to deliver, in order. */
export async function nextPendingDispatch(db: Db, endpointId: string, orderingKey: string): Promise<number | undefined> {
  const row = await db
    .selectFrom('event_dispatches')
    .select('id')
    .where('endpoint_id', '=', endpointId)
    .where('ordering_key', '=', orderingKey)
    .where('status', '=', 'pending')
    .orderBy('id')
    .limit(1)
    .executeTakeFirst();
  return row?.id;
}

export async function dispatchForDelivery(db: Db, dispatchId: number) {
  return db
    .selectFrom('event_dispatches')
    .innerJoin('events', 'events.id', 'event_dispatches.event_id')
    .innerJoin('event_endpoints', 'event_endpoints.id', 'event_dispatches.endpoint_id')
    .select([
      'event_dispatches.id',
      'event_dispatches.status',
      'event_dispatches.attempts',
      'event_dispatches.endpoint_id',
      'events.id as event_id',
      'events.type',
      'events.payload',
      'event_endpoints.url',
      'event_endpoints.enabled',
      'event_endpoints.secrets_sealed',
    ])
    .where('event_dispatches.id', '=', dispatchId)
    .executeTakeFirst();
}

export interface AttemptRecord {
  dispatchId: number;
  endpointId: string;
  eventId: string;
  eventType: string;
  attempt: number;
  outcome: 'delivered' | 'failed' | 'gave_up';
  statusCode: number | null;
  error: string | null;
  durationMs: number | null;
}

/** One line of the delivery log, and the dispatch's state after it, together. */
export async function recordAttempt(db: Db, record: AttemptRecord): Promise<void> {
  await db.transaction().execute(async (trx) => {
    await trx
      .insertInto('event_delivery_attempts')
      .values({
        dispatch_id: record.dispatchId,
        endpoint_id: record.endpointId,
        event_id: record.eventId,
        event_type: record.eventType,
        attempt: record.attempt,
        outcome: record.outcome,
        status_code: record.statusCode,
        error: record.error,
        duration_ms: record.durationMs,
      })
      .execute();
    const now = new Date();
    await trx
      .updateTable('event_dispatches')
      .set({
        ...(record.outcome === 'gave_up' ? {} : { attempts: sql`greatest(attempts, ${record.attempt})`, last_attempt_at: now }),
        ...(record.outcome === 'delivered' ? { status: 'delivered' as const, finished_at: now } : {}),
        ...(record.outcome === 'gave_up' ? { status: 'failed' as const, finished_at: now } : {}),
      })
      .where('id', '=', record.dispatchId)
      .where('status', '=', 'pending')
      .execute();
  });
}

/** A dispatch whose endpoint was disabled or deleted meanwhile: not delivered. */
export async function cancelDispatch(db: Db, dispatchId: number): Promise<void> {
  await db.updateTable('event_dispatches').set({ status: 'cancelled', finished_at: new Date() }).where('id', '=', dispatchId).where('status', '=', 'pending').execute();
}

/** A replay: one more dispatch of the event to the endpoint, in its lane after what is pending there. */
export async function recordReplay(db: Db, input: { eventId: string; endpointId: string; companyId: string }): Promise<number | undefined> {
  const row = await db
    .insertInto('event_dispatches')
    .columns(['event_id', 'endpoint_id', 'company_id', 'ordering_key', 'replay'])
    .expression((eb) =>
      eb
        .selectFrom('events')
        .select(['events.id', sql.val(input.endpointId).as('endpoint_id'), 'events.company_id', 'events.ordering_key', sql.lit(true).as('replay')])
        .where('events.id', '=', input.eventId)
        .where('events.company_id', '=', input.companyId),
    )
    .returning('id')
    .executeTakeFirst();
  return row?.id;
}
