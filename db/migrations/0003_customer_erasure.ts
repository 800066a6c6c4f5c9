import { sql, type Kysely } from 'kysely';

/** When a customer's personal data (name, e-mail) was erased on request; the profile and its bookings stay. */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`ALTER TABLE customers ADD COLUMN erased_at timestamptz`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`ALTER TABLE customers DROP COLUMN erased_at`.execute(db);
}
