import { sql, type Kysely } from 'kysely';

/**
 * When a sweep last made sure an open cancellation has a workflow carrying it. Sweeps claim the open cancellations
 * checked longest ago, so a long outage with many open cancellations still has every one of them checked in turn, and
 * several API processes share the work instead of repeating it.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    ALTER TABLE session_cancellations ADD COLUMN swept_at timestamptz;
    CREATE INDEX session_cancellations_open_idx ON session_cancellations(swept_at NULLS FIRST) WHERE completed_at IS NULL;
  `.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`
    DROP INDEX session_cancellations_open_idx;
    ALTER TABLE session_cancellations DROP COLUMN swept_at;
  `.execute(db);
}
