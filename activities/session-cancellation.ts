import { ApplicationFailure } from '@temporalio/common';
import { AggregatorHttpError } from '../aggregators/http.js';
import { toTemporalFailure } from '../aggregators/temporal-failure.js';
import {
  bookingsToCancelAt,
  completeCancellation,
  inFlightRequests,
  markAggregatorCancelled,
  markSessionRemoved,
  openBranches,
  recordBranch,
} from '../db/session-cancellations.js';
import { readConnection } from '../db/sync-state.js';
import type { Aggregator } from '../domain/model.js';
import type { SessionCancellationActivities } from '../workflows/session-cancellation/contract.js';
import type { SyncDeps } from './activity-lifecycle-sync.js';
import { connectionContext } from './connection-context.js';

/** A 4xx about one booking (other than 408/429): the aggregator no longer holds it as booked; nothing to repeat. */
function bookingGoneThere(error: unknown): boolean {
  return error instanceof AggregatorHttpError && error.status !== undefined && error.status >= 400 && error.status < 500 && error.status !== 408 && error.status !== 429;
}

/** The cancellation fan-out's activities: its ledger steps and one attempt at one aggregator. */
export function createSessionCancellationActivities(deps: SyncDeps): SessionCancellationActivities {
  const { db } = deps;
  return {
    async openBranches({ sessionId }) {
      const cancellation = await db.selectFrom('session_cancellations').select('session_id').where('session_id', '=', sessionId).executeTakeFirst();
      if (!cancellation) return undefined;
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
              if (!bookingGoneThere(error)) throw error;
            }
            await markAggregatorCancelled(db, [booking.id]);
            told += 1;
          }
        }
        try {
          await adapter.cancelSession(ctx, ref, input.reason);
        } catch (error) {
          // Gone there already (a retry of a call whose answer was lost): done.
          if (!(error instanceof AggregatorHttpError && error.status === 404)) throw error;
        }
        if (adapter.capabilities.cancelsWholeSessions) {
          await markAggregatorCancelled(db, bookings.map((b) => b.id));
          told = bookings.length;
        }
        await markSessionRemoved(db, input.sessionId, input.connectionId);
        await recordBranch(db, input.sessionId, input.connectionId, { status: 'done', attempts: input.attempt });
        return { bookingsTold: told };
      } catch (error) {
        throw toTemporalFailure(error);
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
