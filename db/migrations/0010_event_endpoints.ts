import { sql, type Kysely } from 'kysely';

/**
 * Signed events to the studio backend (Standard Webhooks).
 *
 * - `event_endpoints`: a company's receivers, the event types each takes, and its signing secrets (sealed JSON:
 *   the current one, and during a rotation the previous one with when it stops signing).
 * - `events`: what happened, written in the transaction that made the change (the outbox). `ordering_key` is what
 *   delivery keeps in order (`booking:<id>`, `session:<id>`, `connection:<id>`).
 * - `event_dispatches`: one event for one endpoint (fanned out as the event is written, to the endpoints subscribed
 *   then). `handed_over_at` null: the relay still has to wake its delivery workflow; `due_at` is the relay's lease and
 *   backoff. A replay is one more dispatch of the same event (same webhook-id).
 * - `event_delivery_attempts`: the delivery log, one row per HTTP attempt (and one for a give-up).
 * - `connections.first_failure_at` / `failing_since`: the connection's health, so `connection.failing` and
 *   `connection.recovered` are each announced once per transition.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    CREATE TABLE event_endpoints (
      id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      company_id uuid NOT NULL REFERENCES companies(id) ON DELETE CASCADE,
      url text NOT NULL,
      event_types text[] NOT NULL CHECK (cardinality(event_types) > 0),
      description text,
      enabled boolean NOT NULL DEFAULT true,
      secrets_sealed text NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now(),
      updated_at timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX event_endpoints_company_idx ON event_endpoints (company_id) WHERE enabled;

    CREATE TABLE events (
      id text PRIMARY KEY,
      company_id uuid NOT NULL REFERENCES companies(id) ON DELETE CASCADE,
      type text NOT NULL,
      ordering_key text NOT NULL,
      payload jsonb NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now(),
      seq bigserial NOT NULL UNIQUE
    );
    CREATE INDEX events_company_seq_idx ON events (company_id, seq);

    CREATE TABLE event_dispatches (
      id bigserial PRIMARY KEY,
      event_id text NOT NULL REFERENCES events(id) ON DELETE CASCADE,
      endpoint_id uuid NOT NULL REFERENCES event_endpoints(id) ON DELETE CASCADE,
      company_id uuid NOT NULL,
      ordering_key text NOT NULL,
      replay boolean NOT NULL DEFAULT false,
      status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'failed', 'cancelled')),
      attempts integer NOT NULL DEFAULT 0,
      last_attempt_at timestamptz,
      finished_at timestamptz,
      created_at timestamptz NOT NULL DEFAULT now(),
      handed_over_at timestamptz,
      due_at timestamptz NOT NULL DEFAULT now(),
      handover_attempts integer NOT NULL DEFAULT 0,
      last_handover_error text
    );
    CREATE INDEX event_dispatches_lane_idx ON event_dispatches (endpoint_id, ordering_key, id) WHERE status = 'pending';
    CREATE INDEX event_dispatches_handover_idx ON event_dispatches (due_at) WHERE handed_over_at IS NULL;

    CREATE TABLE event_delivery_attempts (
      id bigserial PRIMARY KEY,
      dispatch_id bigint NOT NULL REFERENCES event_dispatches(id) ON DELETE CASCADE,
      endpoint_id uuid NOT NULL REFERENCES event_endpoints(id) ON DELETE CASCADE,
      event_id text NOT NULL,
      event_type text NOT NULL,
      attempt integer NOT NULL,
      outcome text NOT NULL CHECK (outcome IN ('delivered', 'failed', 'gave_up')),
      status_code integer,
      error text,
      duration_ms integer,
      at timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX event_delivery_attempts_endpoint_idx ON event_delivery_attempts (endpoint_id, id);

    ALTER TABLE connections ADD COLUMN first_failure_at timestamptz, ADD COLUMN failing_since timestamptz;
  `.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`
    ALTER TABLE connections DROP COLUMN first_failure_at, DROP COLUMN failing_since;
    DROP TABLE event_delivery_attempts;
    DROP TABLE event_dispatches;
    DROP TABLE events;
    DROP TABLE event_endpoints;
  `.execute(db);
}
