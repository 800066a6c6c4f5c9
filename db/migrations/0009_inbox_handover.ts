import { sql, type Kysely } from 'kysely';

/**
 * The inbox hands each event over on its own: a claim with a lease (so any number of API processes may run the
 * dispatcher without handing one event over twice at once), its own attempt count and next attempt time (backoff), and
 * a dead letter for an event that keeps failing, so one bad row never holds back another.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    ALTER TABLE webhook_inbox
      ADD COLUMN handover_attempts integer NOT NULL DEFAULT 0,
      ADD COLUMN next_handover_at timestamptz NOT NULL DEFAULT now(),
      ADD COLUMN claimed_until timestamptz,
      ADD COLUMN last_handover_error text,
      ADD COLUMN dead_at timestamptz;
    DROP INDEX webhook_inbox_undispatched_idx;
    CREATE INDEX webhook_inbox_due_idx ON webhook_inbox(next_handover_at) WHERE dispatched_at IS NULL AND dead_at IS NULL;
    CREATE INDEX webhook_inbox_dead_idx ON webhook_inbox(connection_id, dead_at) WHERE dead_at IS NOT NULL;
  `.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`
    DROP INDEX webhook_inbox_dead_idx;
    DROP INDEX webhook_inbox_due_idx;
    ALTER TABLE webhook_inbox
      DROP COLUMN handover_attempts, DROP COLUMN next_handover_at, DROP COLUMN claimed_until,
      DROP COLUMN last_handover_error, DROP COLUMN dead_at;
    CREATE INDEX webhook_inbox_undispatched_idx ON webhook_inbox(received_at) WHERE dispatched_at IS NULL;
  `.execute(db);
}
