import { sql, type Kysely } from 'kysely';

/**
 * A studio's cancellation of a session: one row per cancelled session (its id is the cancellation's id, so a second
 * cancel finds the first), and one branch per connection the session was pushed to, with its progress. Bookings
 * remember when the aggregator was told of their cancellation by the gym, so a retried branch never tells it twice.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    ALTER TABLE sessions ADD COLUMN cancellation_reason text;
    ALTER TABLE bookings ADD COLUMN aggregator_cancelled_at timestamptz;

    CREATE TABLE session_cancellations (
      session_id uuid PRIMARY KEY REFERENCES sessions(id) ON DELETE CASCADE,
      company_id uuid NOT NULL,
      venue_id uuid NOT NULL,
      activity_id uuid NOT NULL,
      reason text NOT NULL,
      requested_by text NOT NULL,
      bookings_cancelled integer NOT NULL DEFAULT 0,
      requested_at timestamptz NOT NULL DEFAULT now(),
      completed_at timestamptz
    );
    CREATE INDEX session_cancellations_activity_idx ON session_cancellations(company_id, activity_id, requested_at);

    CREATE TABLE session_cancellation_branches (
      session_id uuid NOT NULL REFERENCES session_cancellations(session_id) ON DELETE CASCADE,
      connection_id uuid NOT NULL REFERENCES connections(id) ON DELETE CASCADE,
      aggregator text NOT NULL,
      status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'retrying', 'done', 'failed')),
      attempts integer NOT NULL DEFAULT 0,
      last_error text,
      last_error_at timestamptz,
      done_at timestamptz,
      PRIMARY KEY (session_id, connection_id)
    );
  `.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`
    DROP TABLE session_cancellation_branches;
    DROP TABLE session_cancellations;
    ALTER TABLE bookings DROP COLUMN aggregator_cancelled_at;
    ALTER TABLE sessions DROP COLUMN cancellation_reason;
  `.execute(db);
}
