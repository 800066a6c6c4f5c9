import { sql, type Transaction } from 'kysely';
import { decideBooking, type BookingDecision } from '../domain/booking-decision.js';
import { aggregatorOffer } from '../domain/free-spots.js';
import { SPOT_HOLDING_STATUSES, type Aggregator, type BookingStatus } from '../domain/model.js';
import type { RejectReason } from '../domain/reasons.js';
import type { Db } from './index.js';
import type { Database, RequestAnswer, RequestDecision } from './schema.js';

/**
 * The ledger side of aggregator booking requests: the decision taken under the session's row lock, the final state
 * once the aggregator has its answer, and the member's later cancellation or check-in.
 *
 * Why a request can never overbook, however many race from every aggregator and the direct channel: the decision
 * step takes the session's row lock (SELECT ... FOR UPDATE) before it counts, exactly like a direct booking
 * (db/reservations.ts), so every reservation of one session runs one after another and each counts every booking
 * committed before it; the count, the decision and the insert of the spot-holding `requested` booking commit
 * together. Capacity, the aggregator limit and this aggregator's quota are all checked on that one count
 * (domain/free-spots.ts). The request row's primary key (aggregator, booking number) and the unique index on
 * (source, booking number) make a second booking for one number impossible even if a step runs twice.
 */

export interface RequestView {
  decision: RequestDecision;
  reason: RejectReason | null;
  message: string | null;
  answer: RequestAnswer;
  deadlineAt: Date;
  sessionId: string | null;
  activityId: string | null;
  bookingId: string | null;
  offered: boolean;
}

export interface DecideInput {
  aggregator: Aggregator;
  bookingNumber: string;
  companyId: string;
  venueId: string;
  connectionId: string;
  sessionExternalId: string;
  activityExternalId?: string | undefined;
  member: { externalId: string; name?: string | undefined; email?: string | undefined };
  requestedAt: Date;
  deadlineAt: Date;
  /** The aggregator cannot wait for a manual approval (it reads the answer from the webhook response). */
  synchronous: boolean;
  now: Date;
}

type Trx = Transaction<Database>;

/**
 * A booking number, as received by one connection. Every lookup below takes it whole: an aggregator's number means
 * something only within the connection that received it, so a company signing events with its own connection's secret
 * can never reach a booking of another connection by naming its number.
 */
export interface ConnectionBookingRef {
  connectionId: string;
  bookingNumber: string;
}

async function readRequest(db: Db | Trx, ref: ConnectionBookingRef): Promise<RequestView | undefined> {
  const row = await db
    .selectFrom('booking_requests')
    .leftJoin('sessions', 'sessions.id', 'booking_requests.session_id')
    .leftJoin('activities', 'activities.id', 'sessions.activity_id')
    .select([
      'booking_requests.decision',
      'booking_requests.reason',
      'booking_requests.message',
      'booking_requests.answer',
      'booking_requests.deadline_at',
      'booking_requests.session_id',
      'booking_requests.booking_id',
      'activities.id as activity_id',
      'activities.allow_aggregator_bookings',
    ])
    .where('booking_requests.connection_id', '=', ref.connectionId)
    .where('booking_requests.booking_number', '=', ref.bookingNumber)
    .executeTakeFirst();
  if (!row) return undefined;
  return {
    decision: row.decision,
    reason: row.reason as RejectReason | null,
    message: row.message,
    answer: row.answer,
    deadlineAt: row.deadline_at,
    sessionId: row.session_id,
    activityId: row.activity_id,
    bookingId: row.booking_id,
    offered: row.allow_aggregator_bookings === true,
  };
}

export const readBookingRequest = readRequest;

/**
 * The customer holding this aggregator id in the company, or a new one created with it (name and e-mail from the
 * event). Two requests of a new member racing: the unique (company, aggregator, external id) index lets one insert
 * win; the other drops the profile it began and takes the winner's.
 */
export async function matchOrCreateCustomer(
  trx: Trx,
  input: { companyId: string; aggregator: string; member: DecideInput['member'] },
): Promise<string> {
  const existing = await trx
    .selectFrom('customer_aggregator_ids')
    .select('customer_id')
    .where('company_id', '=', input.companyId)
    .where('aggregator', '=', input.aggregator)
    .where('external_id', '=', input.member.externalId)
    .executeTakeFirst();
  if (existing) return existing.customer_id;
  const created = await trx
    .insertInto('customers')
    .values({ company_id: input.companyId, name: input.member.name ?? null, email: input.member.email ?? null })
    .returning('id')
    .executeTakeFirstOrThrow();
  const linked = await trx
    .insertInto('customer_aggregator_ids')
    .values({ company_id: input.companyId, customer_id: created.id, aggregator: input.aggregator, external_id: input.member.externalId })
    .onConflict((oc) => oc.columns(['company_id', 'aggregator', 'external_id']).doNothing())
    .returning('customer_id')
    .executeTakeFirst();
  if (linked) return linked.customer_id;
  await trx.deleteFrom('customers').where('id', '=', created.id).execute();
  const winner = await trx
    .selectFrom('customer_aggregator_ids')
    .select('customer_id')
    .where('company_id', '=', input.companyId)
    .where('aggregator', '=', input.aggregator)
    .where('external_id', '=', input.member.externalId)
    .executeTakeFirstOrThrow();
  return winner.customer_id;
}

/** Decides a request and holds its spot (or records the rejection), once per booking number. */
export async function decideAggregatorRequest(db: Db, input: DecideInput): Promise<RequestView & { known: boolean }> {
  const known = await readRequest(db, input);
  if (known) return { ...known, known: true };

  await db.transaction().execute(async (trx) => {
    // The aggregator's session id leads to our session only through what we published to this very connection.
    const published = await trx
      .selectFrom('session_publications')
      .innerJoin('sessions', 'sessions.id', 'session_publications.session_id')
      .select('sessions.id')
      .where('session_publications.connection_id', '=', input.connectionId)
      .where('session_publications.external_id', '=', input.sessionExternalId)
      .where('sessions.venue_id', '=', input.venueId)
      .executeTakeFirst();
    const customerId = await matchOrCreateCustomer(trx, { companyId: input.companyId, aggregator: input.aggregator, member: input.member });
    // Read in the decision's transaction: a connection paused a moment ago takes no new booking.
    const connection = await trx.selectFrom('connections').select('status').where('id', '=', input.connectionId).executeTakeFirstOrThrow();
    const rules = { connectionStatus: connection.status, answersSynchronously: input.synchronous };

    let decision: BookingDecision = decideBooking({ ...rules, session: undefined, alreadyBooked: false, freeForAggregator: 0, now: input.now });
    let sessionId: string | null = null;
    if (published) {
      // The lock that serializes every reservation of this session (see the comment at the top of this file).
      const session = await trx
        .selectFrom('sessions')
        .innerJoin('activities', 'activities.id', 'sessions.activity_id')
        .select([
          'sessions.id',
          'sessions.status',
          'sessions.starts_at',
          'sessions.capacity_override',
          'sessions.aggregator_limit_override',
          'activities.id as activity_id',
          'activities.max_participants',
          'activities.aggregator_limit',
          'activities.allow_aggregator_bookings',
          'activities.booking_opens_minutes_before',
          'activities.booking_closes_minutes_before',
          'activities.requires_manual_approval',
        ])
        .where('sessions.id', '=', published.id)
        .forUpdate('sessions')
        .executeTakeFirstOrThrow();
      sessionId = session.id;
      const [held, quota] = await Promise.all([
        trx
          .selectFrom('bookings')
          .select([
            sql<string>`count(*)`.as('total'),
            sql<string>`count(*) filter (where source <> 'direct')`.as('aggregators'),
            sql<string>`count(*) filter (where source = ${input.aggregator})`.as('mine'),
            sql<string>`count(*) filter (where customer_id = ${customerId})`.as('customer'),
          ])
          .where('session_id', '=', session.id)
          .where('status', 'in', [...SPOT_HOLDING_STATUSES])
          .executeTakeFirstOrThrow(),
        trx
          .selectFrom('activity_aggregator_quotas')
          .select('quota')
          .where('activity_id', '=', session.activity_id)
          .where('aggregator', '=', input.aggregator)
          .executeTakeFirst(),
      ]);
      const offer = aggregatorOffer({
        maxParticipants: session.max_participants,
        capacityOverride: session.capacity_override,
        aggregatorLimit: session.aggregator_limit,
        aggregatorLimitOverride: session.aggregator_limit_override,
        quota: quota?.quota,
        booked: { total: Number(held.total), aggregators: Number(held.aggregators), thisAggregator: Number(held.mine) },
      });
      decision = decideBooking({
        ...rules,
        session: {
          status: session.status,
          startsAt: session.starts_at,
          offered: session.allow_aggregator_bookings,
          bookingOpensMinutesBefore: session.booking_opens_minutes_before,
          bookingClosesMinutesBefore: session.booking_closes_minutes_before,
          requiresManualApproval: session.requires_manual_approval,
        },
        alreadyBooked: Number(held.customer) > 0,
        freeForAggregator: offer.free,
        now: input.now,
      });
    }

    let bookingId: string | null = null;
    if (sessionId !== null) {
      const status: BookingStatus = decision.outcome === 'reject' ? 'rejected' : 'requested';
      const booking = await trx
        .insertInto('bookings')
        .values({
          company_id: input.companyId,
          session_id: sessionId,
          customer_id: customerId,
          source: input.aggregator,
          aggregator_booking_number: input.bookingNumber,
          connection_id: input.connectionId,
          status,
          status_reason: decision.outcome === 'reject' ? decision.reason : null,
          product: input.aggregator,
          paid: true,
        })
        .returning('id')
        .executeTakeFirstOrThrow();
      bookingId = booking.id;
      const actor = `aggregator:${input.aggregator}`;
      await trx
        .insertInto('booking_status_history')
        .values([
          { booking_id: booking.id, from_status: null, to_status: 'requested', reason: null, actor },
          ...(decision.outcome === 'reject'
            ? [{ booking_id: booking.id, from_status: 'requested' as const, to_status: 'rejected' as const, reason: decision.reason, actor: 'service' }]
            : []),
        ])
        .execute();
    }

    await trx
      .insertInto('booking_requests')
      .values({
        aggregator: input.aggregator,
        booking_number: input.bookingNumber,
        company_id: input.companyId,
        venue_id: input.venueId,
        connection_id: input.connectionId,
        session_external_id: input.sessionExternalId,
        activity_external_id: input.activityExternalId ?? null,
        member_external_id: input.member.externalId,
        session_id: sessionId,
        customer_id: customerId,
        booking_id: bookingId,
        decision: decision.outcome === 'reject' ? 'reject' : decision.outcome === 'hold_for_approval' ? 'awaiting_approval' : 'reserve',
        reason: decision.outcome === 'reject' ? decision.reason : null,
        message: decision.outcome === 'reject' ? decision.message : null,
        deadline_at: input.deadlineAt,
        requested_at: input.requestedAt,
      })
      .execute();
  });
  const view = await readRequest(db, input);
  if (!view) throw new Error(`booking request ${input.aggregator}:${input.bookingNumber} vanished after its decision`);
  return { ...view, known: false };
}

/** A backend service's approval of a held request: awaiting_approval → reserve, or → reject (the spot is freed later). */
export async function recordApproval(
  db: Db,
  input: ConnectionBookingRef & { approve: boolean; reason?: RejectReason | undefined; message?: string | undefined },
): Promise<RequestView> {
  await db
    .updateTable('booking_requests')
    .set({
      decision: input.approve ? 'reserve' : 'reject',
      reason: input.approve ? null : (input.reason ?? 'USAGE_RESTRICTION'),
      message: input.approve ? null : (input.message ?? 'the studio declined the booking'),
      updated_at: new Date(),
    })
    .where('connection_id', '=', input.connectionId)
    .where('booking_number', '=', input.bookingNumber)
    .where('decision', '=', 'awaiting_approval')
    .execute();
  const view = await readRequest(db, input);
  if (!view) throw new Error(`booking request ${input.connectionId}:${input.bookingNumber} not found`);
  return view;
}

async function moveBooking(trx: Trx, bookingId: string, from: BookingStatus, to: BookingStatus, reason: string | null, actor: string) {
  const moved = await trx
    .updateTable('bookings')
    .set({ status: to, status_reason: reason, updated_at: new Date() })
    .where('id', '=', bookingId)
    .where('status', '=', from)
    .returning('id')
    .executeTakeFirst();
  if (moved) {
    await trx.insertInto('booking_status_history').values({ booking_id: bookingId, from_status: from, to_status: to, reason, actor }).execute();
  }
  return moved !== undefined;
}

/**
 * The request's final state once the aggregator has its answer (or can no longer get one): a held spot becomes
 * reserved, or is freed as rejected; the request records what the aggregator was told. Safe to run twice.
 */
export async function finishAggregatorRequest(
  db: Db,
  input: ConnectionBookingRef & {
    aggregator: string;
    decision: 'reserve' | 'reject';
    reason?: RejectReason | undefined;
    message?: string | undefined;
    answer: RequestAnswer;
    lastError?: string | undefined;
    actor: string;
    eventIds?: string[] | undefined;
  },
): Promise<void> {
  await db.transaction().execute(async (trx) => {
    const request = await trx
      .selectFrom('booking_requests')
      .selectAll()
      .where('connection_id', '=', input.connectionId)
      .where('booking_number', '=', input.bookingNumber)
      .forUpdate()
      .executeTakeFirst();
    if (!request) throw new Error(`booking request ${input.aggregator}:${input.bookingNumber} not found`);
    const reason = input.decision === 'reject' ? (input.reason ?? (request.reason as RejectReason | null) ?? 'TECHNICAL_ERROR') : null;
    if (request.booking_id !== null) {
      // The session's lock first, as every writer of its bookings takes it (no lock-order deadlock with a cancel).
      const session = await trx
        .selectFrom('sessions')
        .select(['status', 'cancellation_reason'])
        .where('id', '=', request.session_id as string)
        .forUpdate()
        .executeTakeFirst();
      if (input.decision === 'reserve') {
        await moveBooking(trx, request.booking_id, 'requested', 'reserved', null, input.actor);
        // Confirmed at the aggregator just as the studio cancelled the session: the cancellation applies to it too
        // (the session's fan-out tells the aggregator), so no booking stays reserved in a cancelled session.
        if (session?.status === 'cancelled') {
          await moveBooking(trx, request.booking_id, 'reserved', 'cancelled_by_gym', session.cancellation_reason ?? 'the session was cancelled', 'service');
        }
      } else {
        await moveBooking(trx, request.booking_id, 'requested', 'rejected', reason, input.actor);
      }
    }
    await trx
      .updateTable('booking_requests')
      .set({
        decision: input.decision,
        reason,
        message: input.decision === 'reject' ? (input.message ?? request.message) : null,
        answer: input.answer,
        answered_at: input.answer === 'sent' || input.answer === 'in_webhook_response' ? new Date() : request.answered_at,
        last_error: input.lastError ?? null,
        updated_at: new Date(),
      })
      .where('connection_id', '=', input.connectionId)
      .where('booking_number', '=', input.bookingNumber)
      .execute();
    if (input.eventIds !== undefined && input.eventIds.length > 0) {
      await trx
        .updateTable('webhook_inbox')
        .set({ outcome: 'applied', processed_at: new Date() })
        .where('connection_id', '=', input.connectionId)
        .where('event_id', 'in', input.eventIds)
        .execute();
    }
  });
}

/** Why an event changed nothing although its number exists: another connection received that number. */
export const FOREIGN_NUMBER = 'another connection received this booking number: nothing of it was read or changed';

export interface MemberEventOutcome {
  outcome: 'applied' | 'waiting_for_request' | 'ignored';
  detail: string;
  sessionId: string | null;
  activityId: string | null;
  offered: boolean;
}

/**
 * Whether another connection of the same aggregator received this number. Used only to record why an event changed
 * nothing; the other connection's booking is neither returned nor touched.
 */
async function heldByAnotherConnection(trx: Trx, input: ConnectionBookingRef & { aggregator: Aggregator }): Promise<boolean> {
  const other = await trx
    .selectFrom('booking_requests')
    .select('connection_id')
    .where('aggregator', '=', input.aggregator)
    .where('booking_number', '=', input.bookingNumber)
    .where('connection_id', '<>', input.connectionId)
    .executeTakeFirst();
  return other !== undefined;
}

/**
 * A member's cancellation (late or not) or check-in, reported by the aggregator. A booking we have not seen yet
 * leaves the event waiting in the inbox for its request; a booking in a state the event does not fit is left as it
 * is, and the reason is returned for the log.
 */
export async function applyMemberEvent(
  db: Db,
  input: ConnectionBookingRef & { aggregator: Aggregator; type: 'booking_cancelled' | 'checked_in'; late: boolean },
): Promise<MemberEventOutcome> {
  return db.transaction().execute(async (trx) => {
    const booking = await trx
      .selectFrom('bookings')
      .innerJoin('sessions', 'sessions.id', 'bookings.session_id')
      .innerJoin('activities', 'activities.id', 'sessions.activity_id')
      .select(['bookings.id', 'bookings.status', 'bookings.session_id', 'activities.id as activity_id', 'activities.allow_aggregator_bookings'])
      .where('bookings.connection_id', '=', input.connectionId)
      .where('bookings.aggregator_booking_number', '=', input.bookingNumber)
      .forUpdate('bookings')
      .executeTakeFirst();
    if (!booking) {
      if (await heldByAnotherConnection(trx, input)) {
        // A signed event naming a number that another connection received: a forgery by the signer, or its mistake.
        // Nothing of the other connection is read or changed, and the sender's answer is the one any unknown number
        // gets, so it learns nothing of other companies' bookings. The event still waits for a request of its own
        // connection: refusing it outright would let a forged request sent first for a future number make the real
        // connection's early cancellation be refused.
        return { outcome: 'waiting_for_request', detail: FOREIGN_NUMBER, sessionId: null, activityId: null, offered: false };
      }
      return { outcome: 'waiting_for_request', detail: 'no booking with this number yet', sessionId: null, activityId: null, offered: false };
    }
    const where = { sessionId: booking.session_id, activityId: booking.activity_id, offered: booking.allow_aggregator_bookings };
    const actor = `aggregator:${input.aggregator}`;
    if (input.type === 'checked_in') {
      if (await moveBooking(trx, booking.id, 'reserved', 'attended', null, actor)) return { outcome: 'applied', detail: 'attended', ...where };
      return { outcome: 'ignored', detail: `check-in of a booking that is ${booking.status}`, ...where };
    }
    const to: BookingStatus = input.late ? 'late_cancelled' : 'cancelled_by_customer';
    if (await moveBooking(trx, booking.id, 'reserved', to, input.late ? 'late cancellation' : null, actor)) {
      return { outcome: 'applied', detail: to, ...where };
    }
    if (booking.status === 'requested') {
      // Cancelled at the aggregator while we still held it (awaiting approval): nothing to answer any more.
      await moveBooking(trx, booking.id, 'requested', 'rejected', 'cancelled by the member before the answer', actor);
      await trx
        .updateTable('booking_requests')
        .set({ decision: 'reject', reason: 'GENERAL_ERROR', message: 'cancelled by the member before the answer', answer: 'not_needed', updated_at: new Date() })
        .where('connection_id', '=', input.connectionId)
        .where('booking_number', '=', input.bookingNumber)
        .execute();
      return { outcome: 'applied', detail: 'cancelled before the answer', ...where };
    }
    return { outcome: 'ignored', detail: `cancellation of a booking that is ${booking.status}`, ...where };
  });
}

// --- webhook inbox -------------------------------------------------------------------------------------------------

/** The connection a webhook names by the aggregator's venue id. */
export function findWebhookConnection(db: Db, aggregator: string, externalVenueId: string) {
  return db
    .selectFrom('connections')
    .select(['id', 'company_id', 'venue_id', 'aggregator', 'status', 'credentials_sealed'])
    .where('aggregator', '=', aggregator)
    .where('external_venue_id', '=', externalVenueId)
    .executeTakeFirst();
}

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
  await db
    .updateTable('webhook_inbox')
    .set({ dispatched_at: new Date() })
    .where('connection_id', '=', ref.connectionId)
    .where('event_id', '=', ref.eventId)
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
