import { sql, type Kysely } from 'kysely';

/**
 * The metrics' state gauges read what is still open at every scrape (db/ledger-metrics.ts): booking requests the
 * aggregator has no answer for, and cancellation branches not yet done. Both tables keep every row ever written, so
 * without these partial indexes a scrape would read their whole history; with them it reads only the open rows.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    CREATE INDEX IF NOT EXISTS booking_requests_unanswered_idx ON booking_requests(aggregator, deadline_at)
      WHERE answer = 'pending';
    CREATE INDEX IF NOT EXISTS session_cancellation_branches_open_idx ON session_cancellation_branches(aggregator, status)
      WHERE status IN ('pending', 'retrying');
  `.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`
    DROP INDEX IF EXISTS session_cancellation_branches_open_idx;
    DROP INDEX IF EXISTS booking_requests_unanswered_idx;
  `.execute(db);
}
