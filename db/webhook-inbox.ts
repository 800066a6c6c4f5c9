import { sql } from 'kysely';
import type { ConnectionBookingRef } from './booking-requests.js';
import type { Db } from './index.js';

/**
 * The webhook inbox: every verified aggregator event, once per connection and event id, kept until it is handed to its
 * booking workflow (by the webhook route, else by the dispatcher) and with what its processing did. An event about a
 * booking not requested yet waits here for its request.
 */

/**
 * Records a verified event once; `duplicate` when this connection has seen its id before (a redelivery or a
 * concurrent copy). Keyed by the connection, so another company's event can never be taken for a copy of this one.
 */
export async function recordInboxEvent(
  db: Db,
  input: { aggregator: string; eventId: string; eventType: string; connectionId: string; bookingNumber: string; payload: unknown; handoverGraceMs: number },
): Promise<{ duplicate: boolean }> {
  const inserted = await db
    .insertInto('webhook_inbox')
    .values({
      aggregator: input.aggregator,
      event_id: input.eventId,
      event_type: input.eventType,
      connection_id: input.connectionId,
      booking_number: input.bookingNumber,
      payload: JSON.stringify(input.payload),
      // The route hands the event over itself right after answering; the dispatcher takes it only if that fails.
      next_handover_at: new Date(Date.now() + input.handoverGraceMs),
    })
    .onConflict((oc) => oc.columns(['connection_id', 'event_id']).doNothing())
    .returning('id')
    .executeTakeFirst();
  return { duplicate: inserted === undefined };
}

/** One event in the inbox, as received by one connection. */
export interface InboxEventRef {
  connectionId: string;
  eventId: string;
}

export async function markInboxDispatched(db: Db, ref: InboxEventRef): Promise<void> {
  await markInboxEventsDispatched(db, [ref]);
}

/** Marks events handed over to their workflows, in one statement (the webhook route gathers its marks into batches). */
export async function markInboxEventsDispatched(db: Db, refs: readonly InboxEventRef[]): Promise<void> {
  if (refs.length === 0) return;
  await db
    .updateTable('webhook_inbox')
    .set({ dispatched_at: new Date() })
    .where(
      sql<boolean>`(connection_id, event_id) in (select * from unnest(${refs.map((r) => r.connectionId)}::uuid[], ${refs.map((r) => r.eventId)}::text[]))`,
    )
    .where('dispatched_at', 'is', null)
    .execute();
}

export async function markInboxOutcomes(
  db: Db,
  connectionId: string,
  outcomes: { eventId: string; outcome: string; detail?: string | undefined }[],
): Promise<void> {
  for (const { eventId, outcome, detail } of outcomes) {
    await db
      .updateTable('webhook_inbox')
      .set({ outcome, outcome_detail: detail ?? null, processed_at: outcome === 'waiting_for_request' ? null : new Date() })
      .where('connection_id', '=', connectionId)
      .where('event_id', '=', eventId)
      .execute();
  }
}

/**
 * Whether a synchronous answer (the decision in the webhook response) went out completely and in time. Written by the
 * webhook route once its response has closed; read by the booking workflow as it finishes, so the outcome survives a
 * lost signal, a workflow that had not started yet, or an API process that died right after answering.
 */
export async function recordSynchronousResponse(db: Db, ref: InboxEventRef, delivered: boolean): Promise<void> {
  await db
    .updateTable('webhook_inbox')
    .set({ response_delivered: delivered })
    .where('connection_id', '=', ref.connectionId)
    .where('event_id', '=', ref.eventId)
    .execute();
}

/** undefined: the webhook route has not recorded it (yet, or ever: it died before the response closed). */
export async function readSynchronousResponse(db: Db, ref: InboxEventRef): Promise<boolean | undefined> {
  const row = await db
    .selectFrom('webhook_inbox')
    .select('response_delivered')
    .where('connection_id', '=', ref.connectionId)
    .where('event_id', '=', ref.eventId)
    .executeTakeFirst();
  return row?.response_delivered ?? undefined;
}

/** Events of a booking that came before its request and wait for it (their payload is the normalized event). */
export async function waitingEvents(db: Db, ref: ConnectionBookingRef): Promise<unknown[]> {
  const rows = await db
    .selectFrom('webhook_inbox')
    .select('payload')
    .where('connection_id', '=', ref.connectionId)
    .where('booking_number', '=', ref.bookingNumber)
    .where('outcome', '=', 'waiting_for_request')
    .orderBy('id')
    .execute();
  return rows.map((row) => row.payload);
}

/** An inbox event claimed for hand-over to its booking workflow. */
export interface ClaimedEvent {
  id: string;
  aggregator: string;
  eventId: string;
  connectionId: string;
  bookingNumber: string;
  payload: unknown;
  /** Hand-overs tried, this one included. */
  attempts: number;
}

/**
 * Claims up to `limit` events due for hand-over, for `leaseMs`: a claim is a lease, not a held transaction, so no
 * row lock is kept while Temporal is called, and a dispatcher that dies mid-way lets its claims lapse to another.
 * SKIP LOCKED lets dispatchers of several API processes claim at once without waiting on, or taking, each other's rows.
 */
export async function claimDueEvents(db: Db, input: { limit: number; leaseMs: number }): Promise<ClaimedEvent[]> {
  const rows = await sql<{
    id: string;
    aggregator: string;
    event_id: string;
    connection_id: string;
    booking_number: string;
    payload: unknown;
    handover_attempts: number;
  }>`
    UPDATE webhook_inbox i
    SET claimed_until = now() + make_interval(secs => ${input.leaseMs / 1000}), handover_attempts = i.handover_attempts + 1
    WHERE i.id IN (
      SELECT id FROM webhook_inbox
      WHERE dispatched_at IS NULL AND dead_at IS NULL AND next_handover_at <= now()
        AND (claimed_until IS NULL OR claimed_until < now())
        AND connection_id IS NOT NULL AND booking_number IS NOT NULL
      ORDER BY next_handover_at
      LIMIT ${input.limit}
      FOR UPDATE SKIP LOCKED
    )
    RETURNING i.id, i.aggregator, i.event_id, i.connection_id, i.booking_number, i.payload, i.handover_attempts
  `.execute(db);
  return rows.rows.map((r) => ({
    id: String(r.id),
    aggregator: r.aggregator,
    eventId: r.event_id,
    connectionId: r.connection_id,
    bookingNumber: r.booking_number,
    payload: r.payload,
    attempts: r.handover_attempts,
  }));
}

/** A failed hand-over: tried again after `retryInMs`, or given up (dead) when `dead`. */
export async function recordHandoverFailure(db: Db, id: string, input: { error: string; retryInMs: number; dead: boolean }): Promise<void> {
  await db
    .updateTable('webhook_inbox')
    .set({
      claimed_until: null,
      last_handover_error: input.error.slice(0, 500),
      next_handover_at: sql<Date>`now() + make_interval(secs => ${input.retryInMs / 1000})`,
      dead_at: input.dead ? new Date() : null,
    })
    .where('id', '=', id)
    .execute();
}

/** The route's own hand-over failed: the dispatcher need not wait out the grace it left it. */
export async function handOverSoon(db: Db, ref: InboxEventRef): Promise<void> {
  await db
    .updateTable('webhook_inbox')
    .set({ next_handover_at: new Date() })
    .where('connection_id', '=', ref.connectionId)
    .where('event_id', '=', ref.eventId)
    .where('dispatched_at', 'is', null)
    .execute();
}

/** Events given up on (dead letters) of one company's connections, newest first. */
export function deadEventsOf(db: Db, companyId: string, limit: number) {
  return db
    .selectFrom('webhook_inbox')
    .innerJoin('connections', 'connections.id', 'webhook_inbox.connection_id')
    .select([
      'webhook_inbox.id',
      'webhook_inbox.aggregator',
      'webhook_inbox.connection_id',
      'webhook_inbox.event_id',
      'webhook_inbox.event_type',
      'webhook_inbox.booking_number',
      'webhook_inbox.received_at',
      'webhook_inbox.handover_attempts',
      'webhook_inbox.last_handover_error',
      'webhook_inbox.dead_at',
    ])
    .where('connections.company_id', '=', companyId)
    .where('webhook_inbox.dead_at', 'is not', null)
    .orderBy('webhook_inbox.dead_at', 'desc')
    .orderBy('webhook_inbox.id', 'desc')
    .limit(limit)
    .execute();
}

/** Puts a dead event of the company back in line, with fresh attempts; false when it has none such. */
export async function requeueDeadEvent(db: Db, companyId: string, id: string): Promise<boolean> {
  const requeued = await db
    .updateTable('webhook_inbox')
    .set({ dead_at: null, handover_attempts: 0, next_handover_at: new Date(), claimed_until: null })
    .where('id', '=', id)
    .where('dead_at', 'is not', null)
    .where('connection_id', 'in', (eb) => eb.selectFrom('connections').select('id').where('company_id', '=', companyId))
    .returning('id')
    .executeTakeFirst();
  return requeued !== undefined;
}

/**
 * Retention: deletes inbox rows received more than `olderThanMs` ago that are settled (processed, or given up as dead
 * letters), oldest first and at most `limit` at a time. A row still waiting (an event kept for its request, one not
 * handed over) is kept whatever its age. An aggregator resends an event within minutes or hours, never weeks, so the
 * inbox's duplicate check loses nothing; a booking number's requests stay in `booking_requests`.
 */
export async function deleteExpiredInboxEvents(db: Db, olderThanMs: number, limit: number): Promise<number> {
  const result = await sql`
    DELETE FROM webhook_inbox WHERE id IN (
      SELECT id FROM webhook_inbox
      WHERE received_at < now() - ${sql.lit(Math.round(olderThanMs))} * interval '1 millisecond'
        AND (processed_at IS NOT NULL OR dead_at IS NOT NULL)
      ORDER BY received_at
      LIMIT ${limit}
    )
  `.execute(db);
  return Number(result.numAffectedRows ?? 0);
}
