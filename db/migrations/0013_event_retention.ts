import { sql, type Kysely } from 'kysely';

/** Events older than the retention are deleted oldest first (`db/studio-events.ts` deleteExpiredEvents). */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`CREATE INDEX events_created_at_idx ON events (created_at)`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`DROP INDEX IF EXISTS events_created_at_idx`.execute(db);
}
