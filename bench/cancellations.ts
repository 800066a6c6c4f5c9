/**
 * `npx tsx bench/cancellations.ts`: how fast a studio's session cancellation reaches every aggregator (the
 * cancellation fan-out), measured end to end on the local stack (embedded PostgreSQL, Temporal dev server,
 * worker + API, the five sandboxes in the service's process), started here on a throw-away DATA_DIR and free ports
 * and stopped at the end.
 *
 *   1. seeds through the API: a company, a venue, five active connections with the sandboxes' credentials (every
 *      sandbox's webhooks pointed at <api>/webhooks/<aggregator>), one opted-in activity with room for every booking
 *      and no aggregator limit;
 *   2. then, run after run (default 10): creates a session, waits until all five sandboxes hold it, books it through
 *      every sandbox's control API (`POST /__sandbox/bookings`, 10 members per aggregator: 50 bookings, one request
 *      at a time; a booking refused at its sandbox, e.g. Onefit's synchronous answer missing its budget on a loaded
 *      machine, is replaced by another member's and counted in the report), waits until all 50 are reserved at
 *      their sandboxes and in the ledger, every lane idle and the booking workflows' linger over (a quiet stack; a
 *      run whose preparation fails is reported as not measured, its session cancelled), then times from just before `POST /v1/sessions/{id}/cancel` until every sandbox holds
 *      every one of its bookings cancelled by the gym (Wellhub CANCELLED_BY_GYM, partners cancelled_by_venue);
 *      polled every 20 ms, lightly (Wellhub: one booking at a time, `GET /__sandbox/bookings/:n`; partners:
 *      `GET /__sandbox/state`), and read from the sandboxes' own records of when each booking changed (Wellhub: the
 *      booking's history; partners: updated_at), which is what the headline numbers use; also the time until the
 *      API reports the cancellation `done`, per-aggregator times, the aggregator calls the fan-out made (the
 *      sandboxes' call logs) and where the time went (the fan-out workflows' Temporal histories).
 *
 * Options (flag or environment):
 *   --runs N          BENCH_CANCEL_RUNS          cancellations measured (default 10)
 *   --per-aggregator N BENCH_CANCEL_PER_AGGREGATOR bookings per aggregator and session (default 10: 50 bookings)
 *   --poll-ms N       BENCH_CANCEL_POLL_MS       how often the sandboxes and the API are polled while a cancellation
 *                                                runs (default 20; the sandboxes run in the service's process, so
 *                                                polling loads it)
 *   --timeout-s N     BENCH_CANCEL_TIMEOUT_S     how long one cancellation may take before the run counts as failed
 *                                                (default 60)
 *   --histories       BENCH_CANCEL_HISTORIES=1   also print each fan-out's workflow histories (event types, ms after
 *                                                the POST) to stderr
 * The report goes to stdout, progress to stderr. Exit code 1 when the stack does not start, a step fails, or a
 * cancellation does not reach every aggregator within the timeout; 130 on Ctrl-C.
 */
import os from 'node:os';
import { performance } from 'node:perf_hooks';
import { Client, Connection } from '@temporalio/client';
import { AGGREGATORS, type Aggregator } from '../domain/model.js';
import { cpuBetween, cpuSnapshot, type CpuUse } from './cpu.js';
import { eventMs, eventType, has, historyOf, type TimedEvent } from './history.js';
import type { Api} from './http.js';
import { clearSandboxCalls, countCalls, fetchJson, laneIdle, sandboxCalls, sandboxState, type RecordedCall, type SyncStatus } from './http.js';
import { intOption } from './options.js';
import { localIso, machineLines, ms, progress, secs, sleep, summary as summarize, table, type Summary } from './report.js';
import { isInterrupted, runBenchmark } from './runner.js';
import { seedStudio } from './seed.js';
import {
  occurMs,
  PARTNER_CANCELLED,
  PARTNER_RESERVED,
  partnerVenue,
  VENUE_TIME_ZONE,
  WELLHUB_CANCELLED,
  WELLHUB_GYM,
  WELLHUB_RESERVED,
  type PartnerState,
  type WellhubBookingView,
  type WellhubState,
} from './sandbox-views.js';
import { logTail, startStack, type Stack } from './stack.js';

// --- options --------------------------------------------------------------------------------------------------------

const RUNS = intOption('runs', 'BENCH_CANCEL_RUNS', 10, 1, 1_000);
const PER_AGGREGATOR = intOption('per-aggregator', 'BENCH_CANCEL_PER_AGGREGATOR', 10, 1, 200);
const POLL_MS = intOption('poll-ms', 'BENCH_CANCEL_POLL_MS', 20, 1, 1_000);
const CANCEL_TIMEOUT_MS = intOption('timeout-s', 'BENCH_CANCEL_TIMEOUT_S', 60, 1, 3_600) * 1000;
const HISTORIES = process.argv.includes('--histories') || process.env.BENCH_CANCEL_HISTORIES === '1';

const BOOKINGS = PER_AGGREGATOR * AGGREGATORS.length;
/** Room for every booking of a session, and a few spots more: no booking is refused for want of a spot. */
const MAX_PARTICIPANTS = BOOKINGS + 10;
const PUBLISH_TIMEOUT_MS = 60_000;
const RESERVE_TIMEOUT_MS = 90_000;
const IDLE_TIMEOUT_MS = 60_000;
/** How often the preparation of a run (not the measurement) polls. */
const PREP_POLL_MS = 100;
/** The booking workflow's LINGER_MS (workflows/booking-request/workflow.ts) and a margin: a run starts on a quiet stack. */
const LINGER_MS = 10_000;
const QUIET_AFTER_RESERVED_MS = LINGER_MS + 1_000;
/** After the fan-out, how long to wait for stray aggregator calls (a lifecycle pass) before reading the call logs. */
const CALLS_SETTLE_MS = 1_000;
const REASON = 'bench: instructor ill';

// --- small helpers --------------------------------------------------------------------------------------------------

/** Percentiles of the values that completed. */
const summary = (values: number[]) => summarize(values, true);
const summaryRow = (label: string, s: Summary): (string | number)[] => [label, s.n, ms(s.min), ms(s.p50), ms(s.p95), ms(s.max), ms(s.mean)];
const SUMMARY_HEADER = ['', 'n', 'min', 'p50', 'p95', 'max', 'mean'];

/** A probe's verdict that waiting longer is pointless (a booking refused): `until` gives up at once. */
class Refused extends Error {}

/**
 * Polls `probe` every `everyMs` until it returns a value; throws with the last `describe()` after `timeoutMs`. A probe
 * that throws is tried again, unless it throws Refused.
 */
async function until<T>(probe: () => Promise<T | undefined>, timeoutMs: number, everyMs: number, what: string, describe?: () => string): Promise<T> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const value = await probe().catch((error: unknown) => {
      if (error instanceof Refused) throw error;
      return undefined;
    });
    if (value !== undefined) return value;
    if (performance.now() > deadline) throw new Error(`${what} did not happen within ${secs(timeoutMs)}${describe ? `: ${describe()}` : ''}`);
    await sleep(everyMs);
  }
}

// --- the API's views ------------------------------------------------------------------------------------------------

interface CancellationBody {
  sessionId: string;
  status: 'in_progress' | 'done' | 'failed';
  bookingsCancelled: number;
  requestedAt: string;
  completedAt: string | null;
  aggregators: { aggregator: Aggregator; status: string; attempts: number; lastError: string | null; doneAt: string | null }[];
}

interface SignInList {
  items: { bookingId: string; source: string; status: string }[];
}

// --- seeding --------------------------------------------------------------------------------------------------------

interface Seeded {
  api: Api;
  activityId: string;
  /** Wellhub's class for the activity, once the first session is there. */
  wellhubClassId?: number;
}

async function seed(stack: Stack): Promise<Seeded> {
  const { api, venueId } = await seedStudio(stack, 'Bench Cancellations Studio');
  const activity = await api.call<{ id: string }>('POST', '/v1/activities', {
    venueId,
    name: 'Bench Cancellations',
    maxParticipants: MAX_PARTICIPANTS,
    registrationRules: { allowAggregatorBookings: true },
  });
  return { api, activityId: activity.id };
}

// --- one run --------------------------------------------------------------------------------------------------------

interface BookedAt {
  aggregator: Aggregator;
  bookingNumber: string;
}

/** When each aggregator's part was done, ms after the cancel request was sent. */
type PerAggregator = Partial<Record<Aggregator, number>>;

interface RunResult {
  run: number;
  sessionId: string;
  /** Epoch ms just before the cancel request was sent. */
  wall0: number;
  publishMs: number;
  bookMs: number;
  reserveMs: number;
  /** Bookings refused at their sandbox while the session was booked (replaced by others), with the reason. */
  replaced: string[];
  /** Reserved bookings in the ledger before the cancel (the bookings the aggregators hold, and any the ledger holds beyond). */
  ledgerReserved: number;
  apiMs: number;
  bookingsCancelled: number;
  /** The sandboxes' own records: when the last of each aggregator's bookings turned cancelled by the gym. */
  lastCancelled: PerAggregator;
  firstCancelled: PerAggregator;
  /** The same, as seen by polling. */
  seen: PerAggregator;
  /** All five, by the sandboxes' records (undefined when some did not get there within the timeout). */
  allMs: number | undefined;
  allSeenMs: number | undefined;
  /** The API: seen `done` by polling, and its completedAt. */
  apiDoneSeenMs: number | undefined;
  apiCompletedMs: number | undefined;
  apiStatus: string;
  /** The branches' doneAt as the API reports them. */
  branchDone: PerAggregator;
  attempts: Partial<Record<Aggregator, number>>;
  branchErrors: string[];
  /** Who cancelled Wellhub's bookings (the history's `by`): the gym's PATCH, or Wellhub itself when the slot went. */
  wellhubBy: Record<string, number>;
  calls: Record<Aggregator, RecordedCall[]>;
  sessionGone: Partial<Record<Aggregator, boolean>>;
  milestones: Milestones | undefined;
  polls: number;
  /** Cores busy from the POST until the last poll. */
  cpu: CpuUse | undefined;
  failure?: string;
}

/** Creates a session and waits until every sandbox holds it; its start and Wellhub's slot id. */
async function publishSession(stack: Stack, seeded: Seeded, run: number): Promise<{ sessionId: string; startsAt: number; slotId: number; ms: number }> {
  // From tomorrow, one session every two hours: far from any booking window's close, well within the horizon.
  const first = Math.ceil(Date.now() / 3_600_000) * 3_600_000 + 24 * 3_600_000;
  const startsAt = first + run * 2 * 3_600_000;
  const started = performance.now();
  const session = await seeded.api.call<{ id: string }>('POST', `/v1/activities/${seeded.activityId}/sessions`, {
    startsAt: localIso(startsAt, VENUE_TIME_ZONE),
    durationMinutes: 60,
    room: 'Studio 1',
    instructors: [{ name: 'Ana' }],
  });
  const held: Partial<Record<Aggregator, boolean>> = {};
  let slotId = 0;
  await until(
    async () => {
      await Promise.all(
        AGGREGATORS.filter((a) => !held[a]).map(async (aggregator) => {
          if (aggregator === 'wellhub') {
            const state = await sandboxState<WellhubState>(stack.sandboxUrls.wellhub);
            const gym = state.gyms.find((g) => String(g.id) === WELLHUB_GYM);
            const cls = gym?.classes.find((c) => !c.deleted && c.reference === seeded.activityId);
            const slot = cls && gym?.slots.find((s) => !s.deleted && s.class_id === cls.id && occurMs(s.occur_date) === startsAt);
            if (cls && slot) {
              seeded.wellhubClassId = cls.id;
              slotId = slot.id;
              held.wellhub = true;
            }
            return;
          }
          const state = await sandboxState<PartnerState>(stack.sandboxUrls[aggregator]);
          if (state.sessions.some((s) => s.reference === session.id && s.status === 'scheduled')) held[aggregator] = true;
        }),
      );
      return AGGREGATORS.every((a) => held[a]) ? true : undefined;
    },
    PUBLISH_TIMEOUT_MS,
    PREP_POLL_MS,
    `session ${session.id} reaching every sandbox`,
    () => `not held by ${AGGREGATORS.filter((a) => !held[a]).join(', ')}`,
  );
  return { sessionId: session.id, startsAt, slotId, ms: performance.now() - started };
}

/** One member books the session through the aggregator's sandbox (which sends the webhook); the booking number. */
async function bookOne(stack: Stack, seeded: Seeded, aggregator: Aggregator, member: string, sessionId: string, slotId: number): Promise<string> {
  const body =
    aggregator === 'wellhub'
      ? { gym_id: WELLHUB_GYM, slot_id: slotId, user: { unique_token: member, name: member, email: `${member}@members.example` } }
      : {
          venue_id: partnerVenue(aggregator),
          session_reference: sessionId,
          activity_reference: seeded.activityId,
          member: { id: member, name: member, email: `${member}@members.example` },
        };
  const res = await fetchJson<{ booking: { booking_number?: string; id?: string } }>(`${stack.sandboxUrls[aggregator]}/__sandbox/bookings`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  const bookingNumber = res.body?.booking.booking_number ?? res.body?.booking.id;
  if (res.status !== 201 || bookingNumber === undefined) throw new Error(`${aggregator}: POST /__sandbox/bookings answered ${res.status}: ${res.text.slice(0, 300)}`);
  return bookingNumber;
}

/** Each booking's status at its sandbox, in one vocabulary: reserved, pending, or what refused it. */
async function sandboxStatuses(stack: Stack, booked: BookedAt[]): Promise<Map<string, string>> {
  const statuses = new Map<string, string>();
  const wanted = new Set(booked.map((b) => `${b.aggregator}:${b.bookingNumber}`));
  await Promise.all(
    AGGREGATORS.map(async (aggregator) => {
      if (aggregator === 'wellhub') {
        const state = await sandboxState<WellhubState>(stack.sandboxUrls.wellhub);
        for (const b of state.gyms.flatMap((g) => g.bookings)) {
          const key = `wellhub:${b.booking_number}`;
          if (!wanted.has(key)) continue;
          statuses.set(key, b.state === WELLHUB_RESERVED ? 'reserved' : b.state === 'PENDING' ? 'pending' : `${b.state} ${b.reason_category ?? ''}`.trim());
        }
        return;
      }
      const state = await sandboxState<PartnerState>(stack.sandboxUrls[aggregator]);
      for (const b of state.bookings) {
        const key = `${aggregator}:${b.id}`;
        if (!wanted.has(key)) continue;
        statuses.set(key, b.status === PARTNER_RESERVED ? 'reserved' : b.status === 'pending' ? 'pending' : `${b.status} ${b.reason_code ?? ''}`.trim());
      }
    }),
  );
  return statuses;
}

/**
 * How long booking a session may take, replacements included, before the run is given up (not measured): on a loaded
 * machine Onefit's synchronous answer can miss its 800 ms budget (TECHNICAL_ERROR) again and again.
 */
const BOOKING_BUDGET_MS = 180_000;
/** The pause before replacements are sent, so that a loaded stack can catch up. */
const REPLACEMENT_PAUSE_MS = 2_000;

/**
 * PER_AGGREGATOR members per aggregator book the session through the sandboxes' control API, one request at a time,
 * round robin over the aggregators: the preparation is not what is measured, and a burst of 50 on a loaded machine can
 * miss Onefit's 1-second synchronous answer (the booking then expires there). A booking refused at its sandbox is
 * replaced by another member's, so that the session holds PER_AGGREGATOR reserved bookings of each aggregator; then
 * waits until the ledger has decided every request and holds at least as many reserved.
 */
async function bookSession(
  stack: Stack,
  seeded: Seeded,
  run: number,
  sessionId: string,
  slotId: number,
): Promise<{ booked: BookedAt[]; replaced: string[]; ledgerReserved: number; sentMs: number }> {
  const started = performance.now();
  const reserved: BookedAt[] = [];
  const replaced: string[] = [];
  let memberSeq = 0;
  let pending: BookedAt[] = [];
  const want = new Map<Aggregator, number>(AGGREGATORS.map((a) => [a, PER_AGGREGATOR]));
  let sentMs = 0;
  while (AGGREGATORS.some((a) => (want.get(a) ?? 0) > 0)) {
    while (AGGREGATORS.some((a) => (want.get(a) ?? 0) > 0)) {
      for (const aggregator of AGGREGATORS) {
        if ((want.get(aggregator) ?? 0) <= 0) continue;
        memberSeq += 1;
        const member = `bench-cancel-${process.pid}-r${run + 1}-${memberSeq}`;
        pending.push({ aggregator, bookingNumber: await bookOne(stack, seeded, aggregator, member, sessionId, slotId) });
        want.set(aggregator, (want.get(aggregator) ?? 0) - 1);
      }
    }
    sentMs = performance.now() - started;
    const statuses = await until(
      async () => {
        const now = await sandboxStatuses(stack, pending);
        return pending.every((b) => (now.get(`${b.aggregator}:${b.bookingNumber}`) ?? 'pending') !== 'pending') ? now : undefined;
      },
      RESERVE_TIMEOUT_MS,
      PREP_POLL_MS,
      `every booking answered at its sandbox`,
    );
    for (const b of pending) {
      const status = statuses.get(`${b.aggregator}:${b.bookingNumber}`) ?? '?';
      if (status === 'reserved') {
        reserved.push(b);
        continue;
      }
      replaced.push(`${b.aggregator} ${b.bookingNumber}: ${status}`);
      if (performance.now() - started > BOOKING_BUDGET_MS) {
        throw new Error(`the session was not fully booked within ${secs(BOOKING_BUDGET_MS)}; ${replaced.length} bookings refused at their sandboxes: ${replaced.slice(-5).join('; ')} ...`);
      }
      want.set(b.aggregator, (want.get(b.aggregator) ?? 0) + 1);
    }
    pending = [];
    if (AGGREGATORS.some((a) => (want.get(a) ?? 0) > 0)) await sleep(REPLACEMENT_PAUSE_MS);
  }
  // The ledger: every request decided (none `requested`), and at least the bookings the aggregators hold reserved.
  const ledgerReserved = await until(
    async () => {
      const list = await seeded.api.call<SignInList>('GET', `/v1/sessions/${sessionId}/bookings`);
      const count = list.items.filter((b) => b.status === 'reserved').length;
      return list.items.every((b) => b.status !== 'requested') && count >= reserved.length ? count : undefined;
    },
    RESERVE_TIMEOUT_MS,
    PREP_POLL_MS,
    `all ${reserved.length} bookings reserved in the ledger`,
  );
  return { booked: reserved, replaced, ledgerReserved, sentMs };
}

/** Every lane of the activity idle: the free-spot counts have reached every aggregator and nothing else is under way. */
async function waitLanesIdle(api: Api, activityId: string): Promise<void> {
  await until(
    async () => {
      const status = await api.call<SyncStatus>('GET', `/v1/activities/${activityId}/sync`);
      return status.connections.length === AGGREGATORS.length && status.connections.every(laneIdle) ? true : undefined;
    },
    IDLE_TIMEOUT_MS,
    250,
    'every lane of the activity idle',
  );
}

/** A run whose preparation failed (the session could not be published or fully booked): it is not measured. */
class NotMeasured extends Error {
  constructor(
    message: string,
    readonly sessionId: string | undefined,
  ) {
    super(message);
  }
}

async function measureRun(stack: Stack, seeded: Seeded, temporal: Client | undefined, run: number): Promise<RunResult> {
  let sessionId: string | undefined;
  let prepared;
  try {
    const published = await publishSession(stack, seeded, run);
    sessionId = published.sessionId;
    const bookStarted = performance.now();
    const booking = await bookSession(stack, seeded, run, published.sessionId, published.slotId);
    const reserveMs = performance.now() - bookStarted;
    if (booking.replaced.length > 0) progress(`  run ${run + 1}: ${booking.replaced.length} booking(s) refused at their sandbox and replaced: ${booking.replaced.join('; ')}`);
    const reservedAt = performance.now();
    await waitLanesIdle(seeded.api, seeded.activityId);
    const quiet = QUIET_AFTER_RESERVED_MS - (performance.now() - reservedAt);
    if (quiet > 0) await sleep(quiet);
    await Promise.all(AGGREGATORS.map((aggregator) => clearSandboxCalls(stack.sandboxUrls[aggregator])));
    prepared = { ...published, ...booking, reserveMs };
  } catch (error) {
    throw new NotMeasured(error instanceof Error ? error.message : String(error), sessionId);
  }
  const { slotId, booked, replaced, ledgerReserved, sentMs: bookMs, reserveMs } = prepared;

  const byAggregator = new Map<Aggregator, string[]>(AGGREGATORS.map((a) => [a, booked.filter((b) => b.aggregator === a).map((b) => b.bookingNumber)]));
  const result: RunResult = {
    run,
    sessionId,
    wall0: 0,
    publishMs: prepared.ms,
    bookMs,
    reserveMs,
    replaced,
    ledgerReserved,
    apiMs: 0,
    bookingsCancelled: 0,
    lastCancelled: {},
    firstCancelled: {},
    seen: {},
    allMs: undefined,
    allSeenMs: undefined,
    apiDoneSeenMs: undefined,
    apiCompletedMs: undefined,
    apiStatus: 'unknown',
    branchDone: {},
    attempts: {},
    branchErrors: [],
    wellhubBy: {},
    calls: Object.fromEntries(AGGREGATORS.map((a) => [a, []])) as unknown as Record<Aggregator, RecordedCall[]>,
    sessionGone: {},
    milestones: undefined,
    polls: 0,
    cpu: undefined,
  };

  // --- the measurement ------------------------------------------------------------------------------------------
  const cpuBefore = cpuSnapshot(stack.pgid);
  const wall0 = Date.now();
  const t0 = performance.now();
  result.wall0 = wall0;
  const answer = await seeded.api.call<CancellationBody>('POST', `/v1/sessions/${sessionId}/cancel`, { reason: REASON });
  result.apiMs = performance.now() - t0;
  result.bookingsCancelled = answer.bookingsCancelled;

  /** Wellhub bookings seen cancelled so far (polled one at a time, in turn: they are cancelled one by one). */
  const wellhubSeen = new Set<string>();
  let partnerStates: Partial<Record<Aggregator, PartnerState>> = {};
  let apiBody: CancellationBody | undefined;
  const pending = () => AGGREGATORS.filter((a) => result.seen[a] === undefined);
  while ((pending().length > 0 || result.apiDoneSeenMs === undefined) && performance.now() - t0 < CANCEL_TIMEOUT_MS) {
    const roundStarted = performance.now();
    result.polls += 1;
    const tasks: Promise<void>[] = pending().map(async (aggregator) => {
      const mine = byAggregator.get(aggregator)!;
      if (aggregator === 'wellhub') {
        for (const number of mine) {
          if (wellhubSeen.has(number)) continue;
          const res = await fetchJson<WellhubBookingView>(`${stack.sandboxUrls.wellhub}/__sandbox/bookings/${number}`);
          if (res.body?.state !== WELLHUB_CANCELLED) return;
          wellhubSeen.add(number);
        }
        if (wellhubSeen.size === mine.length) result.seen.wellhub = performance.now() - t0;
        return;
      }
      const state = await sandboxState<PartnerState>(stack.sandboxUrls[aggregator]);
      partnerStates = { ...partnerStates, [aggregator]: state };
      const cancelled = state.bookings.filter((b) => mine.includes(b.id) && b.status === PARTNER_CANCELLED).length;
      if (cancelled === mine.length) result.seen[aggregator] = performance.now() - t0;
    });
    if (result.apiDoneSeenMs === undefined) {
      tasks.push(
        (async () => {
          apiBody = await seeded.api.call<CancellationBody>('GET', `/v1/sessions/${sessionId}/cancellation`);
          if (apiBody.status !== 'in_progress') result.apiDoneSeenMs = performance.now() - t0;
        })(),
      );
    }
    await Promise.all(tasks.map((t) => t.catch(() => undefined)));
    const wait = POLL_MS - (performance.now() - roundStarted);
    if (wait > 0) await sleep(wait);
  }
  result.cpu = cpuBetween(cpuBefore, cpuSnapshot(stack.pgid));
  if (result.apiDoneSeenMs !== undefined && AGGREGATORS.every((a) => result.seen[a] !== undefined)) {
    result.allSeenMs = Math.max(...AGGREGATORS.map((a) => result.seen[a]!));
  }

  // --- what the sandboxes, the API and Temporal recorded -----------------------------------------------------------
  await sleep(CALLS_SETTLE_MS);
  const rel = (iso: string | null | undefined) => (iso ? Date.parse(iso) - wall0 : undefined);
  const wellhub = await sandboxState<WellhubState>(stack.sandboxUrls.wellhub);
  const wellhubNumbers = new Set(byAggregator.get('wellhub'));
  const wellhubBookings = wellhub.gyms.flatMap((g) => g.bookings).filter((b) => wellhubNumbers.has(b.booking_number));
  const wellhubTimes: number[] = [];
  for (const b of wellhubBookings) {
    const entry = b.history.find((h) => h.state === WELLHUB_CANCELLED);
    if (!entry) continue;
    wellhubTimes.push(Date.parse(entry.at) - wall0);
    result.wellhubBy[entry.by] = (result.wellhubBy[entry.by] ?? 0) + 1;
  }
  if (wellhubTimes.length === PER_AGGREGATOR) {
    result.lastCancelled.wellhub = Math.max(...wellhubTimes);
    result.firstCancelled.wellhub = Math.min(...wellhubTimes);
  }
  const wellhubSlot = wellhub.gyms.flatMap((g) => g.slots).find((s) => s.id === slotId);
  result.sessionGone.wellhub = wellhubSlot === undefined || wellhubSlot.deleted;
  for (const aggregator of AGGREGATORS.filter((a) => a !== 'wellhub')) {
    const state = await sandboxState<PartnerState>(stack.sandboxUrls[aggregator]);
    const mine = new Set(byAggregator.get(aggregator));
    const times = state.bookings.filter((b) => mine.has(b.id) && b.status === PARTNER_CANCELLED).map((b) => Date.parse(b.updated_at) - wall0);
    if (times.length === PER_AGGREGATOR) {
      result.lastCancelled[aggregator] = Math.max(...times);
      result.firstCancelled[aggregator] = Math.min(...times);
    }
    result.sessionGone[aggregator] = state.sessions.find((s) => s.reference === sessionId)?.status !== 'scheduled';
  }
  if (AGGREGATORS.every((a) => result.lastCancelled[a] !== undefined)) result.allMs = Math.max(...AGGREGATORS.map((a) => result.lastCancelled[a]!));

  apiBody = await seeded.api.call<CancellationBody>('GET', `/v1/sessions/${sessionId}/cancellation`).catch(() => apiBody);
  if (apiBody) {
    result.apiStatus = apiBody.status;
    result.apiCompletedMs = rel(apiBody.completedAt);
    for (const branch of apiBody.aggregators) {
      result.branchDone[branch.aggregator] = rel(branch.doneAt);
      result.attempts[branch.aggregator] = branch.attempts;
      if (branch.lastError) result.branchErrors.push(`${branch.aggregator} (${branch.status}, ${branch.attempts} attempts): ${branch.lastError}`);
    }
  }
  const calls = await Promise.all(AGGREGATORS.map((aggregator) => sandboxCalls(stack.sandboxUrls[aggregator])));
  AGGREGATORS.forEach((aggregator, i) => {
    result.calls[aggregator] = calls[i] ?? [];
  });
  if (temporal) result.milestones = await milestonesOf(temporal, sessionId, wall0).catch(() => undefined);

  const missing = AGGREGATORS.filter((a) => result.lastCancelled[a] === undefined);
  if (missing.length > 0 || result.apiStatus !== 'done') {
    result.failure =
      `within ${secs(CANCEL_TIMEOUT_MS)}: ` +
      (missing.length > 0 ? `not every booking cancelled at ${missing.join(', ')}; ` : '') +
      `the API says ${result.apiStatus}` +
      (result.branchErrors.length > 0 ? `; ${result.branchErrors.join('; ')}` : '');
  }
  return result;
}

// --- where the time goes (Temporal histories) -----------------------------------------------------------------------

/** Milestones of one fan-out, ms after the cancel request was sent (Temporal's clock: the same machine). */
interface Milestones {
  parentStarted: number;
  /** The parent's first workflow task started: the worker picked the new workflow up. */
  parentFirstTask: number;
  /** openBranches and inFlightRequests done: the first child is initiated. */
  childrenInitiated: number;
  /** Per aggregator: the child's run started, its cancelAtAggregator activity scheduled and completed, the child closed. */
  childStarted: PerAggregator;
  activityScheduled: PerAggregator;
  activityCompleted: PerAggregator;
  childClosed: PerAggregator;
  /** The parent saw the last child close, then completeCancellation completed, then the parent closed. */
  lastChildClosedSeen: number;
  completeCancellationDone: number;
  parentClosed: number;
}

/** "workflowTaskStarted+86 ..." : a history's event types with their times after the POST. */
function timeline(events: TimedEvent[], wall0: number): string {
  return events
    .map((e) => {
      return `${eventType(e)}+${Math.round(eventMs(e) - wall0)}`;
    })
    .join(' ');
}

async function milestonesOf(client: Client, sessionId: string, wall0: number): Promise<Milestones | undefined> {
  const parentId = `session-cancellation:${sessionId}`;
  const parent = await historyOf(client, parentId);
  const at = (events: TimedEvent[], attributes: string, from = 0) => {
    const event = events.slice(from).find((e) => has(e, attributes));
    return event ? eventMs(event) - wall0 : Number.NaN;
  };
  const lastAt = (events: TimedEvent[], attributes: string) => {
    const found = events.filter((e) => has(e, attributes));
    return found.length > 0 ? eventMs(found.at(-1)!) - wall0 : Number.NaN;
  };
  const first = parent[0];
  if (!first) return undefined;
  if (HISTORIES) progress(`  ${parentId}: ${timeline(parent, wall0)}`);
  const m: Milestones = {
    parentStarted: eventMs(first) - wall0,
    parentFirstTask: at(parent, 'workflowTaskStartedEventAttributes'),
    childrenInitiated: at(parent, 'startChildWorkflowExecutionInitiatedEventAttributes'),
    childStarted: {},
    activityScheduled: {},
    activityCompleted: {},
    childClosed: {},
    lastChildClosedSeen: lastAt(parent, 'childWorkflowExecutionCompletedEventAttributes'),
    completeCancellationDone: lastAt(parent, 'activityTaskCompletedEventAttributes'),
    parentClosed: at(parent, 'workflowExecutionCompletedEventAttributes'),
  };
  await Promise.all(
    AGGREGATORS.map(async (aggregator) => {
      const events = await historyOf(client, `${parentId}:${aggregator}`).catch(() => []);
      const start = events[0];
      if (!start) return;
      if (HISTORIES) progress(`  ${parentId}:${aggregator}: ${timeline(events, wall0)}`);
      m.childStarted[aggregator] = eventMs(start) - wall0;
      m.activityScheduled[aggregator] = at(events, 'activityTaskScheduledEventAttributes');
      m.activityCompleted[aggregator] = at(events, 'activityTaskCompletedEventAttributes');
      m.childClosed[aggregator] = at(events, 'workflowExecutionCompletedEventAttributes');
    }),
  );
  return m;
}

// --- the report -----------------------------------------------------------------------------------------------------

const perAggregatorValues = (results: RunResult[], pick: (r: RunResult) => PerAggregator, aggregator: Aggregator) =>
  results.flatMap((r) => {
    const value = pick(r)[aggregator];
    return value === undefined ? [] : [value];
  });

const maxOf = (values: PerAggregator) => {
  const list = Object.values(values).filter((v): v is number => v !== undefined && Number.isFinite(v));
  return list.length === AGGREGATORS.length ? Math.max(...list) : Number.NaN;
};
const minOf = (values: PerAggregator) => {
  const list = Object.values(values).filter((v): v is number => v !== undefined && Number.isFinite(v));
  return list.length > 0 ? Math.min(...list) : Number.NaN;
};

function reportLines(results: RunResult[], stackMs: number): string[] {
  const complete = results.filter((r) => r.failure === undefined);
  const all = summary(complete.map((r) => r.allMs!));
  const lines: string[] = [
    '',
    'Cancellation fan-out benchmark (npx tsx bench/cancellations.ts)',
    ...machineLines(),
    `  stack      npx tsx bin/service.ts start: embedded PostgreSQL, Temporal dev server, worker + API, 5 sandboxes (in the service's process); LOG_LEVEL=warn`,
    `  data       1 venue (${VENUE_TIME_ZONE}), 5 active connections, 1 opted-in activity (maxParticipants ${MAX_PARTICIPANTS}, no aggregator limit);`,
    `             per run a new session booked by ${PER_AGGREGATOR} members at each of the 5 aggregators (${BOOKINGS} bookings, all reserved), then cancelled`,
    `  runs       ${RUNS} (percentiles are nearest-rank over the runs: with ${RUNS} runs p95 is the value of rank ${Math.ceil(0.95 * RUNS)} of ${RUNS})`,
    '',
    `Stack start to /readyz 200: ${secs(stackMs)}`,
    `Preparing a run: session on all 5 sandboxes p50 ${ms(summary(results.map((r) => r.publishMs)).p50)} ms; ${BOOKINGS} bookings sent one at a time p50 ${ms(
      summary(results.map((r) => r.bookMs)).p50,
    )} ms, all reserved (sandboxes and ledger) p50 ${ms(summary(results.map((r) => r.reserveMs)).p50)} ms after the first was sent`,
    `  bookings refused at their sandbox while booking (replaced by another member's): ${refusedSummary(results.flatMap((r) => r.replaced))}`,
    `  runs where the ledger held more reserved bookings than the aggregators: ${
      results.filter((r) => r.ledgerReserved !== BOOKINGS).map((r) => `run ${r.run + 1} (${r.ledgerReserved})`).join(', ') || 'none'
    }; runs where the cancel answered another bookingsCancelled than the ledger's reserved count: ${
      results.filter((r) => r.bookingsCancelled !== r.ledgerReserved).map((r) => `run ${r.run + 1} (${r.bookingsCancelled})`).join(', ') || 'none'
    }`,
    '',
    `Cancel-to-aggregators latency: POST /v1/sessions/{id}/cancel of a session with ${BOOKINGS} reserved bookings, timed from just before the request`,
    `until every sandbox holds every one of its ${PER_AGGREGATOR} bookings cancelled by the gym (Wellhub CANCELLED_BY_GYM, partners cancelled_by_venue),`,
    `by the sandboxes' own records of when each booking changed; in ms over ${complete.length} complete run(s):`,
  ];
  const rows: (string | number)[][] = [summaryRow('all five aggregators', all)];
  for (const aggregator of AGGREGATORS) {
    rows.push(summaryRow(`  ${aggregator}`, summary(perAggregatorValues(complete, (r) => r.lastCancelled, aggregator))));
  }
  rows.push(summaryRow('first booking cancelled anywhere', summary(complete.map((r) => minOf(r.firstCancelled)))));
  rows.push(summaryRow('all five, seen by polling', summary(complete.map((r) => r.allSeenMs ?? Number.NaN))));
  rows.push(summaryRow('API answered the POST (202)', summary(results.map((r) => r.apiMs))));
  rows.push(summaryRow('API reports done, seen by polling', summary(complete.map((r) => r.apiDoneSeenMs ?? Number.NaN))));
  rows.push(summaryRow("API's completedAt", summary(complete.map((r) => r.apiCompletedMs ?? Number.NaN))));
  for (const aggregator of AGGREGATORS) {
    rows.push(summaryRow(`  ${aggregator} branch doneAt`, summary(perAggregatorValues(complete, (r) => r.branchDone, aggregator))));
  }
  lines.push(...table(SUMMARY_HEADER, rows));
  const spread = AGGREGATORS.filter((a) => a !== 'egym_wellpass').map((aggregator) => {
    const s = summary(
      complete.flatMap((r) => {
        const last = r.lastCancelled[aggregator];
        const first = r.firstCancelled[aggregator];
        return last !== undefined && first !== undefined ? [last - first] : [];
      }),
    );
    return `${aggregator} ${ms(s.p50)}`;
  });
  lines.push(
    `  first to last of an aggregator's ${PER_AGGREGATOR} bookings (p50, ms; EGYM Wellpass cancels the whole session in one call): ${spread.join(', ')}`,
    `  polled every ${POLL_MS} ms: ${Math.round(summary(results.map((r) => r.polls)).mean)} polling rounds per run on average (Wellhub one booking at a time, partners /__sandbox/state, the API's cancellation)`,
  );
  const cpus = results.flatMap((r) => (r.cpu ? [r.cpu] : []));
  if (cpus.length > 0) {
    const mean = (pick: (c: CpuUse) => number) => (cpus.reduce((sum, c) => sum + pick(c), 0) / cpus.length).toFixed(2);
    lines.push(
      `  CPU while a cancellation ran (mean over the runs, in cores of ${os.cpus().length}): machine busy ${mean((c) => c.machine)}, the stack ${mean((c) => c.stack)}, ` +
        `this benchmark ${mean((c) => c.bench)}, other work on the machine ${mean((c) => c.others)}`,
    );
  }
  const by = new Map<string, number>();
  for (const r of results) for (const [who, n] of Object.entries(r.wellhubBy)) by.set(who, (by.get(who) ?? 0) + n);
  lines.push(`  Wellhub's bookings were cancelled by: ${[...by].map(([who, n]) => `${who} ${n}`).join(', ') || '-'} (history 'by': gym = the service's PATCH, wellhub = the slot's DELETE)`);

  // Per run.
  lines.push('', 'Per run (ms after the POST was sent):');
  lines.push(
    ...table(
      ['run', 'all five', ...AGGREGATORS, 'API 202', 'API done', 'attempts', 'cpu others', 'outcome'],
      results.map((r) => [
        r.run + 1,
        ms(r.allMs),
        ...AGGREGATORS.map((a) => ms(r.lastCancelled[a])),
        ms(r.apiMs),
        ms(r.apiCompletedMs),
        AGGREGATORS.map((a) => r.attempts[a] ?? '?').join('/'),
        r.cpu ? r.cpu.others.toFixed(2) : '-',
        r.failure ?? 'ok',
      ]),
      true,
    ),
  );

  // Where the time goes.
  const withMilestones = complete.filter((r) => r.milestones !== undefined).map((r) => r.milestones!);
  if (withMilestones.length > 0) {
    const row = (label: string, values: number[]) => summaryRow(label, summary(values));
    const mRows: (string | number)[][] = [
      row('parent workflow started', withMilestones.map((m) => m.parentStarted)),
      row('its first workflow task started', withMilestones.map((m) => m.parentFirstTask)),
      row('ledger reads done, first child initiated', withMilestones.map((m) => m.childrenInitiated)),
      row('last child started', withMilestones.map((m) => maxOf(m.childStarted))),
      row('last cancelAtAggregator scheduled', withMilestones.map((m) => maxOf(m.activityScheduled))),
      row('first aggregator write received', complete.map((r) => firstWriteMs(r))),
      row('last cancelAtAggregator completed', withMilestones.map((m) => maxOf(m.activityCompleted))),
      row('last child closed', withMilestones.map((m) => maxOf(m.childClosed))),
      row('parent saw the last child close', withMilestones.map((m) => m.lastChildClosedSeen)),
      row('completeCancellation completed', withMilestones.map((m) => m.completeCancellationDone)),
      row('parent closed', withMilestones.map((m) => m.parentClosed)),
    ];
    lines.push(
      '',
      "Where the time goes: milestones of the fan-out, ms after the POST was sent (Temporal histories of session-cancellation:<id> and its",
      "children; aggregator writes from the sandboxes' call logs; one clock, one machine):",
      ...table(SUMMARY_HEADER, mRows),
      '  segments (ms; the children pooled over the aggregators):',
      ...table(SUMMARY_HEADER, segmentRows(withMilestones)),
      '  per aggregator, p50 ms after the POST: child started / activity scheduled / activity completed / child closed',
      ...AGGREGATORS.map((a) => {
        const p = (pick: (m: Milestones) => PerAggregator) => ms(summary(withMilestones.flatMap((m) => (pick(m)[a] === undefined ? [] : [pick(m)[a]!]))).p50);
        return `    ${a.padEnd(14)} ${p((m) => m.childStarted)} / ${p((m) => m.activityScheduled)} / ${p((m) => m.activityCompleted)} / ${p((m) => m.childClosed)}`;
      }),
    );
  }

  // The aggregator calls of the fan-out.
  lines.push('', `Aggregator calls during each cancellation (the sandboxes' call logs, from the POST until ${CALLS_SETTLE_MS} ms after the last poll), per run:`);
  const callRows = AGGREGATORS.map((aggregator) => {
    const counts = results.map((r) => countCalls(r.calls[aggregator]));
    const kinds = new Map<string, number>();
    for (const c of counts) for (const [kind, n] of Object.entries(c.byKind)) kinds.set(kind, (kinds.get(kind) ?? 0) + n);
    const durations = summary(results.flatMap((r) => r.calls[aggregator].filter((c) => c.method !== 'GET').map((c) => c.durationMs ?? Number.NaN)));
    const gaps = summary(results.flatMap((r) => writeGaps(r.calls[aggregator])));
    return [
      aggregator,
      (counts.reduce((s, c) => s + c.writes, 0) / Math.max(1, results.length)).toFixed(1),
      (counts.reduce((s, c) => s + c.reads, 0) / Math.max(1, results.length)).toFixed(1),
      ms(durations.p50),
      ms(gaps.p50),
      [...kinds]
        .sort((a, b) => b[1] - a[1])
        .map(([kind, n]) => `${(n / Math.max(1, results.length)).toFixed(1)} ${kind}`)
        .join(', ') || '-',
    ];
  });
  lines.push(...table(['aggregator', 'writes', 'reads', 'call p50 ms', 'gap p50 ms', 'calls per run'], callRows, true));
  lines.push('  call p50: how long the sandbox took to answer a write; gap p50: from one write\'s answer to the next write (the service\'s own time per booking)');
  const gone = AGGREGATORS.filter((a) => results.some((r) => r.sessionGone[a] === false));
  lines.push(`  the session gone from every sandbox after each run (Wellhub slot deleted, partners' session cancelled): ${gone.length === 0 ? 'yes' : `NO at ${gone.join(', ')}`}`);

  // Summary.
  const apiDone = summary(complete.map((r) => r.apiCompletedMs ?? Number.NaN));
  const slowest = AGGREGATORS.map((a) => ({ a, p50: summary(perAggregatorValues(complete, (r) => r.lastCancelled, a)).p50 })).sort((x, y) => y.p50 - x.p50)[0];
  const retries = results.filter((r) => AGGREGATORS.some((a) => (r.attempts[a] ?? 1) > 1)).length;
  lines.push(
    '',
    'Summary',
    `  cancel -> every booking cancelled at all 5 aggregators (${BOOKINGS} bookings): p50 ${ms(all.p50)} ms, p95 ${ms(all.p95)} ms, max ${ms(all.max)} ms over ${complete.length} of ${results.length} runs`,
    `  cancel -> API reports done: p50 ${ms(apiDone.p50)} ms, p95 ${ms(apiDone.p95)} ms, max ${ms(apiDone.max)} ms; the POST itself answered in p50 ${ms(summary(results.map((r) => r.apiMs)).p50)} ms`,
    `  slowest aggregator by p50: ${slowest ? `${slowest.a} (${ms(slowest.p50)} ms)` : '-'}; runs with a retried branch: ${retries}; failed runs: ${results.length - complete.length}`,
  );
  for (const r of results.filter((x) => x.failure !== undefined)) lines.push(`  run ${r.run + 1} (session ${r.sessionId}) failed ${r.failure}`);
  return lines;
}

/** "onefit 33 (rejected technical_error 32, expired no_answer 1)" from "onefit bk_...: rejected technical_error" lines. */
function refusedSummary(refused: string[]): string {
  if (refused.length === 0) return 'none';
  const byAggregator = new Map<string, Map<string, number>>();
  for (const line of refused) {
    const aggregator = line.split(' ')[0] ?? '?';
    const reason = line.slice(line.indexOf(': ') + 2);
    const reasons = byAggregator.get(aggregator) ?? new Map<string, number>();
    reasons.set(reason, (reasons.get(reason) ?? 0) + 1);
    byAggregator.set(aggregator, reasons);
  }
  return [...byAggregator]
    .map(([aggregator, reasons]) => `${aggregator} ${[...reasons.values()].reduce((a, b) => a + b, 0)} (${[...reasons].map(([r, n]) => `${r} ${n}`).join(', ')})`)
    .join('; ');
}

/** The first aggregator write of a run, ms after the POST was sent. */
function firstWriteMs(r: RunResult): number {
  const writes = AGGREGATORS.flatMap((a) => r.calls[a].filter((c) => c.method !== 'GET'));
  return writes.length > 0 ? Math.min(...writes.map((c) => Date.parse(c.at))) - r.wall0 : Number.NaN;
}

/** The fan-out's milestones as durations between them, p50/p95 over the runs (per child ones pooled over the aggregators). */
function segmentRows(all: Milestones[]): (string | number)[][] {
  const perChild = (from: (m: Milestones, a: Aggregator) => number | undefined, to: (m: Milestones, a: Aggregator) => number | undefined) =>
    all.flatMap((m) =>
      AGGREGATORS.flatMap((a) => {
        const x = from(m, a);
        const y = to(m, a);
        return x === undefined || y === undefined || !Number.isFinite(x) || !Number.isFinite(y) ? [] : [y - x];
      }),
    );
  return [
    summaryRow('POST sent -> parent workflow started', summary(all.map((m) => m.parentStarted))),
    summaryRow('parent started -> its first workflow task started', summary(all.map((m) => m.parentFirstTask - m.parentStarted))),
    summaryRow('first task -> first child initiated (ledger activities)', summary(all.map((m) => m.childrenInitiated - m.parentFirstTask))),
    summaryRow('first child initiated -> each child started', summary(perChild((m) => m.childrenInitiated, (m, a) => m.childStarted[a]))),
    summaryRow('child started -> its activity scheduled', summary(perChild((m, a) => m.childStarted[a], (m, a) => m.activityScheduled[a]))),
    summaryRow('activity scheduled -> completed (aggregator calls)', summary(perChild((m, a) => m.activityScheduled[a], (m, a) => m.activityCompleted[a]))),
    summaryRow('activity completed -> child closed', summary(perChild((m, a) => m.activityCompleted[a], (m, a) => m.childClosed[a]))),
    summaryRow('last child closed -> parent saw it', summary(all.map((m) => m.lastChildClosedSeen - maxOf(m.childClosed)))),
    summaryRow('parent saw it -> completeCancellation completed', summary(all.map((m) => m.completeCancellationDone - m.lastChildClosedSeen))),
  ];
}

/** From one write's answer to the next write's arrival, for the writes of one sandbox in one run. */
function writeGaps(calls: RecordedCall[]): number[] {
  const writes = calls.filter((c) => c.method !== 'GET').sort((a, b) => a.seq - b.seq);
  const gaps: number[] = [];
  for (let i = 1; i < writes.length; i += 1) {
    const previous = writes[i - 1]!;
    gaps.push(Date.parse(writes[i]!.at) - (Date.parse(previous.at) + (previous.durationMs ?? 0)));
  }
  return gaps;
}

// --- main -----------------------------------------------------------------------------------------------------------

const report: string[] = [];
const notMeasured: string[] = [];

async function run(): Promise<boolean> {
  progress(`cancellation fan-out benchmark: ${RUNS} runs, ${PER_AGGREGATOR} bookings per aggregator (${BOOKINGS} per session), polled every ${POLL_MS} ms`);
  const stackStarted = performance.now();
  const stack = await startStack({ progress });
  const stackMs = performance.now() - stackStarted;
  progress(`stack ready (/readyz 200) after ${secs(stackMs)}`);
  let connection: Connection | undefined;
  try {
    const seeded = await seed(stack);
    let temporal: Client | undefined;
    try {
      connection = await Connection.connect({ address: `127.0.0.1:${stack.ports.temporal}` });
      temporal = new Client({ connection, namespace: 'default' });
    } catch (error) {
      progress(`no Temporal client (${error instanceof Error ? error.message : String(error)}): the milestones are left out`);
    }
    const results: RunResult[] = [];
    let failedPreparations = 0;
    for (let i = 0; i < RUNS && !isInterrupted(); i += 1) {
      let result: RunResult;
      try {
        result = await measureRun(stack, seeded, temporal, i);
        failedPreparations = 0;
      } catch (error) {
        if (!(error instanceof NotMeasured)) throw error;
        notMeasured.push(`run ${i + 1}: ${error.message}`);
        progress(`run ${i + 1}/${RUNS}: NOT MEASURED, its preparation failed: ${error.message}`);
        failedPreparations += 1;
        if (failedPreparations >= 3) throw new Error('three runs in a row could not be prepared; giving up');
        // The half-booked session is cancelled all the same, and its fan-out left to finish before the next run.
        if (error.sessionId !== undefined) {
          const id = error.sessionId;
          await seeded.api.call('POST', `/v1/sessions/${id}/cancel`, { reason: REASON }).catch(() => undefined);
          await until(
            async () => ((await seeded.api.call<CancellationBody>('GET', `/v1/sessions/${id}/cancellation`)).status !== 'in_progress' ? true : undefined),
            CANCEL_TIMEOUT_MS,
            500,
            'the unmeasured session cancelled',
          ).catch(() => undefined);
        }
        continue;
      }
      results.push(result);
      progress(
        `run ${i + 1}/${RUNS}: all five ${ms(result.allMs)} ms (${AGGREGATORS.map((a) => `${a} ${ms(result.lastCancelled[a])}`).join(', ')}); ` +
          `API 202 ${ms(result.apiMs)} ms, done ${ms(result.apiCompletedMs)} ms; other work on the machine ${result.cpu ? result.cpu.others.toFixed(2) : '-'} cores${result.failure ? `; FAILED ${result.failure}` : ''}`,
      );
    }
    report.push(...reportLines(results, stackMs));
    if (notMeasured.length > 0) report.push(`  runs not measured (their preparation failed): ${notMeasured.length}`, ...notMeasured.map((n) => `    ${n}`));
    return results.length > 0 && results.every((r) => r.failure === undefined);
  } catch (error) {
    if (!isInterrupted()) progress(`failed; last lines of the service log:\n${logTail(stack.logFile)}`);
    throw error;
  } finally {
    await connection?.close().catch(() => undefined);
    progress('stopping the stack');
    await stack.stop();
    progress('stack stopped, temporary folder deleted');
  }
}

runBenchmark(run, report);
