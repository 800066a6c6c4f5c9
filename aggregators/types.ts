import type { ActivityListing, SessionListing } from '../domain/listing.js';
import type { Aggregator } from '../domain/model.js';
import type { RejectReason } from '../domain/reasons.js';

/**
 * The one interface every aggregator adapter implements. Inputs and outputs are in our vocabulary (activity,
 * session, booking); each adapter translates to its aggregator's (Wellhub: class, slot, booking).
 */

/** What an adapter needs to talk to one connection (venue x aggregator). Secrets stay in memory only. */
export interface ConnectionContext {
  connectionId: string;
  /** The aggregator's id for the venue (Wellhub gym_id). */
  externalVenueId: string;
  /** Base URL of the aggregator's API (a sandbox locally). */
  baseUrl: string;
  credentials: { apiToken?: string | undefined; webhookSecret?: string | undefined };
  /** Non-secret settings of the connection, e.g. { productId: 1 } for Wellhub. */
  settings: Record<string, unknown>;
}

export interface SessionCounts {
  totalCapacity?: number | undefined;
  totalBooked?: number | undefined;
}

/** A session as the aggregator holds it, read back for reconciliation (only what every contract returns as sent). */
export interface HeldSession {
  externalId: string;
  /** ISO 8601 with an offset. */
  startsAt: string;
  durationMinutes: number;
  room: string | null;
  totalCapacity: number;
  totalBooked: number;
}

/** The aggregator's ids for a published session. */
export interface SessionRef {
  activityExternalId: string;
  sessionExternalId: string;
}

export interface BookingRef {
  bookingNumber: string;
  /** Some aggregators (Wellhub v1) need the class of the booking. */
  activityExternalId?: string | undefined;
  sessionExternalId?: string | undefined;
}

export interface WebhookCustomer {
  /** The aggregator's id for the member (Wellhub unique_token). */
  externalId: string;
  name?: string | undefined;
  email?: string | undefined;
}

interface EventBase {
  aggregator: Aggregator;
  /** The aggregator's event id when it sends one, else a digest of the body: the inbox key. */
  eventId: string;
  occurredAt: Date;
  externalVenueId: string;
  bookingNumber: string;
  customer: WebhookCustomer;
  activityExternalId?: string | undefined;
  sessionExternalId: string;
}

/** One normalized event type for every aggregator's webhooks. */
export type AggregatorEvent =
  | (EventBase & { type: 'booking_requested' })
  | (EventBase & { type: 'booking_cancelled'; late: boolean })
  | (EventBase & { type: 'checked_in' });

export interface WebhookRequest {
  rawBody: Buffer;
  /** Lower-cased header names. */
  headers: Record<string, string | undefined>;
}

export type WebhookVerification = { ok: true } | { ok: false; reason: string };

export interface AdapterCapabilities {
  /** Cancelling a session at the aggregator cancels its bookings there (EGYM Wellpass): no per-booking calls. */
  cancelsWholeSessions: boolean;
  /** The aggregator waits for the booking answer in the webhook response (Onefit) instead of a later call. */
  answersBookingsSynchronously: boolean;
  /** Longest the aggregator waits for an answer to a booking request before it rejects on its own. */
  bookingDeadlineMs: number;
}

export interface AggregatorAdapter {
  readonly aggregator: Aggregator;
  readonly capabilities: AdapterCapabilities;
  /** The production API base URL; connections may override it (sandboxes, staging). */
  readonly defaultBaseUrl: string;

  pushActivity(ctx: ConnectionContext, activity: ActivityListing): Promise<{ externalId: string }>;
  updateActivity(ctx: ConnectionContext, externalId: string, activity: ActivityListing): Promise<void>;
  hideActivity(ctx: ConnectionContext, externalId: string, activity: ActivityListing): Promise<void>;

  createSession(ctx: ConnectionContext, activityExternalId: string, session: SessionListing): Promise<{ externalId: string }>;
  updateSession(ctx: ConnectionContext, ref: SessionRef, session: SessionListing): Promise<void>;
  patchSessionCounts(ctx: ConnectionContext, ref: SessionRef, counts: SessionCounts): Promise<void>;
  deleteSession(ctx: ConnectionContext, ref: SessionRef): Promise<void>;
  /**
   * Every session the aggregator holds for the activity starting within [from, to] (ISO 8601 with offsets), all
   * pages: the periodic reconciliation compares them with what should be there.
   */
  listSessions(ctx: ConnectionContext, activityExternalId: string, range: { from: string; to: string }): Promise<HeldSession[]>;
  /** The studio cancelled the session: the aggregator cancels it and every booking in it. */
  cancelSession(ctx: ConnectionContext, ref: SessionRef, reason?: string): Promise<void>;

  confirmBooking(ctx: ConnectionContext, booking: BookingRef): Promise<void>;
  rejectBooking(ctx: ConnectionContext, booking: BookingRef, reason: RejectReason, message?: string): Promise<void>;
  cancelBookingByGym(ctx: ConnectionContext, booking: BookingRef, message?: string): Promise<void>;

  /** Checks the webhook's signature with the connection's secret; never throws. */
  verifyWebhook(request: WebhookRequest, secret: string, now?: Date): WebhookVerification;
  /** Parses a verified webhook body; throws WebhookParseError on a body it cannot understand. */
  parseWebhook(request: WebhookRequest): AggregatorEvent;
  /** The venue id the webhook names, read before verification to find the connection (and its secret). */
  webhookVenueId(request: WebhookRequest): string | undefined;

  health(ctx: ConnectionContext): Promise<void>;

  /** For an aggregator that reads the booking decision from the webhook response (Onefit): that response's body. */
  bookingAnswer?(decision: SynchronousDecision): unknown;
  /**
   * Where the aggregator holds one booking now; a synchronous aggregator's booking is read back after the answer,
   * since only the aggregator knows whether the response reached it in time.
   */
  readBookingStatus?(ctx: ConnectionContext, booking: BookingRef): Promise<HeldBookingStatus>;
}

export type HeldBookingStatus = 'pending' | 'reserved' | 'rejected' | 'cancelled' | 'attended';

export type SynchronousDecision =
  | { status: 'confirmed' }
  | { status: 'rejected'; reason: RejectReason; message?: string | undefined };

export class WebhookParseError extends Error {
  constructor(
    message: string,
    readonly details?: unknown,
  ) {
    super(message);
    this.name = 'WebhookParseError';
  }
}
