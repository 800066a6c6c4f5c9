import express from 'express';
import { randomUUID } from 'node:crypto';
import {
  createCallRecorder,
  createControlRouter,
  createFaultInjector,
  createSandboxClock,
  listen,
  type SandboxClock,
} from '../../sandbox-kit/index.js';
import type { PartnerProfile } from '../profile.js';
import { mountSandboxControls } from './controls.js';
import type { PartnerSandbox, PartnerSandboxApp, PartnerSandboxState, SentEvent } from './handle.js';
import { createIdempotencyStore } from './idempotency.js';
import { notFound, partnerErrorHandler } from './http.js';
import { createPartnerRouter } from './routes.js';
import { PartnerStore, type Outcome } from './store.js';
import { createDeliverer } from './webhooks.js';
import type { BookingResource, WebhookEvent } from '../schemas.js';

export interface PartnerSandboxOptions {
  /** The API key the sandbox accepts (Bearer). */
  apiToken: string;
  /** The secret webhooks are signed with. */
  webhookSecret: string;
  /** Where webhooks go, e.g. http://127.0.0.1:3000/webhooks/onefit; settable later with setWebhookUrl. */
  webhookUrl?: string | undefined;
  /** Venues the sandbox knows; others get 404 venue_not_found. Default: any venue. */
  venues?: readonly string[] | undefined;
  clock?: SandboxClock | undefined;
  /** Overrides the profile's webhook answer timeout. */
  webhookTimeoutMs?: number | undefined;
  /** Overrides the profile's redelivery delays (tests use short ones; they run on the sandbox clock). */
  webhookRetryDelaysMs?: readonly number[] | undefined;
  /** Signature timestamp source in ms; default the real time, which the receiving service checks against. */
  webhookTimestamp?: (() => number) | undefined;
  /** Randomness of fault rates, for deterministic tests. */
  random?: (() => number) | undefined;
}

function unwrap<T>(outcome: Outcome<T>): T {
  if (!outcome.ok) throw Object.assign(new Error(outcome.message), { status: outcome.status, code: outcome.code });
  return outcome.value;
}

/**
 * A runnable in-memory fake of the partner contract (CONTRACT.md) with one aggregator's behaviour: validations,
 * auth, idempotency keys, state conflicts, signed webhooks, the booking deadline, and the shared sandbox kit's fault
 * injection, call recording and control API under /__sandbox.
 */
export function createPartnerSandbox(profile: PartnerProfile, options: PartnerSandboxOptions): PartnerSandboxApp {
  const clock = options.clock ?? createSandboxClock();
  const faults = createFaultInjector(options.random ? { random: options.random } : {});
  const recorder = createCallRecorder();
  const idempotency = createIdempotencyStore(clock);
  const store = new PartnerStore(profile, clock, options.venues ? new Set(options.venues) : undefined);
  let webhookUrl = options.webhookUrl;
  const deliverer = createDeliverer({
    profile,
    clock,
    store,
    url: () => webhookUrl,
    secret: options.webhookSecret,
    timeoutMs: options.webhookTimeoutMs ?? profile.webhooks.timeoutMs,
    retryDelaysMs: options.webhookRetryDelaysMs ?? profile.webhooks.retryDelaysMs,
    timestampMs: options.webhookTimestamp ?? Date.now,
  });

  const event = (type: WebhookEvent['type'], booking: BookingResource): WebhookEvent => {
    const data = {
      venue_id: booking.venue_id,
      booking_id: booking.id,
      session_reference: booking.session_reference,
      activity_reference: booking.activity_reference,
      member: booking.member,
    };
    const base = { id: `evt_${randomUUID()}`, created_at: new Date(clock.now()).toISOString() };
    if (type === 'booking.requested') return { ...base, type, data: { ...data, respond_by: booking.respond_by } };
    if (type === 'booking.cancelled') return { ...base, type, data: { ...data, late: booking.late ?? false } };
    return { ...base, type, data: { ...data, checked_in_at: booking.updated_at } };
  };
  const send = async (type: WebhookEvent['type'], booking: BookingResource): Promise<SentEvent> => {
    const delivery = await deliverer.deliver(event(type, booking));
    return { booking: structuredClone(booking), delivery };
  };

  const state = (): PartnerSandboxState =>
    structuredClone({
      aggregator: profile.aggregator,
      webhookUrl: webhookUrl ?? null,
      ...store.snapshot(),
      deliveries: deliverer.list(),
      idempotencyKeys: idempotency.size(),
    });
  const reset = () => {
    clock.dispose();
    store.clear();
    idempotency.clear();
    deliverer.clear();
    faults.clear();
    recorder.clear();
  };

  const handle: Omit<PartnerSandboxApp, 'app'> = {
    profile,
    faults,
    clock,
    calls: (filter) => recorder.list(filter),
    state,
    reset,
    setWebhookUrl(url) {
      webhookUrl = url;
    },
    async sendBookingRequest(input) {
      const booking = unwrap(store.request({ ...input, member: input.member ?? { id: `member_${randomUUID()}` } }));
      if (!profile.capabilities.answersBookingsSynchronously) {
        // A synchronous aggregator's deadline is the webhook answer itself; the others reject on their own later.
        const timer = clock.setTimer(() => store.expire(booking.id), profile.capabilities.bookingDeadlineMs);
        store.trackDeadline(booking.id, timer);
      }
      return send('booking.requested', booking);
    },
    cancelBookingByMember: (bookingId, cancel) => send('booking.cancelled', unwrap(store.memberCancel(bookingId, cancel?.late))),
    checkIn: (bookingId) => send('booking.checked_in', unwrap(store.checkIn(bookingId))),
    async redeliver(eventId) {
      const delivery = await deliverer.redeliver(eventId);
      if (!delivery) throw Object.assign(new Error(`event ${eventId} was never sent`), { status: 404, code: 'event_not_found' });
      return delivery;
    },
  };

  const app = express();
  app.disable('x-powered-by');
  app.use(recorder.middleware());
  app.use(faults.middleware());
  const control = createControlRouter({ faults, calls: recorder, clock, state, reset });
  mountSandboxControls(control, handle);
  app.use('/__sandbox', control);
  app.use('/v1', createPartnerRouter({ store, idempotency, clock, apiToken: options.apiToken }));
  app.use(notFound);
  app.use(partnerErrorHandler);
  return { ...handle, app };
}

export async function startPartnerSandbox(
  profile: PartnerProfile,
  options: PartnerSandboxOptions & { port?: number; host?: string },
): Promise<PartnerSandbox> {
  const sandbox = createPartnerSandbox(profile, options);
  const server = await listen(sandbox.app, { port: options.port ?? 0, host: options.host ?? '127.0.0.1' });
  return {
    ...sandbox,
    url: server.url,
    async close() {
      sandbox.faults.releaseHanging();
      sandbox.clock.dispose();
      await server.close();
    },
  };
}
