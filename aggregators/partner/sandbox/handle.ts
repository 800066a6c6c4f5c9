/**
 * What a running partner sandbox offers its users (tests, the CLI) and its own control routes: the server builds it,
 * the controls drive it, and neither imports the other for it.
 */
import type { Express } from 'express';
import type { CallFilter, FaultInjector, RecordedCall, SandboxClock } from '../../sandbox-kit/index.js';
import type { PartnerProfile } from '../profile.js';
import type { ActivityResource, BookingResource, SessionResource } from '../schemas.js';
import type { BookingRequestInput } from './store.js';
import type { Delivery } from './webhooks.js';

export interface SentEvent {
  booking: BookingResource;
  delivery: Delivery;
}

export interface PartnerSandboxState {
  aggregator: string;
  webhookUrl: string | null;
  activities: ActivityResource[];
  sessions: SessionResource[];
  bookings: BookingResource[];
  deliveries: Delivery[];
  idempotencyKeys: number;
}

export interface PartnerSandboxApp {
  readonly profile: PartnerProfile;
  readonly app: Express;
  readonly faults: FaultInjector;
  readonly clock: SandboxClock;
  calls(filter?: CallFilter): RecordedCall[];
  state(): PartnerSandboxState;
  reset(): void;
  setWebhookUrl(url: string | undefined): void;
  /** A member books: the booking.requested webhook is sent (and, for a synchronous aggregator, its answer applied). */
  sendBookingRequest(input: Omit<BookingRequestInput, 'member'> & { member?: BookingRequestInput['member'] }): Promise<SentEvent>;
  /** A member cancels a confirmed booking; late defaults to "after the session's cancellable_until". */
  cancelBookingByMember(bookingId: string, options?: { late?: boolean }): Promise<SentEvent>;
  checkIn(bookingId: string): Promise<SentEvent>;
  /** The same event again (same id, fresh signature): what a duplicate delivery looks like. */
  redeliver(eventId: string): Promise<Delivery>;
}

export interface PartnerSandbox extends PartnerSandboxApp {
  readonly url: string;
  close(): Promise<void>;
}
