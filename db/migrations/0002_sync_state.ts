import { sql, type Kysely } from 'kysely';

/**
 * What a sync pass needs to send only what changed and to stop re-sending what an aggregator refused: the capacity
 * last pushed beside the booked count, and per publication the last error and the content the aggregator refused
 * for good (a 4xx), which is not sent again until it changes.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    ALTER TABLE session_publications
      ADD COLUMN pushed_total_capacity integer,
      ADD COLUMN refused_fingerprint text,
      ADD COLUMN last_error text,
      ADD COLUMN last_error_at timestamptz;
    ALTER TABLE activity_publications
      ADD COLUMN refused_fingerprint text,
      ADD COLUMN last_error text,
      ADD COLUMN last_error_at timestamptz,
      ADD COLUMN last_synced_at timestamptz;
  `.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`
    ALTER TABLE session_publications
      DROP COLUMN pushed_total_capacity, DROP COLUMN refused_fingerprint, DROP COLUMN last_error, DROP COLUMN last_error_at;
    ALTER TABLE activity_publications
      DROP COLUMN refused_fingerprint, DROP COLUMN last_error, DROP COLUMN last_error_at, DROP COLUMN last_synced_at;
  `.execute(db);
}
