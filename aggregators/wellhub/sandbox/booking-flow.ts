import { randomUUID } from 'node:crypto';
import type { SandboxClock } from '../../sandbox-kit/index.js';
import { answerTransition } from './booking-rules.js';
import { bookingView, type SandboxBooking, type SandboxBookingState, type SandboxBookingUser, type SandboxStore } from './store.js';
import { deliverWebhook, type DeliveryPolicy, type DeliveryReport } from './webhooks.js';
import type { WellhubBookingStatus, WellhubEventType, WellhubWebhookPayload } from '../schemas.js';

export interface BookingRequestInput {
  gymId: number | string;
  slotId: number | string;
  /** Checked against the slot's class when given. */
  classId?: number | string | undefined;
  user?: Partial<SandboxBookingUser> | undefined;
  /** Default a fresh one; give one to replay a booking number on purpose. */
  bookingNumber?: string | undefined;
}

export interface SentEvent {
  booking: ReturnType<typeof bookingView>;
  event: WellhubWebhookPayload;
  /** Completes when every attempt (first try and resends) has finished. */
  delivery: Promise<DeliveryReport>;
}

export interface PartnerAnswer {
  status: WellhubBookingStatus;
  reason?: string | undefined;
  reasonCategory?: string | undefined;
}

export type AnswerOutcome = { status: 204 } | { status: 404 | 422; message: string };

export interface BookingFlowOptions {
  store: SandboxStore;
  clock: SandboxClock;
  deadlineMs: number;
  delivery: DeliveryPolicy;
  webhookUrl: () => string | undefined;
}

/**
 * Wellhub's side of bookings: members book, cancel and check in (each sent to the partner as a signed webhook),
 * the partner answers by PATCH, and a request left unanswered is rejected by Wellhub when its deadline passes.
 * Member actions are sent as asked, without checking windows or capacity, so tests can exercise the partner's checks.
 */
export class BookingFlow {
  private readonly deadlines = new Map<string, number>();
  private sent: DeliveryReport[] = [];
  private readonly inFlight = new Set<Promise<DeliveryReport>>();

  constructor(private readonly options: BookingFlowOptions) {}

  requestBooking(input: BookingRequestInput): SentEvent {
    const { store, clock } = this.options;
    const gym = store.gym(String(input.gymId));
    if (!gym) throw new SandboxControlError(404, `unknown gym ${String(input.gymId)}`);
    const slot = store.slots.get(Number(input.slotId));
    if (!slot || slot.gym_id !== gym.id || slot.deleted) throw new SandboxControlError(404, `unknown slot ${String(input.slotId)}`);
    if (input.classId !== undefined && Number(input.classId) !== slot.class_id) {
      throw new SandboxControlError(400, `slot ${slot.id} belongs to class ${slot.class_id}, not ${String(input.classId)}`);
    }
    const bookingNumber = input.bookingNumber ?? store.newBookingNumber();
    if (store.bookings.has(bookingNumber)) throw new SandboxControlError(409, `booking ${bookingNumber} exists already`);
    const url = this.urlFor(gym.webhookUrl);
    const now = clock.now();
    const token = input.user?.unique_token ?? `member-${randomUUID().slice(0, 8)}`;
    const booking: SandboxBooking = {
      booking_number: bookingNumber,
      gym_id: gym.id,
      class_id: slot.class_id,
      slot_id: slot.id,
      user: { unique_token: token, name: input.user?.name ?? `Member ${token}`, email: input.user?.email ?? `${token}@members.example` },
      state: 'PENDING',
      auto_rejected: false,
      requested_at: now,
      deadline_at: now + this.options.deadlineMs,
      history: [{ state: 'PENDING', at: now, by: 'member' }],
    };
    store.bookings.set(bookingNumber, booking);
    this.deadlines.set(bookingNumber, clock.setTimer(() => this.expire(bookingNumber), this.options.deadlineMs));
    return this.send('booking-requested', booking, url, gym.webhookSecret);
  }

  cancelByMember(bookingNumber: string, late: boolean): SentEvent {
    const booking = this.mustFind(bookingNumber);
    if (booking.state !== 'PENDING' && booking.state !== 'RESERVED') {
      throw new SandboxControlError(409, `booking ${bookingNumber} is ${booking.state}: nothing to cancel`);
    }
    const gym = this.options.store.gym(String(booking.gym_id));
    const url = this.urlFor(gym?.webhookUrl);
    this.move(booking, late ? 'LATE_CANCELLED' : 'CANCELLED_BY_USER', 'member');
    return this.send(late ? 'booking-late-canceled' : 'booking-canceled', booking, url, gym?.webhookSecret ?? '');
  }

  checkIn(bookingNumber: string): SentEvent {
    const booking = this.mustFind(bookingNumber);
    if (booking.state !== 'RESERVED') {
      throw new SandboxControlError(409, `booking ${bookingNumber} is ${booking.state}: only a reserved booking checks in`);
    }
    const gym = this.options.store.gym(String(booking.gym_id));
    const url = this.urlFor(gym?.webhookUrl);
    this.move(booking, 'CHECKED_IN', 'member');
    return this.send('checkin-booking-occurred', booking, url, gym?.webhookSecret ?? '');
  }

  /** The partner's PATCH (v1 or v2) on a booking of its gym. */
  answer(gymId: number, bookingNumber: string, answer: PartnerAnswer, classId?: number): AnswerOutcome {
    const booking = this.options.store.bookings.get(bookingNumber);
    if (!booking || booking.gym_id !== gymId) return { status: 404, message: `booking ${bookingNumber} not found` };
    if (classId !== undefined && booking.class_id !== classId) {
      return { status: 404, message: `booking ${bookingNumber} not found in class ${classId}` };
    }
    const result = answerTransition(booking.state, booking.auto_rejected, answer.status);
    if (!result.ok) return { status: 422, message: result.message };
    if (result.changed) {
      booking.reason = answer.reason;
      booking.reason_category = answer.reasonCategory;
      this.move(booking, answer.status, 'gym');
    }
    return { status: 204 };
  }

  /** A deleted slot takes its bookings with it, as the reference says of DELETE. */
  slotDeleted(slotId: number): void {
    for (const booking of this.options.store.bookings.values()) {
      if (booking.slot_id !== slotId) continue;
      if (booking.state === 'PENDING') {
        booking.reason_category = 'CLASS_HAS_BEEN_CANCELED';
        this.move(booking, 'REJECTED', 'wellhub');
      } else if (booking.state === 'RESERVED') {
        this.move(booking, 'CANCELLED_BY_GYM', 'wellhub');
      }
    }
  }

  deliveries(): DeliveryReport[] {
    return this.sent.map((report) => ({ ...report, attempts: report.attempts.map((attempt) => ({ ...attempt })) }));
  }

  /** Resolves once every webhook under way has finished (for orderly shutdown and tests). */
  async settle(): Promise<void> {
    await Promise.allSettled([...this.inFlight]);
  }

  /** Cancels every pending deadline (the sandbox is stopping or resetting). */
  stopDeadlines(): void {
    for (const handle of this.deadlines.values()) this.options.clock.clearTimer(handle);
    this.deadlines.clear();
  }

  reset(): void {
    this.stopDeadlines();
    this.sent = [];
  }

  private expire(bookingNumber: string): void {
    this.deadlines.delete(bookingNumber);
    const booking = this.options.store.bookings.get(bookingNumber);
    if (!booking || booking.state !== 'PENDING') return;
    booking.auto_rejected = true;
    booking.reason = 'No answer from the partner within the booking deadline';
    this.move(booking, 'REJECTED', 'wellhub');
  }

  private move(booking: SandboxBooking, state: SandboxBookingState, by: 'member' | 'gym' | 'wellhub'): void {
    booking.state = state;
    booking.history.push({ state, at: this.options.clock.now(), by });
    if (state !== 'PENDING') {
      const handle = this.deadlines.get(booking.booking_number);
      if (handle !== undefined) this.options.clock.clearTimer(handle);
      this.deadlines.delete(booking.booking_number);
    }
  }

  private mustFind(bookingNumber: string): SandboxBooking {
    const booking = this.options.store.bookings.get(bookingNumber);
    if (!booking) throw new SandboxControlError(404, `unknown booking ${bookingNumber}`);
    return booking;
  }

  private urlFor(gymUrl: string | undefined): string {
    const url = gymUrl ?? this.options.webhookUrl();
    if (url === undefined) throw new SandboxControlError(409, 'no webhook URL configured: set one with PUT /__sandbox/webhook');
    return url;
  }

  private send(type: WellhubEventType, booking: SandboxBooking, url: string, secret: string): SentEvent {
    const event: WellhubWebhookPayload = {
      event_type: type,
      event_data: {
        user: { ...booking.user },
        slot: { id: booking.slot_id, gym_id: booking.gym_id, class_id: booking.class_id, booking_number: booking.booking_number },
        timestamp: this.options.clock.now(),
        event_id: randomUUID(),
      },
    };
    const report: DeliveryReport = {
      eventId: event.event_data.event_id,
      eventType: type,
      bookingNumber: booking.booking_number,
      url,
      acknowledged: false,
      attempts: [],
    };
    this.sent.push(report);
    const delivery = deliverWebhook(url, event, secret, this.options.delivery, report);
    this.inFlight.add(delivery);
    const done = () => this.inFlight.delete(delivery);
    delivery.then(done, done);
    return { booking: bookingView(booking), event, delivery };
  }
}

/** A control request the sandbox cannot carry out, with the HTTP status its control API answers. */
export class SandboxControlError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = 'SandboxControlError';
  }
}
