import { sql, type Kysely } from 'kysely';

/**
 * The lifecycle outbox: a change the activity lifecycle must hear of (an activity opted in or out or edited, a
 * session edited, a direct booking made or cancelled, a connection changed) is written here in the transaction that
 * makes the change, and deleted once the signal has reached Temporal. `due_at` is when a relay may next take the row:
 * a relay that takes it pushes it forward (its lease), one that fails pushes it forward by its backoff.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    CREATE TABLE lifecycle_outbox (
      id bigserial PRIMARY KEY,
      company_id uuid NOT NULL REFERENCES companies(id) ON DELETE CASCADE,
      venue_id uuid NOT NULL,
      activity_id uuid NOT NULL REFERENCES activities(id) ON DELETE CASCADE,
      change_kind text NOT NULL CHECK (change_kind IN ('activity', 'session', 'booking', 'connection')),
      change_id text NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now(),
      due_at timestamptz NOT NULL DEFAULT now(),
      attempts integer NOT NULL DEFAULT 0,
      last_error text
    );
    CREATE INDEX lifecycle_outbox_due_idx ON lifecycle_outbox (due_at);
    CREATE INDEX lifecycle_outbox_activity_idx ON lifecycle_outbox (activity_id);
  `.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`DROP TABLE lifecycle_outbox`.execute(db);
}
