import type { ColumnType, Generated, Insertable, Selectable, Updateable } from 'kysely';
import type {
  BookingSource,
  BookingStatus,
  CancellationBranchStatus,
  ConnectionStatus,
  LifecycleStatus,
  RequestAnswer,
  RequestDecision,
  SessionStatus,
  SyncReason,
} from '../domain/model.js';

type Timestamp = ColumnType<Date, Date | string | undefined, Date | string>;
type CreatedAt = ColumnType<Date, Date | string | undefined, never>;
type Json<T> = ColumnType<T, string, string>;

export interface Instructor {
  name: string;
  substitute: boolean;
}

export interface CompaniesTable {
  id: Generated<string>;
  name: string;
  created_at: CreatedAt;
  updated_at: Timestamp;
}

export interface ApiKeysTable {
  id: Generated<string>;
  company_id: string;
  key_hash: string;
  key_prefix: string;
  label: string | null;
  created_at: CreatedAt;
  revoked_at: Date | null;
}

export interface VenuesTable {
  id: Generated<string>;
  company_id: string;
  name: string;
  time_zone: string;
  created_at: CreatedAt;
  updated_at: Timestamp;
}

export interface ConnectionsTable {
  id: Generated<string>;
  company_id: string;
  venue_id: string;
  aggregator: string;
  status: ConnectionStatus;
  /** The aggregator's id for the venue (Wellhub gym_id). */
  external_venue_id: string | null;
  /** Base URL of the aggregator's API; null means the adapter's default. */
  api_base_url: string | null;
  /** Product mapping, e.g. { "productId": 1 } for Wellhub. Not secret. */
  settings: Json<Record<string, unknown>>;
  /** AES-GCM sealed JSON { apiToken?, webhookSecret? }; never returned by the API. */
  credentials_sealed: string | null;
  /** The first failed aggregator call since the last success (null: healthy). */
  first_failure_at: Generated<Date | null>;
  /** Set when `connection.failing` was announced (to the first failure's time); cleared with `connection.recovered`. */
  failing_since: Generated<Date | null>;
  created_at: CreatedAt;
  updated_at: Timestamp;
}

export interface ActivitiesTable {
  id: Generated<string>;
  company_id: string;
  venue_id: string;
  name: string;
  description: string;
  category: string | null;
  max_participants: number;
  allow_aggregator_bookings: Generated<boolean>;
  aggregator_limit: number | null;
  /** Minutes before a session's start when booking opens; null = as soon as published. */
  booking_opens_minutes_before: number | null;
  /** Minutes before a session's start when booking closes; 0 = at the start. */
  booking_closes_minutes_before: Generated<number>;
  /** Minutes before a session's start after which a cancellation is late. */
  cancellation_cutoff_minutes: Generated<number>;
  requires_manual_approval: Generated<boolean>;
  /** Minutes after a session's end when its aggregator bookings still reserved become no-shows. */
  no_show_after_minutes: Generated<number>;
  /** Minutes before a session's start when spots held back for aggregators become bookable directly; null = never. */
  release_aggregator_spots_minutes_before: Generated<number | null>;
  /** Minutes before a session's start when the aggregator limit and quotas are lifted; null = never. */
  offer_direct_spots_to_aggregators_minutes_before: Generated<number | null>;
  created_at: CreatedAt;
  updated_at: Timestamp;
}

export interface ActivityAggregatorQuotasTable {
  activity_id: string;
  aggregator: string;
  quota: number;
}

export interface SessionsTable {
  id: Generated<string>;
  company_id: string;
  venue_id: string;
  activity_id: string;
  starts_at: Timestamp;
  /** The offset the start was given with, e.g. "+01:00", so it can be sent back in the venue's local time. */
  utc_offset: string;
  duration_minutes: number;
  room: string | null;
  instructors: Json<Instructor[]>;
  status: Generated<SessionStatus>;
  capacity_override: number | null;
  aggregator_limit_override: number | null;
  cancelled_at: Date | null;
  /** Why the studio cancelled it. */
  cancellation_reason: string | null;
  created_at: CreatedAt;
  updated_at: Timestamp;
}

export interface CustomersTable {
  id: Generated<string>;
  company_id: string;
  name: string | null;
  email: string | null;
  /** Set when the customer's personal data was erased on request. */
  erased_at: Date | null;
  created_at: CreatedAt;
  updated_at: Timestamp;
}

export interface CustomerAggregatorIdsTable {
  company_id: string;
  customer_id: string;
  aggregator: string;
  external_id: string;
  created_at: CreatedAt;
}

export interface BookingsTable {
  id: Generated<string>;
  company_id: string;
  session_id: string;
  customer_id: string;
  source: BookingSource;
  aggregator_booking_number: string | null;
  /** The connection that received an aggregator booking's number (null for direct bookings). */
  connection_id: Generated<string | null>;
  status: BookingStatus;
  status_reason: string | null;
  product: string | null;
  paid: Generated<boolean>;
  /** When the aggregator was told that the gym cancelled this booking (its session was cancelled). */
  aggregator_cancelled_at: Date | null;
  created_at: CreatedAt;
  updated_at: Timestamp;
}

export interface BookingStatusHistoryTable {
  id: Generated<string>;
  booking_id: string;
  from_status: BookingStatus | null;
  to_status: BookingStatus;
  reason: string | null;
  actor: string;
  at: CreatedAt;
}

/** Every verified webhook delivery, keyed by the aggregator's event id: replays are recognised, not re-applied. */
export interface WebhookInboxTable {
  id: Generated<string>;
  aggregator: string;
  event_id: string;
  event_type: string;
  connection_id: string | null;
  payload: Json<unknown>;
  received_at: CreatedAt;
  processed_at: Date | null;
  /** The booking number the event is about. */
  booking_number: string | null;
  /** When the event reached its booking workflow; null = still to hand over (the dispatcher retries). */
  dispatched_at: Date | null;
  /** What its processing did, e.g. "applied", "waiting_for_request", "ignored: booking is rejected". */
  outcome: string | null;
  /** A synchronous answer in the webhook response: whether it went out in time (null: not answered that way, or not known). */
  response_delivered: Generated<boolean | null>;
  /** Why the outcome is what it is, when it is not plain (an event naming a number another connection received). */
  outcome_detail: Generated<string | null>;
  /** Hand-overs tried so far (claims), when the next may be tried, and until when a dispatcher holds its claim. */
  handover_attempts: Generated<number>;
  next_handover_at: Generated<Date>;
  claimed_until: Date | null;
  last_handover_error: string | null;
  /** Given up after too many failed hand-overs: listed by the API, retried only when asked. */
  dead_at: Date | null;
}

export type { RequestAnswer, RequestDecision };

/** One aggregator booking request: the decision and what the aggregator was told (one row per booking number). */
export interface BookingRequestsTable {
  aggregator: string;
  booking_number: string;
  company_id: string;
  venue_id: string;
  connection_id: string;
  session_external_id: string;
  activity_external_id: string | null;
  member_external_id: string;
  session_id: string | null;
  customer_id: string | null;
  booking_id: string | null;
  decision: RequestDecision;
  reason: string | null;
  message: string | null;
  deadline_at: Date;
  answer: Generated<RequestAnswer>;
  answered_at: Date | null;
  last_error: string | null;
  requested_at: Date;
  created_at: CreatedAt;
  updated_at: Timestamp;
}

/** The aggregator's ids for what we pushed, and a fingerprint of what we last sent (a sync sends only what changed). */
export interface ActivityPublicationsTable {
  activity_id: string;
  connection_id: string;
  external_id: string | null;
  pushed_fingerprint: string | null;
  pushed_at: Date | null;
  hidden: Generated<boolean>;
  /** The content the aggregator refused for good (a 4xx): not sent again until it changes. */
  refused_fingerprint: string | null;
  last_error: string | null;
  last_error_at: Date | null;
  /** The end of the last pass that reached this connection without an error. */
  last_synced_at: Date | null;
}

export interface SessionPublicationsTable {
  session_id: string;
  connection_id: string;
  external_id: string | null;
  pushed_fingerprint: string | null;
  pushed_total_booked: number | null;
  pushed_total_capacity: number | null;
  pushed_at: Date | null;
  removed: Generated<boolean>;
  /** The content the aggregator refused for good (a 4xx): not sent again until it changes. */
  refused_fingerprint: string | null;
  last_error: string | null;
  last_error_at: Date | null;
}

/** What the lifecycle workflow of an activity has recorded about itself. */
export interface ActivityLifecyclesTable {
  activity_id: string;
  company_id: string;
  workflow_id: string;
  run_id: string;
  status: LifecycleStatus;
  started_at: Timestamp;
  stopped_at: Date | null;
  sync_passes: Generated<number>;
  last_sync_at: Date | null;
  last_sync_reason: SyncReason | null;
}

/** A studio's cancellation of one session, fanned out to every connection the session was pushed to. */
export interface SessionCancellationsTable {
  session_id: string;
  company_id: string;
  venue_id: string;
  activity_id: string;
  reason: string;
  requested_by: string;
  bookings_cancelled: Generated<number>;
  requested_at: CreatedAt;
  completed_at: Date | null;
  /** When a sweep last made sure a workflow carries this open cancellation. */
  swept_at: Date | null;
}

export type { CancellationBranchStatus };

export interface SessionCancellationBranchesTable {
  session_id: string;
  connection_id: string;
  aggregator: string;
  status: Generated<CancellationBranchStatus>;
  attempts: Generated<number>;
  last_error: string | null;
  last_error_at: Date | null;
  done_at: Date | null;
}

export type { SyncReason };

/** A change the activity lifecycle must hear of, kept until the signal has reached Temporal (the relay retries it). */
export interface LifecycleOutboxTable {
  id: Generated<string>;
  company_id: string;
  venue_id: string;
  activity_id: string;
  change_kind: 'activity' | 'session' | 'booking' | 'connection';
  change_id: string;
  created_at: CreatedAt;
  due_at: Generated<Date>;
  attempts: Generated<number>;
  last_error: string | null;
}

/** A session whose timer workflow must hear that it changed, kept until Temporal has taken the signal. */
export interface SessionTimersOutboxTable {
  id: Generated<string>;
  company_id: string;
  session_id: string;
  created_at: CreatedAt;
  due_at: Generated<Date>;
  attempts: Generated<number>;
  last_error: string | null;
}

/** A company's receiver of signed events (Standard Webhooks). */
export interface EventEndpointsTable {
  id: Generated<string>;
  company_id: string;
  url: string;
  event_types: string[];
  description: string | null;
  enabled: Generated<boolean>;
  /** Sealed JSON `EndpointSecrets` (lib/secrets.ts SecretBox): never returned but once, at creation or rotation. */
  secrets_sealed: string;
  created_at: CreatedAt;
  updated_at: Timestamp;
}

/** An event for the studio backend, written in the transaction of the change it announces (the outbox). */
export interface EventsTable {
  /** The `webhook-id`: `msg_` and 32 hex digits. */
  id: string;
  company_id: string;
  type: string;
  ordering_key: string;
  payload: Json<Record<string, unknown>>;
  created_at: CreatedAt;
  /** Commit-independent insertion order (bigserial, read as a number): the events list's cursor. */
  seq: Generated<number>;
}

export type EventDispatchStatus = 'pending' | 'delivered' | 'failed' | 'cancelled';

/** One event for one endpoint: what its delivery workflow works through, in id order per ordering key. */
export interface EventDispatchesTable {
  /** bigserial, read as a number (db/index.ts parses int8). */
  id: Generated<number>;
  event_id: string;
  endpoint_id: string;
  company_id: string;
  ordering_key: string;
  replay: Generated<boolean>;
  status: Generated<EventDispatchStatus>;
  attempts: Generated<number>;
  last_attempt_at: Date | null;
  finished_at: Date | null;
  created_at: CreatedAt;
  handed_over_at: Date | null;
  due_at: Generated<Date>;
  handover_attempts: Generated<number>;
  last_handover_error: string | null;
}

/** The delivery log: one row per attempt (and one per give-up). */
export interface EventDeliveryAttemptsTable {
  id: Generated<number>;
  dispatch_id: number;
  endpoint_id: string;
  event_id: string;
  event_type: string;
  attempt: number;
  outcome: 'delivered' | 'failed' | 'gave_up';
  status_code: number | null;
  error: string | null;
  duration_ms: number | null;
  at: CreatedAt;
}

export interface Database {
  companies: CompaniesTable;
  api_keys: ApiKeysTable;
  venues: VenuesTable;
  connections: ConnectionsTable;
  activities: ActivitiesTable;
  activity_aggregator_quotas: ActivityAggregatorQuotasTable;
  sessions: SessionsTable;
  customers: CustomersTable;
  customer_aggregator_ids: CustomerAggregatorIdsTable;
  bookings: BookingsTable;
  booking_status_history: BookingStatusHistoryTable;
  webhook_inbox: WebhookInboxTable;
  booking_requests: BookingRequestsTable;
  session_cancellations: SessionCancellationsTable;
  session_cancellation_branches: SessionCancellationBranchesTable;
  activity_publications: ActivityPublicationsTable;
  session_publications: SessionPublicationsTable;
  activity_lifecycles: ActivityLifecyclesTable;
  lifecycle_outbox: LifecycleOutboxTable;
  session_timers_outbox: SessionTimersOutboxTable;
  event_endpoints: EventEndpointsTable;
  events: EventsTable;
  event_dispatches: EventDispatchesTable;
  event_delivery_attempts: EventDeliveryAttemptsTable;
}

export type Company = Selectable<CompaniesTable>;
export type Venue = Selectable<VenuesTable>;
export type Connection = Selectable<ConnectionsTable>;
export type Activity = Selectable<ActivitiesTable>;
export type Session = Selectable<SessionsTable>;
export type Booking = Selectable<BookingsTable>;
export type NewActivity = Insertable<ActivitiesTable>;
export type ActivityUpdate = Updateable<ActivitiesTable>;
