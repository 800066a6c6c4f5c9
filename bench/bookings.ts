/**
 * `npm run bench:bookings` (and the second half of `npm run bench`): how fast aggregator booking requests are
 * acknowledged and answered, measured end to end on the local stack (embedded PostgreSQL, Temporal dev server,
 * worker + API, the five sandboxes in the service's process), started here on a throw-away DATA_DIR and free ports
 * and stopped at the end, and compared with the engine's floor on the same Temporal server.
 *
 *   1. seeds through the API: a company, a venue, five active connections with the sandboxes' credentials, one
 *      opted-in activity with sessions large enough that none fills up; waits until every sandbox holds them;
 *   2. booking latency at fixed open-loop rates (5, 10, 20 requests/s by default): members book through the
 *      sandboxes' control API (`POST /__sandbox/bookings`), round robin over the four asynchronous aggregators
 *      (Wellhub, ClassPass, EGYM Wellpass, Workit) and the sessions; the latency is the sandbox's own record, from the
 *      booking's creation (just before its webhook goes out) to the sandbox recording it RESERVED (Wellhub: the
 *      booking's history; partners: requested_at to updated_at). Each rate is followed by the engine's floor at
 *      the same rate;
 *   3. the engine's floor: an extra Temporal worker in this process (its own task queue, bench/floor-workflow.ts)
 *      runs a workflow with the booking workflow's happy-path shape (2 local activities, 1 normal activity, 1
 *      external signal, 2 search attribute upserts, the same linger), started by signal-with-start; its latency runs
 *      from just before the signal-with-start call to the normal activity (the counterpart of RESERVED);
 *   4. Onefit's synchronous answer: members book through the Onefit sandbox; each delivery's durationMs (the
 *      sandbox's own timing of the webhook answer) and whether a decision came back within Onefit's 1 s;
 *   5. the highest sustained booking rate with p99 (webhook -> RESERVED) under 1 s: the rates above, then 30, 35, 40, 50, 60,
 *      80, 100, 120 ... requests/s until a step fails (p99 >= 1 s, an error, a booking not RESERVED);
 *   6. webhook acknowledgement at 200 requests/s for 10 s: Wellhub bookings are first created in the Wellhub sandbox
 *      with its webhooks pointed at a sink in this process (so the sandbox knows them and the service's answer
 *      lands), then this process POSTs their signed `booking-requested` webhooks itself, open loop, to
 *      <api>/webhooks/wellhub and times each HTTP answer from the moment it was due (so a late sender does not hide
 *      latency); then how long until every one of them is RESERVED.
 *
 * Options (flag or environment):
 *   --shape S          BENCH_SHAPE          single (bin/service.ts start, what npm start runs), split (bin/service.ts api and
 *                                           worker in processes of their own: the production shape), or both (default:
 *                                           split, then single, each on a fresh stack)
 *   --step-seconds N   BENCH_STEP_SECONDS   length of each rate step (default 10)
 *   --rates LIST       BENCH_RATES          booking rates, comma separated (default 2,5,10,20,30,35,40,50,60,80,100,120); the
 *                                           floor steps through the same rates until it breaks
 *   --ack-rate N       BENCH_ACK_RATE       webhook acknowledgement rate (default 200)
 *   --ack-seconds N    BENCH_ACK_SECONDS    (default 10)
 *   --onefit-rates LIST BENCH_ONEFIT_RATES  Onefit rates, comma separated (default 10,20)
 *   --budget-seconds N BENCH_BUDGET_SECONDS  per shape, no new rate step starts after this much of it (default 600: every step waits for the earlier steps' workflows to close)
 *   --cpu-prof DIR     BENCH_CPU_PROF       split shape: the API and worker processes run with node --cpu-prof and
 *                                           write their profiles into DIR/api and DIR/worker as they stop (the
 *                                           largest file of each is its main thread)
 * The report goes to stdout, progress to stderr. Exit code 1 when the stack does not start or a step breaks; 130 on
 * Ctrl-C.
 */
import { randomUUID } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { Client, Connection } from '@temporalio/client';
import { DefaultLogger, NativeConnection, Runtime, Worker, bundleWorkflowCode } from '@temporalio/worker';
import { signWellhubBody, WELLHUB_SIGNATURE_HEADER } from '../aggregators/wellhub/webhook.js';
import { AGGREGATORS, type Aggregator } from '../domain/model.js';
import { SA } from '../temporal/search-attributes.js';
import { workflowIds } from '../workflows/ids.js';
import { cores, cpuBetween, cpuLine, cpuSnapshot, kindsUsed, type CpuUse } from './cpu.js';
import { createFloorActivities, type FloorTimes } from './floor-activities.js';
import { FLOOR_SINK_WORKFLOW, FLOOR_WORKFLOW, floorEventSignal, type FloorInput } from './floor-workflow.js';
import { breakdown, PHASES, type Breakdown } from './history.js';
import type { Api} from './http.js';
import { clearSandboxCalls, countCalls, getJson, laneIdle, postJson, putJson, sandboxCalls, sandboxState, type SyncStatus } from './http.js';
import { fail, intOption, option } from './options.js';
import { localIso, machineLines, mean, ms, msCells, msText, pool, progress, ratio, secs, sleep, summary, table, withFloor, type Summary } from './report.js';
import { isInterrupted, runBenchmark } from './runner.js';
import { seedStudio } from './seed.js';
import {
  partnerVenue,
  VENUE_TIME_ZONE,
  WELLHUB_GYM,
  type PartnerBookingView,
  type PartnerDelivery,
  type WellhubBookingView,
  type WellhubDelivery,
  type WellhubState,
} from './sandbox-views.js';
import { logTail, STACK_SHAPES, startStack, type Stack, type StackShape } from './stack.js';

// --- options --------------------------------------------------------------------------------------------------------

const STEP_SECONDS = intOption('step-seconds', 'BENCH_STEP_SECONDS', 10, 2, 600);
const RATES = (option('rates', 'BENCH_RATES') ?? '2,5,10,20,30,35,40,50,60,80,100,120').split(',').map((r) => Number(r.trim()));
if (RATES.length < 1 || RATES.some((r) => !Number.isInteger(r) || r < 1 || r > 1000)) fail('--rates (BENCH_RATES) must be integers from 1 to 1000');
const ACK_RATE = intOption('ack-rate', 'BENCH_ACK_RATE', 200, 1, 2000);
const ACK_SECONDS = intOption('ack-seconds', 'BENCH_ACK_SECONDS', 10, 1, 600);
const ONEFIT_RATES = (option('onefit-rates', 'BENCH_ONEFIT_RATES') ?? '10,20').split(',').map((r) => Number(r.trim()));
if (ONEFIT_RATES.some((r) => !Number.isInteger(r) || r < 1 || r > 1000)) fail('--onefit-rates (BENCH_ONEFIT_RATES) must be integers from 1 to 1000');
const SHAPE = option('shape', 'BENCH_SHAPE') ?? 'both';
if (SHAPE !== 'both' && !STACK_SHAPES.includes(SHAPE as StackShape)) fail(`--shape (BENCH_SHAPE) must be single, split or both, not "${SHAPE}"`);
const SHAPES: StackShape[] = SHAPE === 'both' ? ['split', 'single'] : [SHAPE as StackShape];
const CPU_PROFILE_DIR = option('cpu-prof', 'BENCH_CPU_PROF');
if (CPU_PROFILE_DIR) mkdirSync(CPU_PROFILE_DIR, { recursive: true });
const BUDGET_SECONDS = intOption('budget-seconds', 'BENCH_BUDGET_SECONDS', 600, 10, 36_000);

const ASYNC_AGGREGATORS = AGGREGATORS.filter((a) => a !== 'onefit');
const SESSION_COUNT = 12;
const MAX_PARTICIPANTS = 1000;
const TARGET_P99_MS = 1_000;
/** How long after its last request a step waits for its bookings to settle before the rest counts as failed. */
const SETTLE_TIMEOUT_MS = 25_000;
/** After that, how long a step's backlog may take to drain before the next measurement starts anyway. */
const DRAIN_TIMEOUT_MS = 20_000;
/** After the acknowledgement run, how long the bench waits for its bookings to be RESERVED. */
const ACK_DRAIN_TIMEOUT_MS = 30_000;
/** The booking workflow's LINGER_MS (workflows/booking-request/workflow.ts), mirrored by the floor. */
const LINGER_MS = 10_000;
const FLOOR_TASK_QUEUE = `bench-floor-${process.pid}`;
const REQUEST_TIMEOUT_MS = 15_000;

// --- small helpers --------------------------------------------------------------------------------------------------

interface OpenLoopResult {
  sent: number;
  /** How far behind its schedule the sender fell at worst (ms): large values mean the rate was not held. */
  maxLagMs: number;
  /** The achieved rate (requests/s) from the first request to the last. */
  achievedRate: number;
}

/**
 * Sends `rate` requests a second for `durationMs`, open loop: each at its due time, whatever the earlier ones are
 * doing; `send` gets the due time (epoch ms) and is not awaited before the next one goes. Resolves when all settled.
 */
async function openLoop(rate: number, durationMs: number, send: (index: number, dueAt: number) => Promise<void>): Promise<OpenLoopResult> {
  const count = Math.max(1, Math.round((rate * durationMs) / 1000));
  const startMono = performance.now();
  const startWall = Date.now();
  const pending: Promise<void>[] = [];
  let maxLagMs = 0;
  for (let i = 0; i < count; i += 1) {
    const dueOffset = (i * 1000) / rate;
    const wait = startMono + dueOffset - performance.now();
    if (wait > 0.5) await sleep(wait);
    maxLagMs = Math.max(maxLagMs, performance.now() - (startMono + dueOffset));
    pending.push(send(i, startWall + dueOffset).catch(() => undefined));
  }
  const sendingMs = performance.now() - startMono;
  await Promise.all(pending);
  return { sent: count, maxLagMs, achievedRate: count > 1 ? ((count - 1) * 1000) / Math.max(1, sendingMs) : rate };
}

// --- how bookings ended ----------------------------------------------------------------------------------------

/** How a booking ended at its aggregator, by the sandbox's clock (epoch ms). */
interface Outcome {
  status: 'reserved' | 'pending' | 'other';
  detail: string;
  requestedAt: number;
  reservedAt?: number;
}

async function readOutcomes(stack: Stack, aggregators: readonly Aggregator[]): Promise<Map<string, Outcome>> {
  const found = new Map<string, Outcome>();
  await Promise.all(
    aggregators.map(async (aggregator) => {
      if (aggregator === 'wellhub') {
        const state = await sandboxState<WellhubState>(stack.sandboxUrls.wellhub);
        for (const booking of state.gyms.flatMap((g) => g.bookings)) {
          const reserved = booking.history.find((h) => h.state === 'RESERVED');
          found.set(`wellhub:${booking.booking_number}`, {
            status: booking.state === 'RESERVED' ? 'reserved' : booking.state === 'PENDING' ? 'pending' : 'other',
            detail: booking.state,
            requestedAt: Date.parse(booking.history[0]?.at ?? booking.requested_at),
            ...(reserved ? { reservedAt: Date.parse(reserved.at) } : {}),
          });
        }
        return;
      }
      const state = await sandboxState<{ bookings: PartnerBookingView[] }>(stack.sandboxUrls[aggregator]);
      for (const booking of state.bookings) {
        found.set(`${aggregator}:${booking.id}`, {
          status: booking.status === 'confirmed' ? 'reserved' : booking.status === 'pending' ? 'pending' : 'other',
          detail: booking.status,
          requestedAt: Date.parse(booking.requested_at),
          ...(booking.status === 'confirmed' ? { reservedAt: Date.parse(booking.updated_at) } : {}),
        });
      }
    }),
  );
  return found;
}

// --- seeding --------------------------------------------------------------------------------------------------------

interface BenchSession {
  sessionId: string;
  startsAt: number;
  wellhubSlotId: number;
}

interface Seeded {
  api: Api;
  connectionIds: Record<Aggregator, string>;
  activityId: string;
  sessions: BenchSession[];
}

/** The booking workflow of a sent request's key (`<aggregator>:<booking number>`), on the seeded connection. */
function bookingWorkflowId(seeded: Seeded, key: string): string {
  const [aggregator, ...number] = key.split(':');
  return workflowIds.bookingRequest({ aggregator: aggregator as Aggregator, connectionId: seeded.connectionIds[aggregator as Aggregator], bookingNumber: number.join(':') });
}

async function syncStatus(api: Api, activityId: string): Promise<SyncStatus> {
  return api.call<SyncStatus>('GET', `/v1/activities/${activityId}/sync`);
}

/** Waits until every lane of the activity is idle (the free-spot counts have reached every aggregator). */
async function waitLanesIdle(api: Api, activityId: string, timeoutMs: number): Promise<{ idle: boolean; ms: number }> {
  const started = performance.now();
  for (;;) {
    // Under overload the lifecycle's query can time out (503): that is "not idle yet", not a failure.
    const status = await syncStatus(api, activityId).catch(() => undefined);
    if (status && status.connections.length === AGGREGATORS.length && status.connections.every(laneIdle)) return { idle: true, ms: performance.now() - started };
    if (performance.now() - started > timeoutMs) return { idle: false, ms: performance.now() - started };
    await sleep(500);
  }
}

/**
 * Waits until no booking or floor workflow of an earlier step is still open (each lingers LINGER_MS after its last
 * event, then completes), so every step starts on a quiet server: without it a step pays for the completions of the
 * one before it (the 20/s booking step for the Onefit steps' 300 workflows, each floor step for the booking step
 * before it), and the figures depend on the order of the steps.
 */
async function waitQuiet(client: Client): Promise<void> {
  const started = performance.now();
  const query = `ExecutionStatus = "Running" AND WorkflowType IN ("bookingRequestWorkflow", "${FLOOR_WORKFLOW}")`;
  for (;;) {
    const open = await client.workflow.count(query).then((r) => r.count, () => undefined);
    if (open === 0) return;
    if (performance.now() - started > LINGER_MS + 30_000) {
      progress(`  ${open ?? 'an unknown number of'} workflows of earlier steps still open after ${secs(performance.now() - started)}; going on`);
      return;
    }
    await sleep(500);
  }
}

async function seed(stack: Stack): Promise<Seeded> {
  const { api, venueId, connectionIds } = await seedStudio(stack, 'Bench Bookings Studio');

  const activity = await api.call<{ id: string }>('POST', '/v1/activities', {
    venueId,
    name: 'Bench Bookings',
    maxParticipants: MAX_PARTICIPANTS,
    registrationRules: { allowAggregatorBookings: true },
  });
  // Sessions from tomorrow, one every two hours: far from any booking window's close.
  const first = Math.ceil(Date.now() / 3_600_000) * 3_600_000 + 24 * 3_600_000;
  const sessions: BenchSession[] = [];
  for (let i = 0; i < SESSION_COUNT; i += 1) {
    const startsAt = first + i * 2 * 3_600_000;
    const session = await api.call<{ id: string }>('POST', `/v1/activities/${activity.id}/sessions`, {
      startsAt: localIso(startsAt, VENUE_TIME_ZONE),
      durationMinutes: 60,
      room: 'Studio 1',
      instructors: [{ name: 'Ana' }],
    });
    sessions.push({ sessionId: session.id, startsAt, wellhubSlotId: 0 });
  }
  progress(`seeded 1 activity with ${SESSION_COUNT} sessions of ${MAX_PARTICIPANTS} places; waiting until the five sandboxes hold them`);
  const deadline = performance.now() + 120_000;
  for (;;) {
    const status = await syncStatus(api, activity.id).catch(() => undefined);
    if (!status) {
      await sleep(500);
      continue;
    }
    const done =
      status.connections.length === AGGREGATORS.length &&
      status.connections.every((lane) => lane.active && laneIdle(lane) && lane.published.activity && lane.published.sessions === SESSION_COUNT);
    if (done) break;
    if (performance.now() > deadline) throw new Error(`the sessions did not reach every sandbox within 120 s: ${JSON.stringify(status.connections)}`);
    await sleep(500);
  }
  const wellhub = await sandboxState<WellhubState>(stack.sandboxUrls.wellhub);
  const gym = wellhub.gyms.find((g) => String(g.id) === WELLHUB_GYM);
  const cls = gym?.classes.find((c) => !c.deleted && c.reference === activity.id);
  if (!gym || !cls) throw new Error('Wellhub holds no class for the activity');
  for (const session of sessions) {
    const slot = gym.slots.find((s) => !s.deleted && s.class_id === cls.id && Date.parse(s.occur_date.replace(/\[[^\]]*\]$/, '')) === session.startsAt);
    if (!slot) throw new Error(`Wellhub holds no slot for session ${session.sessionId}`);
    session.wellhubSlotId = slot.id;
  }
  return { api, connectionIds, activityId: activity.id, sessions };
}

// --- booking steps --------------------------------------------------------------------------------------------------

let memberSeq = 0;
let sessionSeq = 0;
const runTag = randomUUID().slice(0, 6);

interface SentBooking {
  aggregator: Aggregator;
  key?: string;
  error?: string;
  /** The webhook's answer time as the sandbox measured it (partners: in the control answer). */
  ackMs?: number;
  ackStatus?: number | null;
  /** Onefit: the decision the sandbox read from the webhook answer. */
  answer?: { status: string; reason_code?: string } | null;
}

/** A member books at the aggregator's sandbox: it creates the booking and sends the webhook itself. */
async function bookAtSandbox(stack: Stack, seeded: Seeded, aggregator: Aggregator): Promise<SentBooking> {
  memberSeq += 1;
  const session = seeded.sessions[sessionSeq++ % seeded.sessions.length]!;
  const member = `bench-${runTag}-${memberSeq}`;
  const url = `${stack.sandboxUrls[aggregator]}/__sandbox/bookings`;
  try {
    if (aggregator === 'wellhub') {
      const res = await postJson<{ booking: { booking_number: string } }>(url, {
        gym_id: WELLHUB_GYM,
        slot_id: session.wellhubSlotId,
        user: { unique_token: member, name: `Member ${memberSeq}`, email: `${member}@members.example` },
      });
      if (res.status !== 201 || !res.body) return { aggregator, error: `sandbox answered ${res.status}: ${res.text.slice(0, 200)}` };
      return { aggregator, key: `wellhub:${res.body.booking.booking_number}` };
    }
    const res = await postJson<{ booking: { id: string }; delivery: PartnerDelivery }>(url, {
      venue_id: partnerVenue(aggregator),
      session_reference: session.sessionId,
      activity_reference: seeded.activityId,
      member: { id: member, name: `Member ${memberSeq}`, email: `${member}@members.example` },
    });
    if (res.status !== 201 || !res.body) return { aggregator, error: `sandbox answered ${res.status}: ${res.text.slice(0, 200)}` };
    const attempt = res.body.delivery.attempts[0];
    return {
      aggregator,
      key: `${aggregator}:${res.body.booking.id}`,
      ...(attempt ? { ackMs: attempt.durationMs, ackStatus: attempt.status } : {}),
      ...(res.body.delivery.answer !== undefined ? { answer: res.body.delivery.answer } : {}),
    };
  } catch (error) {
    return { aggregator, error: error instanceof Error ? error.message : String(error) };
  }
}

interface StepResult {
  rate: number;
  loop: OpenLoopResult;
  sent: SentBooking[];
  /** Latency to RESERVED by the sandbox's clock; Infinity for bookings that did not get there. */
  latencies: number[];
  byAggregator: Map<Aggregator, number[]>;
  reserved: number;
  notReserved: Map<string, number>;
  errors: number;
  ack: Summary;
  settleMs: number;
  /** From the end of the settle wait until nothing of the step was pending at the sandboxes (a backlog's drain). */
  drainMs: number;
  /** Bookings of the step still pending when the next measurement started. */
  leftPending: number;
  lanesIdleMs: number;
  cpu: CpuUse;
  phases: Breakdown;
  /** Writes the five sandboxes received from the service during the step, by endpoint. */
  writes: { total: number; byKind: Record<string, number> };
  passed: boolean;
}

async function wellhubAcks(stack: Stack, numbers: Set<string>): Promise<number[]> {
  const { deliveries } = await getJson<{ deliveries: WellhubDelivery[] }>(`${stack.sandboxUrls.wellhub}/__sandbox/deliveries`);
  return deliveries
    .filter((d) => d.eventType === 'booking-requested' && numbers.has(d.bookingNumber))
    .flatMap((d) => (d.attempts[0]?.durationMs === undefined ? [] : [d.attempts[0].durationMs]));
}

const pendingOf = (sent: SentBooking[], outcomes: Map<string, Outcome>) =>
  sent.filter((s) => s.key !== undefined && (outcomes.get(s.key)?.status ?? 'pending') === 'pending').length;

async function bookingStep(stack: Stack, seeded: Seeded, client: Client, rate: number): Promise<StepResult> {
  progress(`booking step: ${rate} requests/s for ${STEP_SECONDS} s, round robin over ${ASYNC_AGGREGATORS.join(', ')}`);
  await Promise.all(AGGREGATORS.map((a) => clearSandboxCalls(stack.sandboxUrls[a])));
  const sent: SentBooking[] = [];
  const cpuBefore = cpuSnapshot(stack.pgid);
  const loop = await openLoop(rate, STEP_SECONDS * 1000, async (index) => {
    sent.push(await bookAtSandbox(stack, seeded, ASYNC_AGGREGATORS[index % ASYNC_AGGREGATORS.length]!));
  });
  // The sandboxes record both ends of each booking: no polling while requests are under way, a short grace, then
  // a read of their states every second until nothing of this step is pending.
  const settleStarted = performance.now();
  await sleep(2_000);
  let outcomes = new Map<string, Outcome>();
  for (;;) {
    outcomes = await readOutcomes(stack, ASYNC_AGGREGATORS);
    if (pendingOf(sent, outcomes) === 0 || performance.now() - settleStarted > SETTLE_TIMEOUT_MS) break;
    await sleep(1_000);
  }
  const settleMs = performance.now() - settleStarted;
  const cpu = cpuBetween(cpuBefore, cpuSnapshot(stack.pgid));
  const latencies: number[] = [];
  const byAggregator = new Map<Aggregator, number[]>();
  const notReserved = new Map<string, number>();
  const runs: { workflowId: string; requestedAt: number }[] = [];
  let reserved = 0;
  let errors = 0;
  const count = (what: string) => notReserved.set(what.slice(0, 120), (notReserved.get(what.slice(0, 120)) ?? 0) + 1);
  for (const s of sent) {
    let latency = Number.POSITIVE_INFINITY;
    if (s.key === undefined) {
      errors += 1;
      count(`request failed: ${s.error ?? '?'}`);
    } else {
      const outcome = outcomes.get(s.key);
      if (outcome?.status === 'reserved' && outcome.reservedAt !== undefined) {
        reserved += 1;
        latency = outcome.reservedAt - outcome.requestedAt;
        runs.push({ workflowId: bookingWorkflowId(seeded, s.key), requestedAt: outcome.requestedAt });
      } else {
        count(`${s.aggregator} ${outcome?.detail ?? 'unknown'}${outcome?.status === 'pending' ? ` after ${secs(SETTLE_TIMEOUT_MS)}` : ''}`);
      }
    }
    latencies.push(latency);
    const list = byAggregator.get(s.aggregator) ?? [];
    list.push(latency);
    byAggregator.set(s.aggregator, list);
  }
  const wellhubNumbers = new Set(sent.filter((s) => s.aggregator === 'wellhub' && s.key).map((s) => s.key!.slice('wellhub:'.length)));
  const acks = [...(await wellhubAcks(stack, wellhubNumbers)), ...sent.flatMap((s) => (s.ackMs === undefined ? [] : [s.ackMs]))];

  // A backlog left by an overloaded step drains before anything else is measured.
  const drainStarted = performance.now();
  let stillPending = pendingOf(sent, outcomes);
  while (stillPending > 0 && performance.now() - drainStarted < DRAIN_TIMEOUT_MS) {
    await sleep(2_000);
    stillPending = pendingOf(sent, await readOutcomes(stack, ASYNC_AGGREGATORS));
  }
  const drainMs = performance.now() - drainStarted;
  if (stillPending > 0) progress(`  ${stillPending} bookings still pending ${secs(DRAIN_TIMEOUT_MS)} after the settle wait; going on`);
  const lanes = await waitLanesIdle(seeded.api, seeded.activityId, 15_000);
  const calls = (await Promise.all(AGGREGATORS.map((a) => sandboxCalls(stack.sandboxUrls[a])))).flat().filter((c) => !c.path.startsWith('/__sandbox'));
  const counted = countCalls(calls);
  const phases = await breakdown(client, runs);
  const stats = summary(latencies);
  const result: StepResult = {
    rate,
    loop,
    sent,
    latencies,
    byAggregator,
    reserved,
    notReserved,
    errors,
    ack: summary(acks),
    settleMs,
    drainMs,
    leftPending: stillPending,
    lanesIdleMs: lanes.idle ? lanes.ms : Number.POSITIVE_INFINITY,
    cpu,
    phases,
    writes: { total: counted.writes, byKind: counted.byKind },
    passed: stats.p99 < TARGET_P99_MS && reserved === sent.length,
  };
  progress(
    `  ${rate}/s: ${reserved}/${sent.length} RESERVED, p50 ${msText(stats.p50)}, p95 ${msText(stats.p95)}, p99 ${msText(stats.p99)}, max ${msText(stats.max)}` +
      `; webhook ack p50 ${msText(result.ack.p50)} p99 ${msText(result.ack.p99)}; lanes idle ${lanes.idle ? `after ${secs(lanes.ms)}` : 'NOT within 15 s'}` +
      (notReserved.size > 0 ? `; not reserved: ${[...notReserved].map(([k, v]) => `${v} ${k}`).join(', ')}` : ''),
  );
  progress(`  cores used: ${cpuLine(cpu)}; ${counted.writes} aggregator writes (${(counted.writes / Math.max(1, sent.length)).toFixed(1)} per booking)`);
  return result;
}

// --- Onefit ---------------------------------------------------------------------------------------------------------

interface OnefitResult {
  rate: number;
  cpu: CpuUse;
  loop: OpenLoopResult;
  sent: SentBooking[];
  durations: Summary;
  decidedInTime: number;
  confirmed: number;
  errors: number;
  /** Rejections by reason code. */
  rejected: Map<string, number>;
  /** Where the time of the synchronous decision goes (start to the update's completion). */
  phases?: Breakdown;
}

async function onefitStep(stack: Stack, seeded: Seeded, client: Client | undefined, rate: number): Promise<OnefitResult> {
  progress(`Onefit: ${rate} requests/s for ${STEP_SECONDS} s through the Onefit sandbox`);
  const sent: SentBooking[] = [];
  const cpuBefore = cpuSnapshot(stack.pgid);
  const loop = await openLoop(rate, STEP_SECONDS * 1000, async () => {
    sent.push(await bookAtSandbox(stack, seeded, 'onefit'));
  });
  const cpu = cpuBetween(cpuBefore, cpuSnapshot(stack.pgid));
  // The control answer carries the delivery; /__sandbox/deliveries holds the same records.
  const { deliveries } = await getJson<{ deliveries: PartnerDelivery[] }>(`${stack.sandboxUrls.onefit}/__sandbox/deliveries`);
  const byBooking = new Map(deliveries.map((d) => [`onefit:${d.bookingId}`, d]));
  const durations: number[] = [];
  let decidedInTime = 0;
  let confirmed = 0;
  let errors = 0;
  for (const s of sent) {
    const delivery = s.key ? byBooking.get(s.key) : undefined;
    const attempt = delivery?.attempts[0];
    if (!delivery || !attempt) {
      errors += 1;
      durations.push(Number.POSITIVE_INFINITY);
      continue;
    }
    durations.push(attempt.durationMs);
    const decided = attempt.status === 200 && delivery.answer !== null && delivery.answer !== undefined && attempt.durationMs < 1_000;
    if (decided) decidedInTime += 1;
    if (decided && delivery.answer?.status === 'confirmed') confirmed += 1;
  }
  const result: OnefitResult = { rate, cpu, loop, sent, durations: summary(durations), decidedInTime, confirmed, errors, rejected: new Map() };
  for (const s of sent) {
    const delivery = s.key ? byBooking.get(s.key) : undefined;
    if (delivery?.answer?.status === 'rejected') {
      const what = delivery.answer.reason_code ?? '?';
      result.rejected.set(what, (result.rejected.get(what) ?? 0) + 1);
    }
  }
  progress(
    `  Onefit ${rate}/s: p50 ${msText(result.durations.p50)}, p99 ${msText(result.durations.p99)}, max ${msText(result.durations.max)}; ` +
      `${decidedInTime}/${sent.length} decided within 1 s (${confirmed} confirmed), ${errors} errors`,
  );
  progress(`  cores used: ${cpuLine(cpu)}`);
  // The workflows decide even when the answer went out without their decision: once the lanes are idle again the
  // decisions are in their histories.
  await waitLanesIdle(seeded.api, seeded.activityId, 15_000);
  if (client) {
    const outcomes = await readOutcomes(stack, ['onefit']);
    result.phases = await breakdown(
      client,
      sent.flatMap((s) => (s.key ? [{ workflowId: bookingWorkflowId(seeded, s.key), requestedAt: outcomes.get(s.key)?.requestedAt }] : [])),
      16,
      'update',
    );
  }
  return result;
}

// --- the engine's floor ---------------------------------------------------------------------------------------------

interface Floor {
  client: Client;
  worker: Worker;
  running: Promise<void>;
  sinkWorkflowId: string;
  times: Map<string, FloorTimes>;
  close(): Promise<void>;
}

interface FloorResult {
  rate: number;
  loop: OpenLoopResult;
  /** Start to the normal activity (the counterpart of RESERVED). */
  answered: Summary;
  /** Start to the last local activity. */
  done: Summary;
  errors: number;
  drainMs: number;
  /** Runs not finished when the next measurement started. */
  leftRunning: number;
  cpu: CpuUse;
  phases: Breakdown;
  /** p99 to the normal activity under the target, no start failed, nothing left running. */
  passed: boolean;
}

const floorWorkflowsPath = path.resolve(__dirname, 'floor-workflow.ts');

/** Bundles the floor workflow while the stack starts (webpack takes a few seconds). */
function bundleFloor(): Promise<{ code: string }> {
  return bundleWorkflowCode({ workflowsPath: floorWorkflowsPath, logger: new DefaultLogger('WARN') });
}

async function startFloor(stack: Stack, bundle: { code: string }): Promise<Floor> {
  const address = `127.0.0.1:${stack.ports.temporal}`;
  const times = new Map<string, FloorTimes>();
  const nativeConnection = await NativeConnection.connect({ address });
  const worker = await Worker.create({
    connection: nativeConnection,
    namespace: 'default',
    taskQueue: FLOOR_TASK_QUEUE,
    workflowBundle: bundle,
    activities: createFloorActivities(times),
  });
  const running = worker.run();
  const connection = await Connection.connect({ address });
  const client = new Client({ connection, namespace: 'default' });
  const sinkWorkflowId = `bench-floor-sink-${runTag}`;
  await client.workflow.start(FLOOR_SINK_WORKFLOW, { workflowId: sinkWorkflowId, taskQueue: FLOOR_TASK_QUEUE, args: [] });
  let closed: Promise<void> | undefined;
  return {
    client,
    worker,
    running,
    sinkWorkflowId,
    times,
    close() {
      closed ??= (async () => {
        await client.workflow
          .getHandle(sinkWorkflowId)
          .terminate('benchmark done')
          .catch(() => undefined);
        if (worker.getState() === 'RUNNING') worker.shutdown();
        await running.catch(() => undefined);
        await connection.close().catch(() => undefined);
        await nativeConnection.close().catch(() => undefined);
      })();
      return closed;
    },
  };
}

let floorSeq = 0;

async function floorStep(floor: Floor, rate: number, stackPgid: number | undefined): Promise<FloorResult> {
  progress(`floor step: ${rate} workflows/s for ${STEP_SECONDS} s (task queue ${FLOOR_TASK_QUEUE})`);
  const started = new Map<string, number>();
  const cpuBefore = cpuSnapshot(stackPgid);
  let errors = 0;
  const input: FloorInput = { sinkWorkflowId: floor.sinkWorkflowId, lingerMs: LINGER_MS };
  const loop = await openLoop(rate, STEP_SECONDS * 1000, async () => {
    floorSeq += 1;
    const workflowId = `bench-floor:${runTag}:${floorSeq}`;
    started.set(workflowId, Date.now());
    try {
      // As the webhook route starts a booking workflow: signal-with-start, with its search attributes.
      await floor.client.workflow.signalWithStart(FLOOR_WORKFLOW, {
        workflowId,
        taskQueue: FLOOR_TASK_QUEUE,
        args: [input],
        signal: floorEventSignal,
        signalArgs: [{ eventId: randomUUID() }],
        typedSearchAttributes: [
          { key: SA.companyId, value: 'bench-floor' },
          { key: SA.venueId, value: 'bench-floor' },
          { key: SA.aggregators, value: ['wellhub'] },
          { key: SA.bookingStatus, value: 'requested' },
        ],
      });
    } catch (error) {
      errors += 1;
      progress(`  floor start failed: ${error instanceof Error ? error.message : String(error)}`);
    }
  });
  const settleStarted = performance.now();
  const finished = () => [...started.keys()].every((id) => floor.times.get(id)?.doneAt !== undefined);
  while (!finished() && performance.now() - settleStarted < SETTLE_TIMEOUT_MS) await sleep(200);
  const cpu = cpuBetween(cpuBefore, cpuSnapshot(stackPgid));
  const answered: number[] = [];
  const done: number[] = [];
  for (const [id, at] of started) {
    const times = floor.times.get(id);
    answered.push(times?.answeredAt === undefined ? Number.POSITIVE_INFINITY : times.answeredAt - at);
    done.push(times?.doneAt === undefined ? Number.POSITIVE_INFINITY : times.doneAt - at);
  }
  const drainStarted = performance.now();
  while (!finished() && performance.now() - drainStarted < DRAIN_TIMEOUT_MS) await sleep(500);
  const drainMs = performance.now() - drainStarted;
  const phases = await breakdown(
    floor.client,
    [...started].map(([workflowId, requestedAt]) => ({ workflowId, requestedAt })),
  );
  const leftRunning = [...started.keys()].filter((id) => floor.times.get(id)?.doneAt === undefined).length;
  const result: FloorResult = {
    rate,
    loop,
    answered: summary(answered),
    done: summary(done),
    errors,
    drainMs,
    leftRunning,
    cpu,
    phases,
    passed: false,
  };
  result.passed = result.answered.p99 < TARGET_P99_MS && errors === 0 && leftRunning === 0;
  progress(
    `  floor ${rate}/s: to the normal activity p50 ${msText(result.answered.p50)}, p95 ${msText(result.answered.p95)}, p99 ${msText(result.answered.p99)};` +
      ` to the last activity p50 ${msText(result.done.p50)}, p99 ${msText(result.done.p99)}`,
  );
  progress(`  cores used: ${cpuLine(cpu)}`);
  return result;
}

// --- webhook acknowledgement ----------------------------------------------------------------------------------------

interface AckResult {
  cpu: CpuUse;
  drainCpu: CpuUse;
  loop: OpenLoopResult;
  latencies: Summary;
  statuses: Map<string, number>;
  reserved: number;
  drainMs: number;
  throughput: number;
  reservedLatency: Summary;
}

/** An HTTP sink that acknowledges anything: where the Wellhub sandbox's webhooks go while bookings are prepared. */
async function startSink(): Promise<{ server: Server; url: string }> {
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/sink` };
}

async function ackStep(stack: Stack, seeded: Seeded): Promise<AckResult> {
  const count = ACK_RATE * ACK_SECONDS;
  progress(`acknowledgement: preparing ${count} Wellhub bookings in the sandbox (its webhooks pointed at a sink meanwhile)`);
  const sink = await startSink();
  const prepared: WellhubBookingView[] = [];
  try {
    await putJson(`${stack.sandboxUrls.wellhub}/__sandbox/webhook`, { url: sink.url });
    const items = Array.from({ length: count }, (_, i) => i);
    await pool(items, 16, async () => {
      memberSeq += 1;
      const member = `bench-${runTag}-${memberSeq}`;
      const session = seeded.sessions[sessionSeq++ % seeded.sessions.length]!;
      const res = await postJson<{ booking: WellhubBookingView }>(`${stack.sandboxUrls.wellhub}/__sandbox/bookings`, {
        gym_id: WELLHUB_GYM,
        slot_id: session.wellhubSlotId,
        user: { unique_token: member, name: `Member ${memberSeq}`, email: `${member}@members.example` },
      });
      if (res.status !== 201 || !res.body) throw new Error(`the Wellhub sandbox answered ${res.status}: ${res.text.slice(0, 200)}`);
      prepared.push(res.body.booking);
    });
  } finally {
    await putJson(`${stack.sandboxUrls.wellhub}/__sandbox/webhook`, { url: `${stack.apiUrl}/webhooks/wellhub` });
    await new Promise<void>((resolve) => sink.server.close(() => resolve()));
  }

  progress(`acknowledgement: POSTing ${count} signed booking-requested webhooks, ${ACK_RATE}/s for ${ACK_SECONDS} s, to ${stack.apiUrl}/webhooks/wellhub`);
  const latencies: number[] = [];
  const statuses = new Map<string, number>();
  const sentAt = new Map<string, number>();
  const cpuBefore = cpuSnapshot(stack.pgid);
  const loop = await openLoop(ACK_RATE, ACK_SECONDS * 1000, async (index, dueAt) => {
    const booking = prepared[index]!;
    const raw = JSON.stringify({
      event_type: 'booking-requested',
      event_data: {
        user: booking.user,
        slot: { id: booking.slot_id, gym_id: booking.gym_id, class_id: booking.class_id, booking_number: booking.booking_number },
        timestamp: Date.now(),
        event_id: randomUUID(),
      },
    });
    sentAt.set(booking.booking_number, dueAt);
    let status = 'error';
    try {
      const res = await fetch(`${stack.apiUrl}/webhooks/wellhub`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', [WELLHUB_SIGNATURE_HEADER]: signWellhubBody(raw, 'wellhub-sandbox-secret'), 'user-agent': 'bench' },
        body: raw,
        signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
      });
      await res.arrayBuffer();
      status = String(res.status);
      latencies.push(Date.now() - dueAt);
    } catch (error) {
      const cause = error instanceof Error && error.cause instanceof Error ? ((error.cause as { code?: string }).code ?? error.cause.message) : undefined;
      status =
        error instanceof Error && error.name === 'TimeoutError' ? `no answer within ${REQUEST_TIMEOUT_MS / 1000} s` : `connection error${cause ? ` (${cause})` : ''}`;
      latencies.push(Number.POSITIVE_INFINITY);
    }
    statuses.set(status, (statuses.get(status) ?? 0) + 1);
  });
  const cpuSent = cpuSnapshot(stack.pgid);
  const cpu = cpuBetween(cpuBefore, cpuSent);
  const stats = summary(latencies);
  progress(`  cores used while sending: ${cpuLine(cpu)}`);
  progress(
    `  ack: p50 ${msText(stats.p50)}, p99 ${msText(stats.p99)}, max ${msText(stats.max)}; statuses ${[...statuses].map(([k, v]) => `${k} x${v}`).join(', ')}` +
      `; sender lag max ${msText(loop.maxLagMs)}`,
  );

  // How long until the burst is RESERVED at Wellhub: the service's sustained throughput under overload.
  progress(`  waiting (at most ${secs(ACK_DRAIN_TIMEOUT_MS)}) until the ${count} bookings are RESERVED at the sandbox`);
  const firstSent = Math.min(...sentAt.values());
  const drainStarted = performance.now();
  let reserved = 0;
  let lastReserved = firstSent;
  const reservedLatency: number[] = [];
  for (;;) {
    const state = await sandboxState<WellhubState>(stack.sandboxUrls.wellhub);
    const byNumber = new Map(state.gyms.flatMap((g) => g.bookings).map((b) => [b.booking_number, b]));
    reserved = 0;
    reservedLatency.length = 0;
    let pending = 0;
    for (const [number, at] of sentAt) {
      const booking = byNumber.get(number);
      const when = booking?.history.find((h) => h.state === 'RESERVED')?.at;
      if (when) {
        reserved += 1;
        lastReserved = Math.max(lastReserved, Date.parse(when));
        reservedLatency.push(Date.parse(when) - at);
      } else {
        if (booking?.state === 'PENDING') pending += 1;
        reservedLatency.push(Number.POSITIVE_INFINITY);
      }
    }
    if (pending === 0 || performance.now() - drainStarted > ACK_DRAIN_TIMEOUT_MS) break;
    await sleep(2_000);
  }
  const drainMs = lastReserved - firstSent;
  const drainCpu = cpuBetween(cpuSent, cpuSnapshot(stack.pgid));
  const result: AckResult = {
    cpu,
    drainCpu,
    loop,
    latencies: stats,
    statuses,
    reserved,
    drainMs,
    throughput: reserved / Math.max(0.001, drainMs / 1000),
    reservedLatency: summary(reservedLatency),
  };
  progress(`  ${reserved}/${count} RESERVED, the last ${secs(drainMs)} after the first webhook: ${result.throughput.toFixed(1)} bookings/s`);
  return result;
}

// --- the run --------------------------------------------------------------------------------------------------------

const report: string[] = [];
const out = (...lines: string[]) => report.push(...lines);
let floorHandle: Floor | undefined;

const loopNote = (loop: OpenLoopResult) => (loop.maxLagMs > 100 ? ` (sender fell up to ${msText(loop.maxLagMs)} behind)` : '');

const SHAPE_TEXT: Record<StackShape, string> = {
  single: 'npx tsx bin/service.ts start (what npm start runs): embedded PostgreSQL, Temporal dev server, worker + API + 5 sandboxes in one process',
  split:
    'the production shape: bin/service.ts api and bin/service.ts worker in processes of their own, on one embedded PostgreSQL and one Temporal dev server; the 5 sandboxes in a third process (bench/split-stack.ts)',
};

/** Everything one shape measured. */
interface ShapeRun {
  shape: StackShape;
  steps: StepResult[];
  floors: Map<number, FloorResult>;
  onefits: OnefitResult[];
  ack: AckResult;
  /** The highest rate of the unbroken run of passing steps from the lowest one. */
  sustained: number | undefined;
  floorSustained: number | undefined;
  stoppedBecause: string;
  floorStoppedBecause: string;
  loadBefore: number[];
  loadAfter: number[];
}

/** Rates up to this one are measured even after a lower one failed: the 20/s figure is a target of its own. */
const ALWAYS_MEASURED_UP_TO = 20;

const failure = (step: StepResult) =>
  step.reserved < step.sent.length ? `${step.sent.length - step.reserved} not RESERVED` : `p99 ${msText(summary(step.latencies).p99)}`;
const floorFailure = (f: FloorResult) =>
  f.errors > 0 ? `${f.errors} starts failed` : f.leftRunning > 0 ? `${f.leftRunning} runs left unfinished` : `p99 ${msText(f.answered.p99)}`;

function highestUnbroken(results: { rate: number; passed: boolean }[]): number | undefined {
  let sustained: number | undefined;
  for (const r of results) {
    if (!r.passed) break;
    sustained = r.rate;
  }
  return sustained;
}

async function runShape(shape: StackShape, bundle: { code: string }): Promise<ShapeRun> {
  const shapeStarted = performance.now();
  const loadBefore = os.loadavg();
  const stack = await startStack({ progress, shape, cpuProfileDir: shape === 'split' ? CPU_PROFILE_DIR : undefined });
  progress(`${shape} stack ready (/readyz 200) after ${secs(performance.now() - shapeStarted)}`);
  try {
    const seeded = await seed(stack);
    floorHandle = await startFloor(stack, bundle);
    const floor = floorHandle;
    progress(`floor worker running on task queue ${FLOOR_TASK_QUEUE}`);

    const steps: StepResult[] = [];
    const floors = new Map<number, FloorResult>();
    const onefits: OnefitResult[] = [];
    let stoppedBecause = `the last rate (${RATES.at(-1)}/s) passed`;
    let floorStoppedBecause = stoppedBecause;
    let serviceOn = true;
    let floorOn = true;
    let serviceBroke = false;
    let floorBroke = false;
    for (const rate of RATES) {
      const capacityLeft = SESSION_COUNT * MAX_PARTICIPANTS - memberSeq - ACK_RATE * ACK_SECONDS - ONEFIT_RATES.reduce((a, r) => a + r * STEP_SECONDS, 0);
      const budgetUsed = steps.length >= 3 && (performance.now() - shapeStarted) / 1000 > BUDGET_SECONDS;
      if (serviceOn && rate * STEP_SECONDS > capacityLeft) {
        serviceOn = false;
        if (!serviceBroke) stoppedBecause = `capacity: ${rate}/s would fill the sessions`;
      }
      if (budgetUsed) {
        if (serviceOn && !serviceBroke) stoppedBecause = `time budget of ${BUDGET_SECONDS} s used before ${rate}/s`;
        if (floorOn && !floorBroke) floorStoppedBecause = `time budget of ${BUDGET_SECONDS} s used before ${rate}/s`;
        break;
      }
      if (!serviceOn && !floorOn) break;
      if (serviceOn) {
        await waitQuiet(floor.client);
        const step = await bookingStep(stack, seeded, floor.client, rate);
        steps.push(step);
        if (!step.passed && !serviceBroke) {
          serviceBroke = true;
          stoppedBecause = `${rate}/s failed (${failure(step)})`;
        }
        if (serviceBroke && rate >= ALWAYS_MEASURED_UP_TO) serviceOn = false;
      }
      if (floorOn) {
        await waitQuiet(floor.client);
        const f = await floorStep(floor, rate, stack.pgid);
        floors.set(rate, f);
        if (!f.passed && !floorBroke) {
          floorBroke = true;
          floorStoppedBecause = `${rate}/s failed (${floorFailure(f)})`;
        }
        if (floorBroke && rate >= ALWAYS_MEASURED_UP_TO) floorOn = false;
      }
      if (steps.length === 3 && onefits.length === 0) {
        for (const r of ONEFIT_RATES) {
          await waitQuiet(floor.client);
          onefits.push(await onefitStep(stack, seeded, floor.client, r));
        }
      }
    }
    if (onefits.length === 0) {
      for (const r of ONEFIT_RATES) {
        await waitQuiet(floor.client);
        onefits.push(await onefitStep(stack, seeded, floor.client, r));
      }
    }
    await waitQuiet(floor.client);
    await floor.close();
    const ack = await ackStep(stack, seeded);
    return {
      shape,
      steps,
      floors,
      onefits,
      ack,
      sustained: highestUnbroken(steps),
      floorSustained: highestUnbroken([...floors.values()]),
      stoppedBecause,
      floorStoppedBecause,
      loadBefore,
      loadAfter: os.loadavg(),
    };
  } catch (error) {
    if (!isInterrupted()) progress(`failed; last lines of the service log:\n${logTail(stack.logFile)}`);
    throw error;
  } finally {
    await floorHandle?.close().catch(() => undefined);
    floorHandle = undefined;
    progress(`stopping the ${shape} stack`);
    await stack.stop();
    progress('stack stopped, temporary folder deleted');
  }
}

function shapeReport(r: ShapeRun): string[] {
  const { steps, floors, onefits, ack } = r;
  const stepStats = steps.map((s) => ({ step: s, stats: summary(s.latencies) }));
  const bothRates = [...floors.keys()].filter((rate) => steps.some((s) => s.rate === rate));
  const cpuRows: [string, CpuUse][] = [
    ...steps.flatMap((st) => [[`booking ${st.rate}/s`, st.cpu] as [string, CpuUse]]),
    ...[...floors.values()].map((f) => [`floor ${f.rate}/s`, f.cpu] as [string, CpuUse]),
    ...onefits.map((o) => [`Onefit ${o.rate}/s`, o.cpu] as [string, CpuUse]),
    [`ack ${ACK_RATE}/s sending`, ack.cpu],
    ['ack backlog drain', ack.drainCpu],
  ];
  const kinds = kindsUsed(cpuRows.map(([, c]) => c));
  return [
    '',
    `=== ${r.shape === 'split' ? 'Separate processes (production shape)' : 'Single process (npm start)'} ===`,
    `  stack      ${SHAPE_TEXT[r.shape]}; LOG_LEVEL=warn`,
    `  load       average ${r.loadBefore.map((l) => l.toFixed(2)).join(' / ')} before this shape, ${r.loadAfter.map((l) => l.toFixed(2)).join(' / ')} after (1 / 5 / 15 min)`,
    '',
    'Webhook -> RESERVED at the aggregator, booked through the sandboxes (POST /__sandbox/bookings; the sandbox sends the signed webhook),',
    `round robin over ${ASYNC_AGGREGATORS.join(', ')}; from the booking's creation at the sandbox to the sandbox recording it RESERVED`,
    "(sandbox clock: Wellhub's booking history, the partners' requested_at -> updated_at), in ms; floor = the engine alone at the same rate:",
    ...table(
      ['rate/s', 'n', 'RESERVED', 'p50', 'p95', 'p99', 'max', 'floor p50', 'floor p99', 'p50 ratio', 'p99 ratio', 'ack p50', 'ack p99'],
      stepStats.map(({ step, stats }) => {
        const f = floors.get(step.rate);
        return [
          `${step.rate}${loopNote(step.loop) ? '*' : ''}`,
          step.sent.length,
          step.reserved,
          ms(stats.p50),
          ms(stats.p95),
          ms(stats.p99),
          ms(stats.max),
          f ? ms(f.answered.p50) : '',
          f ? ms(f.answered.p99) : '',
          f ? ratio(stats.p50, f.answered.p50) : '',
          f ? ratio(stats.p99, f.answered.p99) : '',
          ms(step.ack.p50),
          ms(step.ack.p99),
        ];
      }),
    ),
    "  ack = the webhook's HTTP answer as the sandbox timed it (Wellhub: /__sandbox/deliveries attempt 1; partners: the delivery in the control answer).",
    ...stepStats.flatMap(({ step }) => (loopNote(step.loop) ? [`  * ${step.rate}/s: the sender fell up to ${msText(step.loop.maxLagMs)} behind its schedule`] : [])),
    ...stepStats.flatMap(({ step }) =>
      step.leftPending > 0 ? [`  ${step.rate}/s: ${step.leftPending} bookings were still pending when the next measurement started (its backlog)`] : [],
    ),
    ...stepStats.flatMap(({ step }) =>
      step.notReserved.size > 0 ? [`  ${step.rate}/s not RESERVED: ${[...step.notReserved].map(([k, v]) => `${v} x ${k}`).join('; ')}`] : [],
    ),
    '  per aggregator (p50 / p99 ms):',
    ...table(
      ['rate/s', ...ASYNC_AGGREGATORS],
      stepStats.map(({ step }) => [
        step.rate,
        ...ASYNC_AGGREGATORS.map((a) => {
          const s = summary(step.byAggregator.get(a) ?? []);
          return `${ms(s.p50)} / ${ms(s.p99)}`;
        }),
      ]),
    ),
    '  aggregator writes the service made per booking (answer + free-spot updates of the lifecycle), by step:',
    ...stepStats.map(
      ({ step }) =>
        `    ${String(step.rate).padStart(3)}/s: ${(step.writes.total / Math.max(1, step.sent.length)).toFixed(1)} per booking (${Object.entries(step.writes.byKind)
          .sort((a, b) => b[1] - a[1])
          .map(([k, v]) => `${k} x${v}`)
          .join(', ')})`,
    ),
    '',
    `Engine floor (bench/floor-workflow.ts on its own task queue, a worker in the bench process, same Temporal dev server): the booking`,
    "workflow's happy path without our code: signal-with-start with the same search attributes, 2 local activities, 1 normal activity,",
    '1 signal to another workflow, 2 search attribute upserts, the same 10 s linger; activities only record the time. In ms from just before',
    'signal-with-start; stepped up with the booking rates until its p99 reaches 1 s or it leaves a backlog:',
    ...table(
      ['rate/s', 'n', 'to normal act. p50', 'p95', 'p99', 'to last act. p50', 'p99', 'left running', 'passed'],
      [...floors.values()].map((f) => [
        `${f.rate}${loopNote(f.loop) ? '*' : ''}`,
        f.answered.n,
        ...msCells(f.answered, ['p50', 'p95', 'p99']),
        ...msCells(f.done, ['p50', 'p99']),
        f.leftRunning,
        f.passed ? 'yes' : 'no',
      ]),
    ),
    ...[...floors.values()].flatMap((f) => (f.errors > 0 ? [`  ${f.rate}/s: ${f.errors} signal-with-start calls failed`] : [])),
    '',
    'Where the time goes: mean ms per phase, from Temporal histories of up to 16 runs per step (booking: webhook -> the answer activity done;',
    'floor: signal-with-start -> its normal activity done); phases named by the history event that ends each gap:',
    ...table(
      ['phase', ...bothRates.flatMap((rate) => [`booking ${rate}/s`, `floor ${rate}/s`])],
      PHASES.map((phase) => [
        phase,
        ...bothRates.flatMap((rate) => {
          const step = steps.find((st) => st.rate === rate);
          return [ms(mean(step?.phases.phases.get(phase) ?? [])), ms(mean(floors.get(rate)?.phases.phases.get(phase) ?? []))];
        }),
      ]),
    ),
    ...bothRates.flatMap((rate) => {
      const b = steps.find((st) => st.rate === rate)?.phases;
      const others =
        b && b.others.size > 0
          ? [
              `  "other" of booking ${rate}/s (mean ms by the event ending the gap): ${[...b.others]
                .sort((x, y) => y[1] - x[1])
                .slice(0, 4)
                .map(([type, sum]) => `${type} ${ms(sum / Math.max(1, b.runs))}`)
                .join(', ')}`,
            ]
          : [];
      const las =
        b && b.localActivities.size > 0
          ? [
              `  local activities of booking ${rate}/s, their own run time (mean / max ms, from the SDK's markers): ${[...b.localActivities]
                .map(([type, values]) => `${type} ${ms(mean(values))} / ${ms(Math.max(...values))} (n=${values.length})`)
                .join(', ')}`,
            ]
          : [];
      return [...others, ...las];
    }),
    '',
    'CPU during each measurement (cores, averaged over the step, its settle wait included; from /proc): the stack by process, this bench',
    "process (senders, and the floor's worker), and everything else on the machine:",
    ...table(
      ['measurement', 'seconds', ...kinds, 'bench', 'others', 'machine busy', 'iowait %'],
      cpuRows.map(([label, c]) => [
        label,
        c.seconds.toFixed(0),
        ...kinds.map((k) => cores(c.byKind[k])),
        cores(c.bench),
        cores(c.others),
        `${cores(c.machine)} / ${os.cpus().length}`,
        c.iowaitPct.toFixed(0),
      ]),
    ),
    '',
    `Onefit (synchronous: the decision is in the webhook answer), ${STEP_SECONDS} s per rate through the Onefit sandbox; durationMs of each`,
    "delivery's attempt as the sandbox timed it (/__sandbox/deliveries), in ms; a decision = a 200 carrying the answer within Onefit's 1 s:",
    ...table(
      ['rate/s', 'n', 'p50', 'p95', 'p99', 'max', 'decided < 1 s', 'share', 'confirmed', 'rejected'],
      onefits.map((o) => [
        `${o.rate}${loopNote(o.loop) ? '*' : ''}`,
        o.sent.length,
        ...msCells(o.durations),
        o.decidedInTime,
        `${((100 * o.decidedInTime) / Math.max(1, o.sent.length)).toFixed(1)} %`,
        o.confirmed,
        [...o.rejected].map(([k, v]) => `${k} x${v}`).join(', ') || '-',
      ]),
      true,
    ),
    ...onefits.flatMap((o) =>
      o.phases && o.phases.runs > 0
        ? [
            `  ${o.rate}/s, where the workflow's time goes (mean ms, ${o.phases.runs} histories; the decision is taken in the webhook request, the workflow owns the aftermath): ` +
              PHASES.filter((p) => p !== 'activity dispatched and run (the aggregator call)')
                .map((p) => `${p} ${ms(mean(o.phases?.phases.get(p) ?? []))}`)
                .join('; '),
          ]
        : [],
    ),
    '',
    `Highest sustained rate with p99 (webhook -> RESERVED) under ${TARGET_P99_MS} ms: service ${r.sustained === undefined ? 'none of the rates tried' : `${r.sustained}/s`} (${r.stoppedBecause});` +
      ` floor ${r.floorSustained === undefined ? 'none' : `${r.floorSustained}/s`} (${r.floorStoppedBecause})`,
    '',
    `Webhook acknowledgement at ${ACK_RATE} requests/s for ${ACK_SECONDS} s (open loop): signed Wellhub booking-requested webhooks POSTed by the bench`,
    'process to /webhooks/wellhub, for bookings made beforehand in the Wellhub sandbox (so the answer PATCH finds them); timed in the bench',
    `process from each request's due time to its HTTP answer:`,
    `  p50 ${msText(ack.latencies.p50)}, p95 ${msText(ack.latencies.p95)}, p99 ${msText(ack.latencies.p99)}, max ${msText(ack.latencies.max)}; answers: ${[...ack.statuses].map(([k, v]) => `${k} x${v}`).join(', ')}` +
      `; achieved ${ack.loop.achievedRate.toFixed(0)}/s${loopNote(ack.loop)}`,
    `  then: ${ack.reserved} of ${ACK_RATE * ACK_SECONDS} RESERVED at the sandbox, the last ${secs(ack.drainMs)} after the first webhook (${ack.throughput.toFixed(1)} bookings/s sustained);` +
      ` webhook -> RESERVED p50 ${msText(ack.reservedLatency.p50)}, p99 ${msText(ack.reservedLatency.p99)}`,
  ];
}

/** The headline figures of every shape, against their targets. */
function summaryLines(runs: ShapeRun[]): string[] {
  const lines = ['', 'Summary (targets from the webhook-intake issue)'];
  for (const r of runs) {
    const target = r.shape === 'split' ? 100 : 300;
    const at = (rate: number) => r.steps.find((s) => s.rate === rate);
    const twenty = at(20);
    const twentyP99 = twenty ? summary(twenty.latencies).p99 : Number.NaN;
    const floor20 = r.floors.get(20)?.answered.p99;
    const share =
      r.sustained !== undefined && r.floorSustained !== undefined ? ` = ${(r.sustained / r.floorSustained).toFixed(2)} × the floor (target ≥ 0.8)` : '';
    lines.push(
      `  ${r.shape === 'split' ? 'separate processes' : 'single process'}:`,
      `    ack at ${ACK_RATE}/s                     p50 ${msText(r.ack.latencies.p50)}, p99 ${msText(r.ack.latencies.p99)} (target p99 < ${target} ms: ${r.ack.latencies.p99 < target ? 'met' : 'NOT met'}); then ${r.ack.reserved}/${ACK_RATE * ACK_SECONDS} RESERVED, ${r.ack.throughput.toFixed(1)}/s`,
      `    webhook -> RESERVED at 20/s       ${withFloor('p99', twentyP99, floor20)} (target < 1 s: ${twentyP99 < TARGET_P99_MS ? 'met' : 'NOT met'})`,
      `    highest sustained rate, p99 < 1 s  service ${r.sustained ?? 'none'}/s, floor ${r.floorSustained ?? 'none'}/s${share}`,
      ...r.onefits.map(
        (o) =>
          `    Onefit at ${o.rate}/s                   ${o.decidedInTime}/${o.sent.length} decided within 1 s (${((100 * o.decidedInTime) / Math.max(1, o.sent.length)).toFixed(1)} %, target ≥ 99 %), p99 ${msText(o.durations.p99)}`,
      ),
    );
  }
  return lines;
}

async function run(): Promise<boolean> {
  progress(
    `booking benchmark (${SHAPES.join(' then ')}): steps of ${STEP_SECONDS} s at ${RATES.join(', ')} requests/s (floor alongside), Onefit at ${ONEFIT_RATES.join(', ')}/s, ack at ${ACK_RATE}/s`,
  );
  Runtime.install({ logger: new DefaultLogger('WARN'), shutdownSignals: [] });
  const bundle = await bundleFloor();
  const runs: ShapeRun[] = [];
  out('', 'Booking benchmark (npm run bench:bookings)', ...machineLines());
  out(
    `  data       1 venue (${VENUE_TIME_ZONE}), 5 active connections, 1 opted-in activity with ${SESSION_COUNT} sessions of ${MAX_PARTICIPANTS} places (none fills up), a fresh stack per shape`,
    `  method     open loop (requests go out at their due time whatever the earlier ones do), ${STEP_SECONDS} s per step`,
  );
  for (const shape of SHAPES) {
    const r = await runShape(shape, bundle);
    runs.push(r);
    out(...shapeReport(r));
  }
  out(...summaryLines(runs), '', `  machine load average at the end: ${os.loadavg().map((l) => l.toFixed(2)).join(' / ')} (1 / 5 / 15 min)`);
  return true;
}

runBenchmark(run, report, async () => floorHandle?.close());
