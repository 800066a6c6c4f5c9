import { ApplicationFailure } from '@temporalio/common';
import { toTemporalFailure } from '../aggregators/temporal-failure.js';
import {
  applyMemberEvent,
  decideAggregatorRequest,
  finishAggregatorRequest,
  recordApproval,
  type RequestView,
} from '../db/booking-requests.js';
import { markInboxOutcomes, readSynchronousResponse, waitingEvents } from '../db/webhook-inbox.js';
import { readConnection } from '../db/connections.js';
import { recordAnswer, recordDecision } from '../lib/metrics.js';
import type { BookingEvent, BookingRequestActivities, DecidedRequest } from '../workflows/booking-request/contract.js';
import type { ActivitiesDeps } from './deps.js';
import { connectionContext } from './connection-context.js';

function present(view: RequestView, known: boolean, waiting: BookingEvent[] = []): DecidedRequest {
  return {
    known,
    decision: view.decision,
    reason: view.reason,
    message: view.message,
    answer: view.answer,
    deadlineAt: view.deadlineAt.toISOString(),
    sessionId: view.sessionId,
    activityId: view.activityId,
    bookingId: view.bookingId,
    notifyLifecycle: view.offered && view.activityId !== null,
    waiting,
  };
}

/** The booking request flow's activities: ledger steps (run as local activities) and the answer to the aggregator. */
export function createBookingRequestActivities(deps: ActivitiesDeps): BookingRequestActivities {
  const now = () => deps.now?.() ?? new Date();
  return {
    async decideRequest(input) {
      const decidedAt = now();
      const view = await decideAggregatorRequest(deps.db, {
        aggregator: input.aggregator,
        bookingNumber: input.bookingNumber,
        companyId: input.companyId,
        venueId: input.venueId,
        connectionId: input.connectionId,
        sessionExternalId: input.event.sessionExternalId,
        activityExternalId: input.event.activityExternalId,
        member: input.event.member,
        requestedAt: new Date(input.event.occurredAt),
        deadlineAt: new Date(input.deadlineAt),
        synchronous: input.answersSynchronously,
        now: decidedAt,
      });
      if (!view.known && view.decision !== 'awaiting_approval') recordDecision(input.aggregator, view.decision, new Date(input.event.occurredAt), decidedAt);
      const waiting = (await waitingEvents(deps.db, input)) as BookingEvent[];
      return present(view, view.known, waiting);
    },

    async recordApproval({ aggregator, connectionId, bookingNumber, approval }) {
      const view = await recordApproval(deps.db, {
        connectionId,
        bookingNumber,
        approve: approval.approve,
        reason: approval.reason,
        message: approval.message,
      });
      if (view.decidedNow) recordDecision(aggregator, view.decision, view.decidedNow.requestedAt, now());
      return present(view, true);
    },

    async answerAggregator(input) {
      const connection = await readConnection(deps.db, input.connectionId);
      if (!connection) {
        throw ApplicationFailure.nonRetryable(`connection ${input.connectionId} no longer exists`, 'ConnectionGone');
      }
      const adapter = deps.adapters[input.aggregator];
      const ctx = connectionContext(deps, connection);
      const ref = {
        bookingNumber: input.bookingNumber,
        sessionExternalId: input.sessionExternalId,
        activityExternalId: input.activityExternalId,
      };
      try {
        if (input.answer.status === 'RESERVED') await adapter.confirmBooking(ctx, ref);
        else await adapter.rejectBooking(ctx, ref, input.answer.reason, input.answer.message);
      } catch (error) {
        throw toTemporalFailure(error);
      }
    },

    async readHeldStatus(input) {
      const adapter = deps.adapters[input.aggregator];
      if (!adapter.readBookingStatus) return undefined;
      const connection = await readConnection(deps.db, input.connectionId);
      if (!connection) return undefined;
      try {
        return await adapter.readBookingStatus(connectionContext(deps, connection), {
          bookingNumber: input.bookingNumber,
          sessionExternalId: input.sessionExternalId,
        });
      } catch (error) {
        throw toTemporalFailure(error);
      }
    },

    async finishRequest(input) {
      const outcome = await finishAggregatorRequest(deps.db, input);
      const at = now();
      if (outcome.decidedNow) recordDecision(input.aggregator, input.decision, outcome.requestedAt, at);
      // Answers given in a webhook response (Onefit) are measured as that webhook's acknowledgement.
      if (outcome.newlyAnswered && input.answer === 'sent') recordAnswer(input.aggregator, input.decision, outcome.decidedNow ? at : outcome.decidedAt, at);
    },

    async applyMemberEvent({ aggregator, connectionId, bookingNumber, event }) {
      if (event.type === 'booking_requested') throw ApplicationFailure.nonRetryable('not a member event', 'BadEvent');
      const result = await applyMemberEvent(deps.db, { aggregator, connectionId, bookingNumber, type: event.type, late: event.late === true });
      return {
        outcome: result.outcome,
        detail: result.detail,
        sessionId: result.sessionId,
        activityId: result.activityId,
        notifyLifecycle: result.offered && result.outcome === 'applied' && result.activityId !== null,
      };
    },

    async markEvents({ connectionId, outcomes }) {
      await markInboxOutcomes(deps.db, connectionId, outcomes);
    },

    async readSynchronousResponse(ref) {
      return readSynchronousResponse(deps.db, ref);
    },
  };
}
