import { sql, type Kysely } from 'kysely';

/**
 * The whole model (companies, venues, connections, activities, sessions, customers, bookings), with the constraints
 * that protect the invariants where a constraint can: one booking per aggregator booking number, one customer per aggregator id within a company,
 * one live booking per customer and session, well-formed status values, and composite foreign keys that keep
 * every row inside its company (a venue of company A can never hold an activity of company B).
 * The capacity invariant needs a count, so it is enforced by the booking transaction under a session row lock.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    CREATE TABLE companies (
      id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      name text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
      created_at timestamptz NOT NULL DEFAULT now(),
      updated_at timestamptz NOT NULL DEFAULT now()
    );

    CREATE TABLE api_keys (
      id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      company_id uuid NOT NULL REFERENCES companies(id) ON DELETE CASCADE,
      key_hash text NOT NULL UNIQUE,
      key_prefix text NOT NULL,
      label text,
      created_at timestamptz NOT NULL DEFAULT now(),
      revoked_at timestamptz
    );
    CREATE INDEX api_keys_company_idx ON api_keys(company_id);

    CREATE TABLE venues (
      id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      company_id uuid NOT NULL REFERENCES companies(id) ON DELETE CASCADE,
      name text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
      time_zone text NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now(),
      updated_at timestamptz NOT NULL DEFAULT now(),
      UNIQUE (company_id, id)
    );

    CREATE TABLE connections (
      id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      company_id uuid NOT NULL,
      venue_id uuid NOT NULL,
      aggregator text NOT NULL CHECK (aggregator ~ '^[a-z][a-z0-9_]{1,39}$'),
      status text NOT NULL DEFAULT 'requested' CHECK (status IN ('requested', 'active', 'paused', 'disabled')),
      external_venue_id text,
      api_base_url text,
      settings jsonb NOT NULL DEFAULT '{}'::jsonb,
      credentials_sealed text,
      created_at timestamptz NOT NULL DEFAULT now(),
      updated_at timestamptz NOT NULL DEFAULT now(),
      FOREIGN KEY (company_id, venue_id) REFERENCES venues(company_id, id) ON DELETE CASCADE,
      UNIQUE (venue_id, aggregator),
      UNIQUE (company_id, id)
    );
    -- A webhook names the aggregator's venue id; it must lead to exactly one connection.
    CREATE UNIQUE INDEX connections_external_venue_uq ON connections(aggregator, external_venue_id)
      WHERE external_venue_id IS NOT NULL;

    CREATE TABLE activities (
      id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      company_id uuid NOT NULL,
      venue_id uuid NOT NULL,
      name text NOT NULL CHECK (length(name) BETWEEN 1 AND 255),
      description text NOT NULL DEFAULT '',
      category text,
      max_participants integer NOT NULL CHECK (max_participants BETWEEN 1 AND 32000),
      allow_aggregator_bookings boolean NOT NULL DEFAULT false,
      aggregator_limit integer CHECK (aggregator_limit >= 0),
      booking_opens_minutes_before integer CHECK (booking_opens_minutes_before >= 0),
      booking_closes_minutes_before integer NOT NULL DEFAULT 0 CHECK (booking_closes_minutes_before >= 0),
      cancellation_cutoff_minutes integer NOT NULL DEFAULT 0 CHECK (cancellation_cutoff_minutes >= 0),
      requires_manual_approval boolean NOT NULL DEFAULT false,
      created_at timestamptz NOT NULL DEFAULT now(),
      updated_at timestamptz NOT NULL DEFAULT now(),
      FOREIGN KEY (company_id, venue_id) REFERENCES venues(company_id, id) ON DELETE CASCADE,
      UNIQUE (company_id, id),
      CHECK (aggregator_limit IS NULL OR aggregator_limit <= max_participants),
      CHECK (booking_opens_minutes_before IS NULL OR booking_opens_minutes_before > booking_closes_minutes_before)
    );
    CREATE INDEX activities_venue_idx ON activities(venue_id);

    CREATE TABLE activity_aggregator_quotas (
      activity_id uuid NOT NULL REFERENCES activities(id) ON DELETE CASCADE,
      aggregator text NOT NULL,
      quota integer NOT NULL CHECK (quota >= 0),
      PRIMARY KEY (activity_id, aggregator)
    );

    CREATE TABLE sessions (
      id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      company_id uuid NOT NULL,
      venue_id uuid NOT NULL,
      activity_id uuid NOT NULL,
      starts_at timestamptz NOT NULL,
      utc_offset text NOT NULL CHECK (utc_offset ~ '^[+-][0-9]{2}:[0-9]{2}$'),
      duration_minutes integer NOT NULL CHECK (duration_minutes BETWEEN 1 AND 1440),
      room text,
      instructors jsonb NOT NULL DEFAULT '[]'::jsonb,
      status text NOT NULL DEFAULT 'scheduled' CHECK (status IN ('scheduled', 'cancelled')),
      capacity_override integer CHECK (capacity_override BETWEEN 0 AND 32000),
      aggregator_limit_override integer CHECK (aggregator_limit_override >= 0),
      cancelled_at timestamptz,
      created_at timestamptz NOT NULL DEFAULT now(),
      updated_at timestamptz NOT NULL DEFAULT now(),
      FOREIGN KEY (company_id, activity_id) REFERENCES activities(company_id, id) ON DELETE CASCADE,
      FOREIGN KEY (company_id, venue_id) REFERENCES venues(company_id, id) ON DELETE CASCADE,
      UNIQUE (company_id, id),
      CHECK ((status = 'cancelled') = (cancelled_at IS NOT NULL))
    );
    CREATE INDEX sessions_activity_start_idx ON sessions(activity_id, starts_at);
    -- Two sessions of one activity at the same time in the same room are one session entered twice.
    CREATE UNIQUE INDEX sessions_activity_start_room_uq ON sessions(activity_id, starts_at, coalesce(room, ''))
      WHERE status = 'scheduled';

    CREATE TABLE customers (
      id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      company_id uuid NOT NULL REFERENCES companies(id) ON DELETE CASCADE,
      name text,
      email text,
      created_at timestamptz NOT NULL DEFAULT now(),
      updated_at timestamptz NOT NULL DEFAULT now(),
      UNIQUE (company_id, id)
    );

    CREATE TABLE customer_aggregator_ids (
      company_id uuid NOT NULL,
      customer_id uuid NOT NULL,
      aggregator text NOT NULL,
      external_id text NOT NULL CHECK (length(external_id) BETWEEN 1 AND 200),
      created_at timestamptz NOT NULL DEFAULT now(),
      FOREIGN KEY (company_id, customer_id) REFERENCES customers(company_id, id) ON DELETE CASCADE,
      PRIMARY KEY (customer_id, aggregator),
      UNIQUE (company_id, aggregator, external_id)
    );

    CREATE TABLE bookings (
      id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      company_id uuid NOT NULL,
      session_id uuid NOT NULL,
      customer_id uuid NOT NULL,
      source text NOT NULL CHECK (source ~ '^[a-z][a-z0-9_]{1,39}$'),
      aggregator_booking_number text,
      status text NOT NULL CHECK (status IN
        ('requested', 'reserved', 'rejected', 'cancelled_by_customer', 'late_cancelled', 'cancelled_by_gym', 'attended')),
      status_reason text,
      product text,
      paid boolean NOT NULL DEFAULT false,
      created_at timestamptz NOT NULL DEFAULT now(),
      updated_at timestamptz NOT NULL DEFAULT now(),
      FOREIGN KEY (company_id, session_id) REFERENCES sessions(company_id, id) ON DELETE CASCADE,
      FOREIGN KEY (company_id, customer_id) REFERENCES customers(company_id, id) ON DELETE CASCADE,
      -- An aggregator booking always has its booking number; a direct booking never has one.
      CHECK ((source = 'direct') = (aggregator_booking_number IS NULL))
    );
    -- One booking number, one booking.
    CREATE UNIQUE INDEX bookings_aggregator_number_uq ON bookings(source, aggregator_booking_number)
      WHERE aggregator_booking_number IS NOT NULL;
    -- A customer holds at most one live place in a session.
    CREATE UNIQUE INDEX bookings_live_customer_session_uq ON bookings(session_id, customer_id)
      WHERE status IN ('requested', 'reserved', 'attended');
    CREATE INDEX bookings_session_status_idx ON bookings(session_id, status);

    CREATE TABLE booking_status_history (
      id bigserial PRIMARY KEY,
      booking_id uuid NOT NULL REFERENCES bookings(id) ON DELETE CASCADE,
      from_status text,
      to_status text NOT NULL,
      reason text,
      actor text NOT NULL,
      at timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX booking_status_history_booking_idx ON booking_status_history(booking_id, id);

    CREATE TABLE webhook_inbox (
      id bigserial PRIMARY KEY,
      aggregator text NOT NULL,
      event_id text NOT NULL,
      event_type text NOT NULL,
      connection_id uuid REFERENCES connections(id) ON DELETE SET NULL,
      payload jsonb NOT NULL,
      received_at timestamptz NOT NULL DEFAULT now(),
      processed_at timestamptz,
      UNIQUE (aggregator, event_id)
    );

    CREATE TABLE activity_publications (
      activity_id uuid NOT NULL REFERENCES activities(id) ON DELETE CASCADE,
      connection_id uuid NOT NULL REFERENCES connections(id) ON DELETE CASCADE,
      external_id text,
      pushed_fingerprint text,
      pushed_at timestamptz,
      hidden boolean NOT NULL DEFAULT false,
      PRIMARY KEY (activity_id, connection_id)
    );

    CREATE TABLE session_publications (
      session_id uuid NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
      connection_id uuid NOT NULL REFERENCES connections(id) ON DELETE CASCADE,
      external_id text,
      pushed_fingerprint text,
      pushed_total_booked integer,
      pushed_at timestamptz,
      removed boolean NOT NULL DEFAULT false,
      PRIMARY KEY (session_id, connection_id)
    );
    CREATE UNIQUE INDEX session_publications_external_uq ON session_publications(connection_id, external_id)
      WHERE external_id IS NOT NULL;

    CREATE TABLE activity_lifecycles (
      activity_id uuid PRIMARY KEY REFERENCES activities(id) ON DELETE CASCADE,
      company_id uuid NOT NULL REFERENCES companies(id) ON DELETE CASCADE,
      workflow_id text NOT NULL,
      run_id text NOT NULL,
      status text NOT NULL CHECK (status IN ('running', 'stopped')),
      started_at timestamptz NOT NULL,
      stopped_at timestamptz,
      sync_passes integer NOT NULL DEFAULT 0,
      last_sync_at timestamptz,
      last_sync_reason text CHECK (last_sync_reason IN ('start', 'change', 'periodic'))
    );
  `.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`
    DROP TABLE IF EXISTS activity_lifecycles, session_publications, activity_publications, webhook_inbox,
      booking_status_history, bookings, customer_aggregator_ids, customers, sessions,
      activity_aggregator_quotas, activities, connections, venues, api_keys, companies CASCADE;
  `.execute(db);
}
