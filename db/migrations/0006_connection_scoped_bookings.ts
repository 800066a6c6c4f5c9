import { sql, type Kysely } from 'kysely';

/**
 * A booking number belongs to the connection that received it. An aggregator's booking number is only unique within
 * its own system, and a company can sign webhooks for its own connection with a secret it chose itself: keyed by
 * (aggregator, booking number) alone, one company's signed event could name another company's booking and cancel it
 * or mark it attended. Payment platforms key every inbound object by the account that received it for the same
 * reason; so do we: requests, aggregator bookings and inbox events are keyed by (connection, number / event id).
 *
 * The inbox records why an event changed nothing (outcome_detail), and, durably, whether a synchronous answer (Onefit reads the decision from the webhook response)
 * went out in time, so the booking workflow reads it from the ledger instead of trusting a signal that may be lost.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    ALTER TABLE booking_requests DROP CONSTRAINT booking_requests_pkey;
    ALTER TABLE booking_requests ADD PRIMARY KEY (connection_id, booking_number);

    ALTER TABLE bookings ADD COLUMN connection_id uuid REFERENCES connections(id) ON DELETE SET NULL;
    UPDATE bookings b SET connection_id = r.connection_id FROM booking_requests r WHERE r.booking_id = b.id;
    DROP INDEX bookings_aggregator_number_uq;
    CREATE UNIQUE INDEX bookings_connection_number_uq ON bookings(connection_id, aggregator_booking_number)
      WHERE aggregator_booking_number IS NOT NULL;

    ALTER TABLE webhook_inbox DROP CONSTRAINT webhook_inbox_aggregator_event_id_key;
    CREATE UNIQUE INDEX webhook_inbox_connection_event_uq ON webhook_inbox(connection_id, event_id);
    DROP INDEX webhook_inbox_booking_idx;
    CREATE INDEX webhook_inbox_booking_idx ON webhook_inbox(connection_id, booking_number);
    ALTER TABLE webhook_inbox ADD COLUMN response_delivered boolean;
    ALTER TABLE webhook_inbox ADD COLUMN outcome_detail text;
  `.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`
    ALTER TABLE webhook_inbox DROP COLUMN response_delivered, DROP COLUMN outcome_detail;
    DROP INDEX webhook_inbox_booking_idx;
    CREATE INDEX webhook_inbox_booking_idx ON webhook_inbox(aggregator, booking_number);
    DROP INDEX webhook_inbox_connection_event_uq;
    ALTER TABLE webhook_inbox ADD CONSTRAINT webhook_inbox_aggregator_event_id_key UNIQUE (aggregator, event_id);
    DROP INDEX bookings_connection_number_uq;
    CREATE UNIQUE INDEX bookings_aggregator_number_uq ON bookings(source, aggregator_booking_number)
      WHERE aggregator_booking_number IS NOT NULL;
    ALTER TABLE bookings DROP COLUMN connection_id;
    ALTER TABLE booking_requests DROP CONSTRAINT booking_requests_pkey;
    ALTER TABLE booking_requests ADD PRIMARY KEY (aggregator, booking_number);
  `.execute(db);
}
