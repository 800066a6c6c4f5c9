import type { AggregatorAdapter } from '../aggregators/types.js';
import { markInboxDispatched, markInboxOutcomes, undispatchedEvents } from '../db/booking-requests.js';
import type { Db } from '../db/index.js';
import type { Aggregator } from '../domain/model.js';
import type { Logger } from '../lib/logger.js';
import type { BookingEvent } from '../workflows/booking-request/contract.js';
import type { BookingRequestControl } from './clients/booking-request.js';
import { requestInput } from './routes/webhooks.js';

export interface InboxDispatcherOptions {
  db: Db;
  adapters: Readonly<Record<Aggregator, AggregatorAdapter>>;
  bookings: BookingRequestControl;
  logger: Logger;
  /** How often it looks (default 5 s). */
  intervalMs?: number;
  /** Events younger than this are left to the webhook request still handing them over (default 5 s). */
  graceMs?: number;
}

/**
 * The other half of "2xx once the event is in the inbox": a webhook acknowledged while Temporal could not be reached
 * is handed to its workflow here, as soon as Temporal answers again. Every API process may run one; handing an event
 * over twice is harmless (signal-with-start, and the workflow keys events on their id).
 */
export function startInboxDispatcher(options: InboxDispatcherOptions): { tick: () => Promise<number>; stop: () => Promise<void> } {
  const { db, adapters, bookings, logger, intervalMs = 5_000, graceMs = 5_000 } = options;
  let running: Promise<number> | undefined;

  async function tick(): Promise<number> {
    const rows = await undispatchedEvents(db, new Date(Date.now() - graceMs), 100);
    let handed = 0;
    for (const row of rows) {
      const adapter = adapters[row.aggregator as Aggregator];
      const connection = await db
        .selectFrom('connections')
        .select(['id', 'company_id', 'venue_id'])
        .where('id', '=', row.connection_id as string)
        .executeTakeFirst();
      if (!adapter || !connection) {
        await markInboxOutcomes(db, row.connection_id as string, [{ eventId: row.event_id, outcome: 'dropped: its connection is gone' }]);
        await markInboxDispatched(db, { connectionId: row.connection_id as string, eventId: row.event_id });
        continue;
      }
      const event = row.payload as BookingEvent;
      if (adapter.capabilities.answersBookingsSynchronously && event.type === 'booking_requested') {
        // Its answer was due in the webhook response, which never came: the aggregator has rejected it already.
        await markInboxOutcomes(db, connection.id, [{ eventId: row.event_id, outcome: 'expired at the aggregator: not answered in time' }]);
        await markInboxDispatched(db, { connectionId: connection.id, eventId: row.event_id });
        continue;
      }
      await bookings.deliver(requestInput(adapter, connection, row.booking_number as string), event);
      await markInboxDispatched(db, { connectionId: connection.id, eventId: row.event_id });
      handed += 1;
    }
    if (handed > 0) logger.info({ handed }, 'inbox events handed to their booking workflows');
    return handed;
  }

  const timer = setInterval(() => {
    if (running) return;
    running = tick()
      .catch((error: unknown) => {
        logger.warn({ err: error }, 'inbox dispatch failed; retrying at the next interval');
        return 0;
      })
      .finally(() => {
        running = undefined;
      });
  }, intervalMs);
  timer.unref();
  return {
    tick,
    stop: async () => {
      clearInterval(timer);
      await running;
    },
  };
}
