import type { SandboxClock } from '../../sandbox-kit/index.js';
import type { PartnerProfile } from '../profile.js';
import type { PartnerStore } from './store.js';
import { bookingAnswerSchema, webhookEventSchema, type BookingAnswer, type WebhookEvent } from '../schemas.js';
import { signWebhook } from '../signature.js';

export interface DeliveryAttempt {
  at: string;
  /** HTTP status of our service's answer; null when none came (timeout, connection refused). */
  status: number | null;
  error: string | null;
  durationMs: number;
}

export interface Delivery {
  eventId: string;
  type: WebhookEvent['type'];
  bookingId: string;
  attempts: DeliveryAttempt[];
  /** pending: a redelivery is scheduled. */
  outcome: 'pending' | 'acknowledged' | 'failed';
  /** Synchronous aggregators, booking.requested: the decision read from the answer; null = none readable. */
  answer?: BookingAnswer | null;
}

export interface DelivererOptions {
  profile: PartnerProfile;
  clock: SandboxClock;
  store: PartnerStore;
  url: () => string | undefined;
  secret: string;
  timeoutMs: number;
  retryDelaysMs: readonly number[];
  /** Clock of the signature timestamp (ms); the real time by default, as the receiver checks it against its own. */
  timestampMs: () => number;
}

export interface Deliverer {
  /** Sends an event; resolves after the first attempt (redeliveries continue on the sandbox clock). */
  deliver(event: WebhookEvent): Promise<Delivery>;
  /** Sends a delivered event again, same id, freshly signed, once. */
  redeliver(eventId: string): Promise<Delivery | undefined>;
  list(): Delivery[];
  clear(): void;
}

const DELIVERY_LIMIT = 10_000;

export function createDeliverer(options: DelivererOptions): Deliverer {
  const { profile, clock, store } = options;
  const synchronous = profile.capabilities.answersBookingsSynchronously;
  const events = new Map<string, WebhookEvent>();
  let deliveries: Delivery[] = [];

  async function attempt(delivery: Delivery, event: WebhookEvent): Promise<{ ok: boolean; text: string }> {
    const started = Date.now();
    const record = (status: number | null, error: string | null) =>
      delivery.attempts.push({ at: new Date(clock.now()).toISOString(), status, error, durationMs: Date.now() - started });
    const url = options.url();
    if (url === undefined) {
      record(null, 'no webhook URL configured');
      return { ok: false, text: '' };
    }
    const raw = Buffer.from(JSON.stringify(event), 'utf8');
    try {
      const response = await fetch(url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'user-agent': `${profile.aggregator}-sandbox`,
          ...signWebhook(options.secret, raw, options.timestampMs() / 1000),
        },
        body: raw,
        signal: AbortSignal.timeout(options.timeoutMs),
      });
      const text = await response.text();
      record(response.status, null);
      return { ok: response.ok, text };
    } catch (error) {
      const timedOut = error instanceof Error && (error.name === 'TimeoutError' || error.name === 'AbortError');
      const cause = error instanceof Error && error.cause instanceof Error ? error.cause.message : String(error);
      record(null, timedOut ? `no answer within ${options.timeoutMs} ms` : `connection failed: ${cause}`);
      return { ok: false, text: '' };
    }
  }

  /** The decision in a synchronous answer, applied to the booking; anything unreadable rejects it (no_answer). */
  function applyAnswer(event: WebhookEvent, result: { ok: boolean; text: string }): BookingAnswer | null {
    let answer: BookingAnswer | null = null;
    if (result.ok) {
      try {
        const parsed = bookingAnswerSchema.safeParse(JSON.parse(result.text));
        if (parsed.success) answer = parsed.data;
      } catch {
        answer = null;
      }
    }
    const { booking_id: id, venue_id: venueId } = event.data;
    if (answer?.status === 'confirmed') store.confirm(venueId, id);
    else if (answer?.status === 'rejected') store.reject(venueId, id, answer.reason_code, answer.message);
    else store.expire(id);
    return answer;
  }

  async function run(delivery: Delivery, event: WebhookEvent, retriesLeft: readonly number[]): Promise<void> {
    const result = await attempt(delivery, event);
    if (synchronous && event.type === 'booking.requested') delivery.answer = applyAnswer(event, result);
    if (result.ok) {
      delivery.outcome = 'acknowledged';
      return;
    }
    const [delay, ...rest] = retriesLeft;
    if (delay === undefined) {
      delivery.outcome = 'failed';
      return;
    }
    delivery.outcome = 'pending';
    clock.setTimer(() => run(delivery, event, rest), delay);
  }

  function start(event: WebhookEvent): Delivery {
    const delivery: Delivery = { eventId: event.id, type: event.type, bookingId: event.data.booking_id, attempts: [], outcome: 'pending' };
    deliveries.push(delivery);
    if (deliveries.length > DELIVERY_LIMIT) deliveries = deliveries.slice(-DELIVERY_LIMIT);
    return delivery;
  }

  return {
    async deliver(event) {
      // The sandbox must never send what the contract does not describe.
      webhookEventSchema.parse(event);
      events.set(event.id, event);
      const delivery = start(event);
      await run(delivery, event, options.retryDelaysMs);
      return delivery;
    },
    async redeliver(eventId) {
      const event = events.get(eventId);
      if (!event) return undefined;
      const delivery = start(event);
      await run(delivery, event, []);
      return delivery;
    },
    list: () => deliveries.map((delivery) => ({ ...delivery, attempts: [...delivery.attempts] })),
    clear() {
      events.clear();
      deliveries = [];
    },
  };
}
