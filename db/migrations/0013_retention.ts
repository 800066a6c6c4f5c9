import { sql, type Kysely } from 'kysely';

/**
 * Retention: events to the studio backend and webhook inbox rows older than their retention are deleted oldest first
 * (`db/studio-events.ts` deleteExpiredEvents, `db/webhook-inbox.ts` deleteExpiredInboxEvents), by these indexes.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`CREATE INDEX events_created_at_idx ON events (created_at)`.execute(db);
  await sql`CREATE INDEX webhook_inbox_received_at_idx ON webhook_inbox (received_at)`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`DROP INDEX IF EXISTS webhook_inbox_received_at_idx`.execute(db);
  await sql`DROP INDEX IF EXISTS events_created_at_idx`.execute(db);
}
