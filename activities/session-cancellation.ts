import { ApplicationFailure } from '@temporalio/common';
import { AggregatorHttpError } from '../aggregators/http.js';
import { partnerErrorCode } from '../aggregators/partner/index.js';
import { toTemporalFailure } from '../aggregators/temporal-failure.js';
import {
  bookingsToCancelAt,
  committedCancellation,
  completeCancellation,
  inFlightRequests,
  markAggregatorCancelled,
  markSessionRemoved,
  openBranches,
  recordBranch,
} from '../db/session-cancellations.js';
import { readConnection } from '../db/connections.js';
import { cancelCallVerdict, type CancelCallVerdict } from '../domain/cancellation-failure.js';
import type { Aggregator } from '../domain/model.js';
import type { CancelAttemptFailureDetails, SessionCancellationActivities } from '../workflows/session-cancellation/contract.js';
import type { ActivitiesDeps } from './deps.js';
import { connectionContext } from './connection-context.js';

function verdictOf(error: unknown): CancelCallVerdict | undefined {
  if (!(error instanceof AggregatorHttpError)) return undefined;
  return cancelCallVerdict({ status: error.status, code: partnerErrorCode(error), retryable: error.retryable });
}

/**
 * A failed attempt as the branch workflow reads it: retryable or not by what it means for a cancellation (an auth
 * failure is retried: the studio can fix the credentials), with the aggregator's Retry-After in its details, since the
 * branch runs each attempt alone and waits between them itself.
 */
function attemptFailure(error: unknown): unknown {
  if (!(error instanceof AggregatorHttpError)) return error;
  const converted = toTemporalFailure(error);
  const details: CancelAttemptFailureDetails = {
    aggregator: error.aggregator,
    operation: error.operation,
    status: error.status ?? null,
    retryAfterMs: error.retryAfterMs ?? null,
  };
  const retry = verdictOf(error) === 'retry';
  const type = retry && !error.retryable ? 'AggregatorAuthFailed' : converted instanceof ApplicationFailure ? converted.type : undefined;
  return ApplicationFailure.create({
    type: type ?? 'AggregatorFailed',
    message: error.message,
    nonRetryable: !retry,
    details: [details],
    ...(error.retryAfterMs !== undefined ? { nextRetryDelay: error.retryAfterMs } : {}),
  });
}

/** The cancellation fan-out's activities: its ledger steps and one attempt at one aggregator. */
export function createSessionCancellationActivities(deps: ActivitiesDeps): SessionCancellationActivities {
  const { db } = deps;
  return {
    async openBranches({ sessionId }) {
      if (!(await committedCancellation(db, sessionId))) return undefined;
      const rows = await openBranches(db, sessionId);
      return rows.map((r) => ({ connectionId: r.connection_id, aggregator: r.aggregator as Aggregator }));
    },

    async inFlightRequests({ sessionId }) {
      const rows = await inFlightRequests(db, sessionId);
      return rows.map((r) => ({ aggregator: r.aggregator as Aggregator, connectionId: r.connection_id, bookingNumber: r.booking_number }));
    },

    async cancelAtAggregator(input) {
      const connection = await readConnection(db, input.connectionId);
      if (!connection) {
        throw ApplicationFailure.nonRetryable(`connection ${input.connectionId} no longer exists`, 'ConnectionGone');
      }
      const [session, activity] = await Promise.all([
        db
          .selectFrom('session_publications')
          .select('external_id')
          .where('session_id', '=', input.sessionId)
          .where('connection_id', '=', input.connectionId)
          .executeTakeFirst(),
        db
          .selectFrom('sessions')
          .innerJoin('activity_publications', 'activity_publications.activity_id', 'sessions.activity_id')
          .select('activity_publications.external_id')
          .where('sessions.id', '=', input.sessionId)
          .where('activity_publications.connection_id', '=', input.connectionId)
          .executeTakeFirst(),
      ]);
      const sessionExternalId = session?.external_id ?? null;
      if (sessionExternalId === null) {
        await recordBranch(db, input.sessionId, input.connectionId, { status: 'done', attempts: input.attempt });
        return { bookingsTold: 0 };
      }
      const adapter = deps.adapters[input.aggregator];
      const ctx = connectionContext(deps, connection);
      const ref = { activityExternalId: activity?.external_id ?? '', sessionExternalId };
      let told = 0;
      try {
        const bookings = await bookingsToCancelAt(db, input.sessionId, input.aggregator, input.reason);
        if (!adapter.capabilities.cancelsWholeSessions) {
          // Booking by booking first (Wellhub: CANCELLED_BY_GYM), each remembered as soon as the aggregator has it.
          for (const booking of bookings) {
            try {
              await adapter.cancelBookingByGym(
                ctx,
                { bookingNumber: booking.aggregator_booking_number ?? '', activityExternalId: ref.activityExternalId, sessionExternalId },
                input.reason,
              );
            } catch (error) {
              if (verdictOf(error) !== 'gone') throw error;
            }
            await markAggregatorCancelled(db, [booking.id]);
            told += 1;
          }
        }
        try {
          await adapter.cancelSession(ctx, ref, input.reason);
        } catch (error) {
          // Gone there already (a retry of a call whose answer was lost): done.
          if (verdictOf(error) !== 'gone') throw error;
        }
        if (adapter.capabilities.cancelsWholeSessions) {
          await markAggregatorCancelled(db, bookings.map((b) => b.id));
          told = bookings.length;
        }
        await markSessionRemoved(db, input.sessionId, input.connectionId);
        await recordBranch(db, input.sessionId, input.connectionId, { status: 'done', attempts: input.attempt });
        return { bookingsTold: told };
      } catch (error) {
        throw attemptFailure(error);
      }
    },

    async recordBranchFailure({ sessionId, connectionId, attempts, error, final }) {
      await recordBranch(db, sessionId, connectionId, { status: final ? 'failed' : 'retrying', attempts, error });
    },

    async completeCancellation({ sessionId }) {
      await completeCancellation(db, sessionId);
    },
  };
}
