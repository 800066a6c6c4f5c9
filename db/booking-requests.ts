import { randomUUID } from 'node:crypto';
import { sql, type QueryCreator, type Transaction } from 'kysely';
import { decideBooking, type BookingDecision } from '../domain/booking-decision.js';
import { aggregatorOffer, spotWindow } from '../domain/free-spots.js';
import { SPOT_HOLDING_STATUSES, type Aggregator, type BookingStatus } from '../domain/model.js';
import type { RejectReason } from '../domain/reasons.js';
import { bookingMove, moveBooking } from './bookings.js';
import { SESSION_PLACES_COLUMNS } from './spot-window.js';
import { eventEndpointsExist, recordBookingStatusEvents, recordDecisionEvents } from './studio-events.js';
import { matchOrCreateCustomer } from './customers.js';
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
 * (domain/free-spots.ts). The request row's primary key (connection, booking number) and the unique index on the
 * booking's (connection, booking number) make a second booking for one number impossible even if a step runs twice.
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


/** Decides a request and holds its spot (or records the rejection), once per booking number. */
export async function decideAggregatorRequest(db: Db, input: DecideInput): Promise<RequestView & { known: boolean }> {
  // No read first: nearly every call decides a new request, and one already decided (a copy of the webhook, a step run
  // twice, a request the webhook route decided) is found under the session's lock or at the unique keys, like copies
  // of one request decided at once (a synchronous aggregator's copies, each in its own webhook request): the first to
  // commit decides; the others find its decision.
  try {
    const decided = await decideOnce(db, input);
    if (decided) return { ...decided, known: false };
  } catch (error) {
    if ((error as { code?: string }).code !== UNIQUE_VIOLATION) throw error;
  }
  const view = await readRequest(db, input);
  if (!view) throw new Error(`booking request ${input.aggregator}:${input.bookingNumber} vanished after its decision`);
  return { ...view, known: true };
}

const UNIQUE_VIOLATION = '23505';

/**
 * The decision in one transaction of six statements: the customer matched or created, the session locked (with the
 * connection's status, the publication that leads to it, and whether the company has event endpoints at all), the
 * counts, one insert of the booking with its history and the request, the commit (and the events' statements when
 * the company has endpoints). Every statement between the lock and the commit is time the session's other requests
 * wait, so the reads are folded into as few statements as they can be.
 * Returns what was decided, or undefined when a copy of the request decided first (nothing is written then).
 */
async function decideOnce(db: Db, input: DecideInput): Promise<RequestView | undefined> {
  return db.transaction().execute(async (trx) => {
    const customerId = await matchOrCreateCustomer(trx, { companyId: input.companyId, aggregator: input.aggregator, member: input.member });
    // The aggregator's session id leads to our session only through what we published to this very connection. The
    // session row's lock serializes every reservation of this session (see the comment at the top of this file); the
    // connection's status is read in the same statement: a connection paused a moment ago takes no new booking.
    const session = await trx
      .selectFrom('session_publications')
      .innerJoin('connections', 'connections.id', 'session_publications.connection_id')
      .innerJoin('sessions', 'sessions.id', 'session_publications.session_id')
      .innerJoin('activities', 'activities.id', 'sessions.activity_id')
      .select([
        'connections.status as connection_status',
        ...SESSION_PLACES_COLUMNS,
        'activities.allow_aggregator_bookings',
        'activities.booking_opens_minutes_before',
        'activities.booking_closes_minutes_before',
        'activities.requires_manual_approval',
        'activities.release_aggregator_spots_minutes_before',
        'activities.offer_direct_spots_to_aggregators_minutes_before',
        sql<Date>`now()`.as('db_now'),
        eventEndpointsExist('sessions.company_id'),
      ])
      .where('session_publications.connection_id', '=', input.connectionId)
      .where('session_publications.external_id', '=', input.sessionExternalId)
      .where('sessions.venue_id', '=', input.venueId)
      .forUpdate('sessions')
      .executeTakeFirst();

    let decision: BookingDecision;
    if (session === undefined) {
      const connection = await trx.selectFrom('connections').select('status').where('id', '=', input.connectionId).executeTakeFirstOrThrow();
      decision = decideBooking({ connectionStatus: connection.status, answersSynchronously: input.synchronous, session: undefined, alreadyBooked: false, freeForAggregator: 0, now: input.now });
    } else {
      // What the session holds, this aggregator's quota, and whether a copy of this request that held the lock before
      // us has decided it already (its decision stands): one statement.
      const held = await trx
        .selectFrom('bookings')
        .select((eb) => [
          sql<number>`count(*)`.as('total'),
          sql<number>`count(*) filter (where source <> 'direct')`.as('aggregators'),
          sql<number>`count(*) filter (where source = ${input.aggregator})`.as('mine'),
          sql<number>`count(*) filter (where customer_id = ${customerId})`.as('customer'),
          eb
            .selectFrom('activity_aggregator_quotas')
            .select('quota')
            .where('activity_id', '=', session.activity_id)
            .where('aggregator', '=', input.aggregator)
            .as('quota'),
          eb
            .exists(
              eb
                .selectFrom('booking_requests')
                .select(eb.lit(1).as('one'))
                .where('connection_id', '=', input.connectionId)
                .where('booking_number', '=', input.bookingNumber),
            )
            .as('decided'),
        ])
        .where('session_id', '=', session.id)
        .where('status', 'in', [...SPOT_HOLDING_STATUSES])
        .executeTakeFirstOrThrow();
      if (held.decided) return undefined;
      // The activity's spot options by the ledger's clock (an offer of unsold direct spots lifts limit and quotas).
      const window = spotWindow(
        session.starts_at,
        {
          releaseAggregatorSpotsMinutesBefore: session.release_aggregator_spots_minutes_before,
          offerDirectSpotsToAggregatorsMinutesBefore: session.offer_direct_spots_to_aggregators_minutes_before,
        },
        session.db_now,
      );
      const offer = aggregatorOffer({
        limitsLifted: window.limitsLifted,
        maxParticipants: session.max_participants,
        capacityOverride: session.capacity_override,
        aggregatorLimit: session.aggregator_limit,
        aggregatorLimitOverride: session.aggregator_limit_override,
        quota: held.quota ?? undefined,
        booked: { total: Number(held.total), aggregators: Number(held.aggregators), thisAggregator: Number(held.mine) },
      });
      decision = decideBooking({
        connectionStatus: session.connection_status,
        answersSynchronously: input.synchronous,
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

    const view: RequestView = {
      decision: decision.outcome === 'reject' ? 'reject' : decision.outcome === 'hold_for_approval' ? 'awaiting_approval' : 'reserve',
      reason: decision.outcome === 'reject' ? decision.reason : null,
      message: decision.outcome === 'reject' ? decision.message : null,
      answer: 'pending',
      deadlineAt: input.deadlineAt,
      sessionId: session?.id ?? null,
      activityId: session?.activity_id ?? null,
      // The booking's id is chosen here so that the booking, its history and the request go in as one statement.
      bookingId: session === undefined ? null : randomUUID(),
      offered: session?.allow_aggregator_bookings === true,
    };
    const requestRow = {
      aggregator: input.aggregator,
      booking_number: input.bookingNumber,
      company_id: input.companyId,
      venue_id: input.venueId,
      connection_id: input.connectionId,
      session_external_id: input.sessionExternalId,
      activity_external_id: input.activityExternalId ?? null,
      member_external_id: input.member.externalId,
      session_id: view.sessionId,
      customer_id: customerId,
      booking_id: view.bookingId,
      decision: view.decision,
      reason: view.reason,
      message: view.message,
      deadline_at: input.deadlineAt,
      requested_at: input.requestedAt,
    };
    if (session === undefined || view.bookingId === null) {
      await trx.insertInto('booking_requests').values(requestRow).execute();
      return view;
    }
    const bookingId = view.bookingId;
    const rejected = decision.outcome === 'reject';
    const actor = `aggregator:${input.aggregator}`;
    // A booking's foreign keys are checked at the end of the statement, so the history and the request may name the
    // booking inserted beside them.
    await trx
      .with('booking', (qc) =>
        qc
          .insertInto('bookings')
          .values({
            id: bookingId,
            company_id: input.companyId,
            session_id: session.id,
            customer_id: customerId,
            source: input.aggregator,
            aggregator_booking_number: input.bookingNumber,
            connection_id: input.connectionId,
            status: rejected ? 'rejected' : 'requested',
            status_reason: view.reason,
            product: input.aggregator,
            paid: true,
          })
          .returning('id'),
      )
      .with('history', (qc) =>
        qc
          .insertInto('booking_status_history')
          .values([
            { booking_id: bookingId, from_status: null, to_status: 'requested', reason: null, actor },
            ...(rejected ? [{ booking_id: bookingId, from_status: 'requested' as const, to_status: 'rejected' as const, reason: view.reason, actor: 'service' }] : []),
          ])
          .returning('id'),
      )
      .insertInto('booking_requests')
      .values(requestRow)
      .execute();
    // Events to the studio backend: booking.requested, then .rejected or .awaiting_approval (in this transaction).
    if (session.has_event_endpoints) await recordDecisionEvents(trx, bookingId, decision.outcome);
    return view;
  });
}

/** A backend service's approval of a held request: awaiting_approval → reserve, or → reject (the spot is freed later). */
export async function recordApproval(
  db: Db,
  input: ConnectionBookingRef & { approve: boolean; reason?: RejectReason | undefined; message?: string | undefined },
): Promise<RequestView & { decidedNow: { requestedAt: Date } | undefined }> {
  const updated = await db
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
    .returning('requested_at')
    .executeTakeFirst();
  const view = await readRequest(db, input);
  if (!view) throw new Error(`booking request ${input.connectionId}:${input.bookingNumber} not found`);
  // Set only by the call that took the decision (a second run finds it taken): the metrics count each decision once.
  return { ...view, decidedNow: updated === undefined ? undefined : { requestedAt: updated.requested_at } };
}

/** What finishing a request changed, for the metrics: whether this call recorded the answer, and the request's times. */
export interface FinishOutcome {
  /** This call recorded that the aggregator has the answer (a second run finds it recorded). */
  newlyAnswered: boolean;
  /** The request was still held for approval: this call took its decision (the approval deadline, a cancellation). */
  decidedNow: boolean;
  requestedAt: Date;
  /** When it was decided: its row's last change before this one (written at the decision, or at the approval). */
  decidedAt: Date;
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
): Promise<FinishOutcome> {
  return db.transaction().execute(async (trx) => {
    // One statement locks the session (when the request holds a booking) and then the request: the session first, as
    // every writer of its bookings takes it (no lock-order deadlock with a cancellation or a direct booking). It also
    // reads whether the company has event endpoints, so a company without any pays no read for the events.
    const request = await trx
      .selectFrom('booking_requests as r')
      .leftJoinLateral(
        (eb) =>
          eb
            .selectFrom('sessions')
            .select(['sessions.status', 'sessions.cancellation_reason'])
            .whereRef('sessions.id', '=', 'r.session_id')
            .where('r.booking_id', 'is not', null)
            .forUpdate()
            .as('s'),
        (join) => join.onTrue(),
      )
      .selectAll('r')
      .select(['s.status as session_status', 's.cancellation_reason', eventEndpointsExist('r.company_id')])
      .where('r.connection_id', '=', input.connectionId)
      .where('r.booking_number', '=', input.bookingNumber)
      .forUpdate('r')
      .executeTakeFirst();
    if (!request) throw new Error(`booking request ${input.aggregator}:${input.bookingNumber} not found`);
    const reason = input.decision === 'reject' ? (input.reason ?? (request.reason as RejectReason | null) ?? 'TECHNICAL_ERROR') : null;
    const requestUpdate = {
      decision: input.decision,
      reason,
      message: input.decision === 'reject' ? (input.message ?? request.message) : null,
      answer: input.answer,
      answered_at: input.answer === 'sent' || input.answer === 'in_webhook_response' ? new Date() : request.answered_at,
      last_error: input.lastError ?? null,
      updated_at: new Date(),
    };
    const eventIds = input.eventIds ?? [];
    // The request's final state and its inbox events settled, after the booking's move when it holds one: one statement.
    const settle = (qc: QueryCreator<Database>) =>
      qc
        .with('inbox', (cte) =>
          cte
            .updateTable('webhook_inbox')
            .set({ outcome: 'applied', processed_at: new Date() })
            .where('connection_id', '=', input.connectionId)
            .where(sql<boolean>`event_id = any(${eventIds}::text[])`)
            .returning('event_id'),
        )
        .updateTable('booking_requests')
        .set(requestUpdate)
        .where('connection_id', '=', input.connectionId)
        .where('booking_number', '=', input.bookingNumber);
    const bookingId = request.booking_id;
    if (bookingId === null) {
      await settle(trx).execute();
    } else {
      const to: BookingStatus = input.decision === 'reserve' ? 'reserved' : 'rejected';
      const move = bookingMove(trx, { bookingId, from: 'requested', to, reason, actor: input.actor });
      // The move's CTEs (`moved`, `history`) come first; `settle` needs none of their names, so it takes the creator as
      // one without them, and the returning clause reads `moved` as raw SQL.
      const settled = await settle(move as unknown as QueryCreator<Database>)
        .returning(sql<boolean>`exists (select 1 from moved)`.as('moved'))
        .executeTakeFirst();
      // Only the call that moved the booking announces it (a second run finds it moved already).
      if (settled?.moved === true && request.has_event_endpoints) await recordBookingStatusEvents(trx, [bookingId], to);
      // Confirmed at the aggregator just as the studio cancelled the session: the cancellation applies to it too
      // (the session's fan-out tells the aggregator), so no booking stays reserved in a cancelled session.
      if (input.decision === 'reserve' && request.session_status === 'cancelled') {
        await moveBooking(trx, { bookingId, from: 'reserved', to: 'cancelled_by_gym', reason: request.cancellation_reason ?? 'the session was cancelled', actor: 'service' });
      }
    }
    const told = input.answer === 'sent' || input.answer === 'in_webhook_response';
    return {
      newlyAnswered: told && request.answered_at === null,
      decidedNow: request.decision === 'awaiting_approval',
      requestedAt: request.requested_at,
      decidedAt: request.updated_at,
    };
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
      if (await moveBooking(trx, { bookingId: booking.id, from: 'reserved', to: 'attended', reason: null, actor })) return { outcome: 'applied', detail: 'attended', ...where };
      // A check-in the aggregator reports after our no-show pass is its record of the visit: it wins (domain/model.ts).
      if (booking.status === 'no_show' && (await moveBooking(trx, { bookingId: booking.id, from: 'no_show', to: 'attended', reason: 'checked in after the no-show pass', actor }))) {
        return { outcome: 'applied', detail: 'attended', ...where };
      }
      return { outcome: 'ignored', detail: `check-in of a booking that is ${booking.status}`, ...where };
    }
    const to: BookingStatus = input.late ? 'late_cancelled' : 'cancelled_by_customer';
    if (await moveBooking(trx, { bookingId: booking.id, from: 'reserved', to, reason: input.late ? 'late cancellation' : null, actor })) {
      return { outcome: 'applied', detail: to, ...where };
    }
    if (booking.status === 'requested') {
      // Cancelled at the aggregator while we still held it (awaiting approval): nothing to answer any more.
      await moveBooking(trx, { bookingId: booking.id, from: 'requested', to: 'rejected', reason: 'cancelled by the member before the answer', actor });
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
