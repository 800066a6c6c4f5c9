import express, { type Express } from 'express';
import {
  createCallRecorder,
  createControlRouter,
  createFaultInjector,
  createSandboxClock,
  listen,
  sandboxErrorHandler,
  sendError,
  type CallFilter,
  type FaultInjector,
  type ListenOptions,
  type RecordedCall,
  type SandboxClock,
} from '../../sandbox-kit/index.js';
import { createWellhubApiRouter } from './api.js';
import { BookingFlow, type BookingRequestInput, type SentEvent } from './booking-flow.js';
import { createWellhubControlRouter } from './control.js';
import {
  DEFAULT_SANDBOX_CATEGORIES,
  DEFAULT_SANDBOX_GYMS,
  SandboxStore,
  bookingView,
  slotView,
  type SandboxCategorySeed,
  type SandboxGymSeed,
} from './store.js';
import type { DeliveryReport } from './webhooks.js';
import type { ConnectionContext } from '../../types.js';

export interface WellhubSandboxOptions {
  /** Gyms with their token, webhook secret and products; default one gym (id 1) with a studio and a virtual product. */
  gyms?: SandboxGymSeed[];
  /** Categories per locale. */
  categories?: SandboxCategorySeed[];
  /** Where webhooks go unless a gym names its own URL. */
  webhookUrl?: string;
  /** Default a clock following real time that tests can advance. */
  clock?: SandboxClock;
  /** Wellhub rejects an unanswered booking request after this long (15 minutes). */
  bookingDeadlineMs?: number;
  /** Wellhub waits this long for a 2xx before resending (1 s). */
  webhookAnswerTimeoutMs?: number;
  /** Copies resent at once after that (3). */
  webhookRetries?: number;
  /** An attempt still unanswered after this long is abandoned (10 s). */
  webhookAttemptTimeoutMs?: number;
  /** Randomness for fault rates. */
  random?: () => number;
  /** How webhooks are sent. */
  fetchImpl?: typeof fetch;
}

export interface WellhubSandbox {
  /** The Express app: Wellhub's API at its real paths, and the control API under /__sandbox. */
  app: Express;
  clock: SandboxClock;
  faults: FaultInjector;
  calls(filter?: CallFilter): RecordedCall[];
  state(): ReturnType<typeof stateOf>;
  /** Back to the seeded state: no classes, slots, bookings, faults, calls or pending deadlines. */
  reset(): void;
  webhookUrl(): string | undefined;
  setWebhookUrl(url: string | undefined): void;
  /** A member books a slot: the booking request is sent as a signed webhook and its 15-minute deadline starts. */
  sendBookingRequest(input: BookingRequestInput): SentEvent;
  /** The member cancels (booking-canceled, or booking-late-canceled when late). */
  cancelBooking(bookingNumber: string, options?: { late?: boolean }): SentEvent;
  /** The member checks in (checkin-booking-occurred). */
  checkIn(bookingNumber: string): SentEvent;
  booking(bookingNumber: string): ReturnType<typeof bookingView> | undefined;
  /** Wellhub deletes a class (partners cannot); GET with show-deleted=true still finds it. */
  deleteClass(gymId: number, classId: number): void;
  deliveries(): DeliveryReport[];
  /** Resolves once every webhook under way has finished. */
  settle(): Promise<void>;
  /** Cancels pending deadlines and drops hanging requests; the data stays readable. */
  dispose(): void;
}

export interface RunningWellhubSandbox extends WellhubSandbox {
  /** Base URL to use as the connection's baseUrl ({{booking-api-url}}), no trailing slash. */
  url: string;
  port: number;
  /** A connection to one seeded gym (default the first) with its token, secret and first non-virtual product. */
  connection(gymId?: number): ConnectionContext;
  close(): Promise<void>;
}

/** The sandbox's state as GET /__sandbox/state shows it. Tokens and webhook secrets are left out. */
function stateOf(store: SandboxStore, clock: SandboxClock, webhookUrl: string | undefined) {
  return {
    now: new Date(clock.now()).toISOString(),
    webhookUrl: webhookUrl ?? null,
    categories: store.categories,
    gyms: [...store.gyms.values()].map((gym) => ({
      id: gym.id,
      webhookUrl: gym.webhookUrl ?? null,
      products: gym.products,
      classes: [...store.classes.values()].filter((c) => c.gym_id === gym.id).map((c) => ({ ...store.classView(c), deleted: c.deleted })),
      slots: [...store.slots.values()].filter((s) => s.gym_id === gym.id).map((s) => ({ ...slotView(s), deleted: s.deleted })),
      bookings: [...store.bookings.values()].filter((b) => b.gym_id === gym.id).map(bookingView),
    })),
  };
}

/**
 * An in-memory fake of Wellhub's Booking API (every path, validation and status code of the reference, Bearer auth
 * per gym) and of Wellhub's side of bookings (signed webhooks with Wellhub's resend policy, the 15-minute
 * auto-reject), with fault injection and call recording for tests.
 */
export function createWellhubSandbox(options: WellhubSandboxOptions = {}): WellhubSandbox {
  const clock = options.clock ?? createSandboxClock();
  const store = new SandboxStore(options.gyms ?? DEFAULT_SANDBOX_GYMS, options.categories ?? DEFAULT_SANDBOX_CATEGORIES);
  const faults = createFaultInjector(options.random ? { random: options.random } : {});
  const calls = createCallRecorder();
  let webhookUrl = options.webhookUrl;
  const flow = new BookingFlow({
    store,
    clock,
    deadlineMs: options.bookingDeadlineMs ?? 15 * 60_000,
    webhookUrl: () => webhookUrl,
    delivery: {
      answerTimeoutMs: options.webhookAnswerTimeoutMs ?? 1_000,
      retries: options.webhookRetries ?? 3,
      attemptTimeoutMs: options.webhookAttemptTimeoutMs ?? 10_000,
      fetchImpl: options.fetchImpl ?? fetch,
    },
  });

  const reset = () => {
    flow.reset();
    store.reset();
    faults.clear();
    calls.clear();
    webhookUrl = options.webhookUrl;
  };
  const state = () => stateOf(store, clock, webhookUrl);
  const setWebhookUrl = (url: string | undefined) => {
    webhookUrl = url;
  };

  const app = express();
  app.disable('x-powered-by');
  app.set('query parser', 'simple');
  app.use('/__sandbox', createControlRouter({ faults, calls, clock, state, reset }));
  app.use('/__sandbox', createWellhubControlRouter({ store, flow, webhookUrl: () => webhookUrl, setWebhookUrl }));
  app.use(calls.middleware());
  app.use(express.json({ limit: '1mb' }));
  app.use(faults.middleware());
  app.use(createWellhubApiRouter({ store, flow, clock }));
  app.use((req, res) => sendError(res, 404, `no route for ${req.method} ${req.path}`));
  app.use(sandboxErrorHandler());

  return {
    app,
    clock,
    faults,
    calls: (filter) => calls.list(filter),
    state,
    reset,
    webhookUrl: () => webhookUrl,
    setWebhookUrl,
    sendBookingRequest: (input) => flow.requestBooking(input),
    cancelBooking: (bookingNumber, opts = {}) => flow.cancelByMember(bookingNumber, opts.late ?? false),
    checkIn: (bookingNumber) => flow.checkIn(bookingNumber),
    booking: (bookingNumber) => {
      const booking = store.bookings.get(bookingNumber);
      return booking ? bookingView(booking) : undefined;
    },
    deleteClass: (gymId, classId) => {
      const cls = store.classOf(gymId, String(classId));
      if (!cls) throw new Error(`class ${classId} of gym ${gymId} not found`);
      cls.deleted = true;
    },
    deliveries: () => flow.deliveries(),
    settle: () => flow.settle(),
    dispose: () => {
      flow.stopDeadlines();
      faults.releaseHanging();
    },
  };
}

/** Creates the sandbox and listens (port 0 = a free port; host default 127.0.0.1). */
export async function startWellhubSandbox(options: WellhubSandboxOptions & ListenOptions = {}): Promise<RunningWellhubSandbox> {
  const sandbox = createWellhubSandbox(options);
  const seeds = options.gyms ?? DEFAULT_SANDBOX_GYMS;
  const server = await listen(sandbox.app, {
    ...(options.port !== undefined ? { port: options.port } : {}),
    ...(options.host !== undefined ? { host: options.host } : {}),
  });
  return {
    ...sandbox,
    url: server.url,
    port: server.port,
    connection(gymId) {
      const gym = gymId === undefined ? seeds[0] : seeds.find((seed) => seed.id === gymId);
      if (!gym) throw new Error(`the sandbox has no gym ${gymId ?? '(none seeded)'}`);
      const product = gym.products.find((p) => !p.virtual) ?? gym.products[0];
      return {
        connectionId: `wellhub-sandbox-gym-${gym.id}`,
        externalVenueId: String(gym.id),
        baseUrl: server.url,
        credentials: { apiToken: gym.token, webhookSecret: gym.webhookSecret },
        settings: product ? { productId: product.product_id } : {},
      };
    },
    async close() {
      // Pending deadlines must not fire into a stopped sandbox.
      sandbox.dispose();
      await server.close();
    },
  };
}
