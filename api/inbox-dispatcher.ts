import type { AggregatorAdapter } from '../aggregators/types.js';
import { readBookingRequest } from '../db/booking-requests.js';
import { connectionForHandover } from '../db/connections.js';
import {
  claimDueEvents,
  deleteExpiredInboxEvents,
  markInboxDispatched,
  markInboxOutcomes,
  recordHandoverFailure,
  type ClaimedEvent,
} from '../db/webhook-inbox.js';
import type { Db } from '../db/index.js';
import type { Aggregator } from '../domain/model.js';
import { errorFields, type Logger } from '../lib/logger.js';
import type { BookingEvent } from '../workflows/booking-request/contract.js';
import type { BookingRequestControl } from './clients/booking-request.js';
import { requestInput } from './webhook-events.js';
import { deleteInBatches, startRelayTimer } from '../lib/outbox-relay.js';

export interface InboxDispatcherOptions {
  db: Db;
  adapters: Readonly<Record<Aggregator, AggregatorAdapter>>;
  bookings: BookingRequestControl;
  logger: Logger;
  /** How often it looks (default 1 s). */
  intervalMs?: number;
  /** Events claimed per look (default 100) and handed over at once (default 16). */
  batchSize?: number;
  concurrency?: number;
  /** How long one hand-over may take before it counts as failed (default 5 s): its own bound, not a request's. */
  handoverDeadlineMs?: number;
  /** Failed hand-overs after which an event is given up as dead (default 10: about 10 minutes of backoff). */
  maxAttempts?: number;
  /** Settled inbox rows older than this are deleted by a sweep every `sweepIntervalMs` (defaults 30 days, 1 minute). */
  retentionMs?: number;
  sweepIntervalMs?: number;
}

/** The default of WEBHOOK_INBOX_RETENTION_DAYS. */
export const INBOX_RETENTION_MS = 30 * 86_400_000;

/** Backoff between hand-overs of one event: 1 s doubling up to 5 minutes. */
export function handoverBackoffMs(attempts: number): number {
  return Math.min(1_000 * 2 ** Math.min(Math.max(attempts - 1, 0), 20), 5 * 60_000);
}

/**
 * The other half of "2xx once the event is in the inbox": every verified event is handed to its booking workflow,
 * by the webhook route right after it answered, or here when that did not happen (the process died, Temporal was
 * unreachable). Each event is claimed with a lease and handed over on its own, in parallel, with its own attempts and
 * backoff; one that keeps failing goes to the dead letter (logged, listed by the API) and holds back no other. While
 * Temporal itself cannot be reached, no attempt is counted: an outage is not the events' fault. Any number of API
 * processes may run one; a second hand-over of one event is harmless anyway (signal-with-start, and the workflow keys
 * events on their id).
 */
export function startInboxDispatcher(options: InboxDispatcherOptions): { tick: () => Promise<number>; sweep: () => Promise<number>; stop: () => Promise<void> } {
  const {
    db,
    adapters,
    bookings,
    logger,
    intervalMs = 1_000,
    batchSize = 100,
    concurrency = 16,
    handoverDeadlineMs = 5_000,
    maxAttempts = 10,
    retentionMs = INBOX_RETENTION_MS,
    sweepIntervalMs = 60_000,
  } = options;

  async function handOver(row: ClaimedEvent): Promise<boolean> {
    const ref = { connectionId: row.connectionId, eventId: row.eventId };
    const adapter = adapters[row.aggregator as Aggregator] as AggregatorAdapter | undefined;
    const connection = await connectionForHandover(db, row.connectionId);
    if (!adapter || !connection) {
      await markInboxOutcomes(db, row.connectionId, [{ eventId: row.eventId, outcome: 'dropped: its connection is gone' }]);
      await markInboxDispatched(db, ref);
      return false;
    }
    const event = row.payload as BookingEvent;
    if (
      adapter.capabilities.answersBookingsSynchronously &&
      event.type === 'booking_requested' &&
      (await readBookingRequest(db, { connectionId: row.connectionId, bookingNumber: row.bookingNumber })) === undefined
    ) {
      // Never decided: its answer was due in the webhook response, which never came, and the aggregator has rejected
      // it already. (One the route decided goes to its workflow, which settles the spot it holds.)
      await markInboxOutcomes(db, row.connectionId, [{ eventId: row.eventId, outcome: 'expired at the aggregator: not answered in time' }]);
      await markInboxDispatched(db, ref);
      return false;
    }
    try {
      await bookings.deliver(requestInput(adapter, connection, row.bookingNumber), event, handoverDeadlineMs);
    } catch (error) {
      const message = errorFields(error).error;
      const dead = row.attempts >= maxAttempts;
      await recordHandoverFailure(db, row.id, { error: message, retryInMs: handoverBackoffMs(row.attempts), dead });
      const fields = { aggregator: row.aggregator, connectionId: row.connectionId, eventId: row.eventId, attempts: row.attempts, error: message };
      if (dead) logger.error(fields, 'webhook event given up after repeated failed hand-overs: dead letter (GET /v1/webhook-events/dead)');
      else logger.warn(fields, 'webhook event not handed over; retrying with backoff');
      return false;
    }
    await markInboxDispatched(db, ref);
    return true;
  }

  async function tick(): Promise<number> {
    if (!(await bookings.reachable())) return 0;
    const rows = await claimDueEvents(db, { limit: batchSize, leaseMs: Math.max(60_000, handoverDeadlineMs * 4) });
    let handed = 0;
    let next = 0;
    const lane = async () => {
      for (let i = next++; i < rows.length; i = next++) {
        const row = rows[i] as ClaimedEvent;
        // One event's failure is its own: the others go on.
        if (await handOver(row).catch((error: unknown) => {
          logger.warn({ eventId: row.eventId, ...errorFields(error) }, 'inbox hand-over step failed; the claim lapses and it is retried');
          return false;
        })) {
          handed += 1;
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(concurrency, rows.length) }, lane));
    if (handed > 0) logger.info({ handed, claimed: rows.length }, 'inbox events handed to their booking workflows');
    return handed;
  }

  /** Deletes the settled rows past the retention; returns how many. */
  async function sweep(): Promise<number> {
    const deleted = await deleteInBatches((limit) => deleteExpiredInboxEvents(db, retentionMs, limit));
    if (deleted > 0) logger.info({ events: deleted }, 'webhook inbox rows past their retention deleted');
    return deleted;
  }

  const periodic = startRelayTimer({ name: 'inbox dispatch', logger, intervalMs, tick, sweep: { run: sweep, everyMs: sweepIntervalMs, first: 'after-an-interval' } });
  return {
    tick,
    sweep,
    stop: () => periodic.stop(),
  };
}
