import { sql, type Kysely } from 'kysely';

/**
 * Aggregator booking requests: one row per (aggregator, booking number) with the decision taken and what the
 * aggregator was told, so a redelivered request gets the same answer and never a second booking. A request for a
 * session we do not know has no booking row; it still has its request row. The inbox learns which booking number each
 * event is about (a cancellation that arrives before its request waits there) and whether it reached a workflow.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    CREATE TABLE booking_requests (
      aggregator text NOT NULL,
      booking_number text NOT NULL,
      company_id uuid NOT NULL,
      venue_id uuid NOT NULL,
      connection_id uuid NOT NULL REFERENCES connections(id) ON DELETE CASCADE,
      session_external_id text NOT NULL,
      activity_external_id text,
      member_external_id text NOT NULL,
      session_id uuid REFERENCES sessions(id) ON DELETE SET NULL,
      customer_id uuid REFERENCES customers(id) ON DELETE SET NULL,
      booking_id uuid REFERENCES bookings(id) ON DELETE SET NULL,
      decision text NOT NULL CHECK (decision IN ('awaiting_approval', 'reserve', 'reject')),
      reason text,
      message text,
      deadline_at timestamptz NOT NULL,
      answer text NOT NULL DEFAULT 'pending'
        CHECK (answer IN ('pending', 'sent', 'in_webhook_response', 'refused', 'unreachable', 'not_needed')),
      answered_at timestamptz,
      last_error text,
      requested_at timestamptz NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now(),
      updated_at timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (aggregator, booking_number)
    );
    CREATE INDEX booking_requests_awaiting_idx ON booking_requests(company_id, created_at)
      WHERE decision = 'awaiting_approval';
    CREATE INDEX booking_requests_booking_idx ON booking_requests(booking_id);

    ALTER TABLE webhook_inbox
      ADD COLUMN booking_number text,
      ADD COLUMN dispatched_at timestamptz,
      ADD COLUMN outcome text;
    CREATE INDEX webhook_inbox_booking_idx ON webhook_inbox(aggregator, booking_number);
    CREATE INDEX webhook_inbox_undispatched_idx ON webhook_inbox(received_at) WHERE dispatched_at IS NULL;
  `.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`
    DROP TABLE booking_requests;
    ALTER TABLE webhook_inbox DROP COLUMN booking_number, DROP COLUMN dispatched_at, DROP COLUMN outcome;
  `.execute(db);
}
