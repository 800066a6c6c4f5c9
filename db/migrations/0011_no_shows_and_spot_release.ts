import { sql, type Kysely } from 'kysely';

/**
 * No-shows and the release of unsold spots, each a durable timer per session (workflows/session-timers/):
 * - `no_show` becomes a booking status, and a spot-holding one (the live-booking index covers it, as attended);
 * - the activity's `no_show_after_minutes` (after the session's end; default 120) and its two spot options, each
 *   minutes before the start or null (off);
 * - `session_timers_outbox`: a session whose timers must be (re-)armed, written in the transaction that creates or
 *   changes it (or its activity's options), deleted once its timer workflow has been signalled (a relay retries);
 *   filled here for the sessions already scheduled, whose no-show pass is still ahead.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    ALTER TABLE bookings DROP CONSTRAINT bookings_status_check;
    ALTER TABLE bookings ADD CONSTRAINT bookings_status_check CHECK (status IN
      ('requested', 'reserved', 'rejected', 'cancelled_by_customer', 'late_cancelled', 'cancelled_by_gym', 'attended', 'no_show'));
    DROP INDEX bookings_live_customer_session_uq;
    CREATE UNIQUE INDEX bookings_live_customer_session_uq ON bookings(session_id, customer_id)
      WHERE status IN ('requested', 'reserved', 'attended', 'no_show');

    ALTER TABLE activities
      ADD COLUMN no_show_after_minutes integer NOT NULL DEFAULT 120 CHECK (no_show_after_minutes BETWEEN 0 AND 10080),
      ADD COLUMN release_aggregator_spots_minutes_before integer
        CHECK (release_aggregator_spots_minutes_before BETWEEN 0 AND 525600),
      ADD COLUMN offer_direct_spots_to_aggregators_minutes_before integer
        CHECK (offer_direct_spots_to_aggregators_minutes_before BETWEEN 0 AND 525600);

    CREATE TABLE session_timers_outbox (
      id bigserial PRIMARY KEY,
      company_id uuid NOT NULL REFERENCES companies(id) ON DELETE CASCADE,
      session_id uuid NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
      created_at timestamptz NOT NULL DEFAULT now(),
      due_at timestamptz NOT NULL DEFAULT now(),
      attempts integer NOT NULL DEFAULT 0,
      last_error text
    );
    CREATE INDEX session_timers_outbox_due_idx ON session_timers_outbox (due_at);
    CREATE INDEX session_timers_outbox_session_idx ON session_timers_outbox (session_id);

    -- Sessions of offered activities scheduled before this version have no timer yet: the relay starts theirs.
    INSERT INTO session_timers_outbox (company_id, session_id)
    SELECT s.company_id, s.id
    FROM sessions s JOIN activities a ON a.id = s.activity_id
    WHERE s.status = 'scheduled' AND a.allow_aggregator_bookings
      AND s.starts_at + (s.duration_minutes + a.no_show_after_minutes) * interval '1 minute' > now();
  `.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`
    DROP TABLE session_timers_outbox;
    ALTER TABLE activities
      DROP COLUMN no_show_after_minutes,
      DROP COLUMN release_aggregator_spots_minutes_before,
      DROP COLUMN offer_direct_spots_to_aggregators_minutes_before;
    UPDATE bookings SET status = 'reserved' WHERE status = 'no_show';
    DROP INDEX bookings_live_customer_session_uq;
    CREATE UNIQUE INDEX bookings_live_customer_session_uq ON bookings(session_id, customer_id)
      WHERE status IN ('requested', 'reserved', 'attended');
    ALTER TABLE bookings DROP CONSTRAINT bookings_status_check;
    ALTER TABLE bookings ADD CONSTRAINT bookings_status_check CHECK (status IN
      ('requested', 'reserved', 'rejected', 'cancelled_by_customer', 'late_cancelled', 'cancelled_by_gym', 'attended'));
  `.execute(db);
}
