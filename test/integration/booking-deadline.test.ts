import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomUUID } from 'node:crypto';
import { Context } from '@temporalio/activity';
import type { WorkflowHandle } from '@temporalio/client';
import { defaultPayloadConverter } from '@temporalio/common';
import { temporal } from '@temporalio/proto';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAdapters } from '../../aggregators/registry.js';
import { temporalBookingRequestControl, type BookingRef, type BookingRequestControl } from '../../api/clients/booking-request.js';
import { requestInput, toBookingEvent } from '../../api/webhook-events.js';
import type { Db } from '../../db/index.js';
import {
  ACTIVITY_LIFECYCLE_WORKFLOW,
  lifecycleStateQuery,
  type ActivityLifecycleWorkflow,
} from '../../workflows/activity-lifecycle/contract.js';
import { bookingRequestStateQuery } from '../../workflows/booking-request/contract.js';
import { workflowIds } from '../../workflows/ids.js';
import { activitiesDeps, createTestDatabase, eventually, startTimeSkipping, timeSkippingWorker } from '../support/harness.js';
import { startSandboxWorld, type SandboxWorld } from '../support/sandbox-world.js';
import { insertSandboxConnection, seedActivity } from '../support/seed.js';

/**
 * The 15-minute window in which Wellhub waits for the studio's answer to a booking request, on the time-skipping
 * test server: a request held for manual approval and approved, declined or left alone, and an aggregator that
 * fails every answer or half of them. The Wellhub sandbox runs over real HTTP; its webhooks land on a receiver of
 * this file, whose bodies go through the adapter's verification and parsing, then to the booking workflow with
 * signal-with-start exactly as the webhook route hands them over. The sandbox's clock is real time (moved only by
 * `/__sandbox/clock/advance`), so its own auto-reject never fires while the server's time is skipped.
 */
let env: TestWorkflowEnvironment;
let db: Db;
let drop: () => Promise<void>;
let receiver: Server;
let receiverUrl: string;
const worlds: SandboxWorld[] = [];
/** Every webhook the sandboxes sent, by booking number (first copy kept). */
const received = new Map<string, { rawBody: Buffer; headers: Record<string, string | undefined> }>();

const adapters = createAdapters();
const wellhub = adapters.wellhub;
const MINUTE = 60_000;
const DEADLINE_MS = wellhub.capabilities.bookingDeadlineMs;

beforeAll(async () => {
  ({ db, drop } = await createTestDatabase());
  env = await startTimeSkipping();
  receiver = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const rawBody = Buffer.concat(chunks);
      try {
        const number = (JSON.parse(rawBody.toString('utf8')) as { event_data?: { slot?: { booking_number?: string } } }).event_data?.slot?.booking_number;
        if (number !== undefined && !received.has(number)) received.set(number, { rawBody, headers: flatten(req.headers) });
      } catch {
        // Not an event: nothing to keep.
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"received":true}');
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  receiverUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await env?.teardown();
  await Promise.all(worlds.map((w) => w.close()));
  await new Promise((resolve) => (receiver ? receiver.close(resolve) : resolve(undefined)));
  await drop?.();
});

function flatten(headers: IncomingHttpHeaders): Record<string, string | undefined> {
  return Object.fromEntries(Object.entries(headers).map(([k, v]) => [k, Array.isArray(v) ? v.join(',') : v]));
}

/** "Now" for the activities is the server's (skipped) clock: the time the attempt was scheduled. */
const serverNow = () => new Date(Context.current().info.currentAttemptScheduledTimestampMs);

interface Seeded {
  companyId: string;
  venueId: string;
  activityId: string;
  sessionId: string;
  connectionId: string;
  world: SandboxWorld;
}

/** A venue with one opted-in activity (one session in three days), connected to a Wellhub sandbox of its own. */
async function seed(options: { manualApproval: boolean }): Promise<Seeded> {
  const world = await startSandboxWorld();
  worlds.push(world);
  await world.setWebhookBase(receiverUrl);
  const ids = await seedActivity(db, { optedIn: true });
  await db.updateTable('activities').set({ requires_manual_approval: options.manualApproval }).where('id', '=', ids.activityId).execute();
  const sandbox = world.sandboxes.wellhub;
  const connection = { id: await insertSandboxConnection(db, ids, sandbox) };
  const startsAt = new Date(Math.floor(((await env.currentTimeMs()) + 3 * 86_400_000) / MINUTE) * MINUTE);
  const session = await db
    .insertInto('sessions')
    .values({
      company_id: ids.companyId,
      venue_id: ids.venueId,
      activity_id: ids.activityId,
      starts_at: startsAt,
      utc_offset: '+01:00',
      duration_minutes: 60,
      room: 'Studio 1',
      instructors: JSON.stringify([]),
      capacity_override: null,
      aggregator_limit_override: null,
    })
    .returning('id')
    .executeTakeFirstOrThrow();
  return { ...ids, sessionId: session.id, connectionId: connection.id, world };
}

type LifecycleHandle = WorkflowHandle<ActivityLifecycleWorkflow>;

interface TestCtx {
  control: BookingRequestControl;
  lifecycle: LifecycleHandle;
  /** The session's slot id at Wellhub (published by the lifecycle workflow). */
  slotId: string;
  /** Booking numbers handed to booking workflows (each wound down at the end). */
  delivered: BookingRef[];
}

/**
 * Runs a test with a worker of its own (its activities call this test's sandboxes) and the activity's lifecycle
 * workflow, which publishes the session to Wellhub. Every workflow is ended before the worker goes (see windDown):
 * one left without a worker would hold the next test's skipped time.
 */
async function withWorker(seeded: Seeded, run: (ctx: TestCtx) => Promise<void>): Promise<void> {
  const taskQueue = `booking-deadline-${randomUUID()}`;
  const worker = await timeSkippingWorker(env, { taskQueue, deps: activitiesDeps(db, seeded.world.endpoints), now: serverNow });
  const started: string[] = [];
  const delivered: BookingRef[] = [];
  await worker.runUntil(async () => {
    try {
      const lifecycle = await env.client.workflow.start<ActivityLifecycleWorkflow>(ACTIVITY_LIFECYCLE_WORKFLOW, {
        workflowId: workflowIds.activityLifecycle(seeded.activityId),
        taskQueue,
        args: [{ companyId: seeded.companyId, venueId: seeded.venueId, activityId: seeded.activityId, syncIntervalMs: 30 * MINUTE }],
      });
      started.push(lifecycle.workflowId);
      await settled(lifecycle);
      const slotId = await eventually(async () => (await seeded.world.held('wellhub')).sessions[0]?.id, 20_000, 'the session published to Wellhub');
      await run({ control: temporalBookingRequestControl(env.client, { taskQueue }), lifecycle, slotId, delivered });
    } finally {
      await windDown(started, delivered);
    }
  });
}

/**
 * Ends a test's workflows cleanly before its worker goes. The test server holds skipped time while an activity or a
 * workflow task is outstanding, and terminating the workflow does not release that hold (the late completion is
 * refused): a workflow terminated in the middle of an activity would freeze every later test's `env.sleep`. So the
 * booking workflows are let end on their own (each lingers 10 s after its last event: skipped here), and the
 * lifecycle workflow, which never ends, is terminated only once its lanes are idle and nothing of it is pending.
 */
async function windDown(lifecycleIds: string[], refs: BookingRef[]) {
  const bookings = refs.map((ref) => env.client.workflow.getHandle(workflowIds.bookingRequest(ref)));
  const running = async () =>
    (await Promise.all(bookings.map(async (h) => (await h.describe().catch(() => undefined))?.status.name === 'RUNNING'))).some(Boolean);
  for (let i = 0; i < 4 && (await running()); i++) await env.sleep('15 seconds');
  for (const handle of bookings) await quiet(handle).catch(() => undefined);
  for (const handle of bookings) await handle.terminate('test done').catch(() => undefined);
  for (const id of lifecycleIds) {
    const handle = env.client.workflow.getHandle<ActivityLifecycleWorkflow>(id);
    await settled(handle).catch(() => undefined);
    await quiet(handle).catch(() => undefined);
    await handle.terminate('test done').catch(() => undefined);
  }
}

/** Waits until the workflow has no activity scheduled or running (see windDown). */
function quiet(handle: WorkflowHandle) {
  return eventually(async () => {
    const { raw } = await handle.describe();
    return (raw.pendingActivities ?? []).length === 0 ? true : undefined;
  }, 20_000, `${handle.workflowId} quiet`);
}

/**
 * Waits (in real time) until the lifecycle's lanes are idle. Sleeping on the server while activities run can skip
 * past the sleep's end, so each test lets the work settle before it sleeps.
 */
function settled(handle: LifecycleHandle) {
  return eventually(async () => {
    const s = await handle.query(lifecycleStateQuery);
    return s.connections.length > 0 && s.connections.every((c) => c.passes >= 1 && !c.running && !c.pending) ? s : undefined;
  }, 20_000, 'lifecycle lanes settled');
}

interface Requested {
  bookingNumber: string;
  /** Epoch ms of the request on the server's clock, and the deadline the ledger holds for it. */
  requestedAt: number;
  deadlineAt: number;
  handle: WorkflowHandle;
}

/**
 * A Wellhub member books the slot. The sandbox's clock is first moved up to the server's (skipped) clock, so the
 * event's time and the workflow's time agree, as they do in production. The webhook is verified and parsed by the
 * adapter and handed to the booking workflow (signal-with-start). Resolves once the request is decided and the
 * lifecycle has pushed the held spot to Wellhub's count.
 */
async function memberBooks(seeded: Seeded, ctx: TestCtx): Promise<Requested> {
  const sandbox = seeded.world.sandboxes.wellhub;
  const serverTime = await env.currentTimeMs();
  const clock = (await (await fetch(`${sandbox.url}/__sandbox/clock`)).json()) as { now: string };
  const behind = serverTime - Date.parse(clock.now);
  if (behind > 0) await postJson(`${sandbox.url}/__sandbox/clock/advance`, { ms: behind });

  const bookingNumber = `wh-${randomUUID().slice(0, 8)}`;
  await seeded.world.requestBooking('wellhub', { sessionId: ctx.slotId, bookingNumber, member: { id: `member-${bookingNumber}`, name: 'Kim Doe', email: 'kim@example.com' } });
  const webhook = await eventually(() => Promise.resolve(received.get(bookingNumber)), 10_000, 'the booking webhook');
  expect(wellhub.verifyWebhook(webhook, sandbox.connection.webhookSecret)).toMatchObject({ ok: true });
  const event = wellhub.parseWebhook(webhook);
  expect(event).toMatchObject({ type: 'booking_requested', bookingNumber, sessionExternalId: ctx.slotId });
  const input = requestInput(wellhub, { id: seeded.connectionId, company_id: seeded.companyId, venue_id: seeded.venueId }, bookingNumber);
  ctx.delivered.push({ aggregator: 'wellhub', connectionId: seeded.connectionId, bookingNumber });
  await ctx.control.deliver(input, toBookingEvent(event));

  const request = await eventually(() => requestRow(bookingNumber), 15_000, 'the request decided');
  const requestedAt = event.occurredAt.getTime();
  // The deadline runs from the request: 15 minutes (give or take the real time the calls above took).
  expect(request.deadline_at.getTime() - requestedAt).toBeGreaterThan(DEADLINE_MS - 5_000);
  expect(request.deadline_at.getTime() - requestedAt).toBeLessThanOrEqual(DEADLINE_MS);
  // The held spot shows at Wellhub once the lifecycle's pass has run; then nothing runs but the booking's timer.
  await eventually(async () => ((await seeded.world.held('wellhub')).sessions[0]?.booked === 1 ? true : undefined), 20_000, 'the held spot counted at Wellhub');
  await settled(ctx.lifecycle);
  return {
    bookingNumber,
    requestedAt: request.deadline_at.getTime() - DEADLINE_MS,
    deadlineAt: request.deadline_at.getTime(),
    handle: env.client.workflow.getHandle(workflowIds.bookingRequest({ aggregator: 'wellhub', connectionId: seeded.connectionId, bookingNumber })),
  };
}

async function postJson(url: string, body: unknown) {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  if (!res.ok) throw new Error(`POST ${url}: ${res.status}`);
  return res.json();
}

const requestRow = (bookingNumber: string) =>
  db.selectFrom('booking_requests').selectAll().where('aggregator', '=', 'wellhub').where('booking_number', '=', bookingNumber).executeTakeFirst();

const ledgerBooking = (bookingNumber: string) =>
  db.selectFrom('bookings').selectAll().where('source', '=', 'wellhub').where('aggregator_booking_number', '=', bookingNumber).executeTakeFirstOrThrow();

const history = (bookingNumber: string) =>
  db
    .selectFrom('booking_status_history')
    .innerJoin('bookings', 'bookings.id', 'booking_status_history.booking_id')
    .select(['booking_status_history.from_status', 'booking_status_history.to_status', 'booking_status_history.reason', 'booking_status_history.actor'])
    .where('bookings.aggregator_booking_number', '=', bookingNumber)
    .orderBy('booking_status_history.id')
    .execute();

/** Spot-holding bookings of the session in the ledger (requested, reserved, attended). */
async function spotsHeld(sessionId: string): Promise<number> {
  const row = await db
    .selectFrom('bookings')
    .select((eb) => eb.fn.countAll<string>().as('n'))
    .where('session_id', '=', sessionId)
    .where('status', 'in', ['requested', 'reserved', 'attended'])
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

const sandboxBooking = async (seeded: Seeded, bookingNumber: string) => {
  const held = await seeded.world.booking('wellhub', bookingNumber);
  if (!held) throw new Error(`Wellhub holds no booking ${bookingNumber}`);
  return held;
};

const sandboxStatus = (seeded: Seeded, bookingNumber: string, status: string) =>
  eventually(async () => {
    const held = await sandboxBooking(seeded, bookingNumber);
    return held.status === status ? held : undefined;
  }, 20_000, `Wellhub to hold the booking ${status}`);

const ledgerStatus = (bookingNumber: string, status: string) =>
  eventually(async () => {
    const b = await ledgerBooking(bookingNumber);
    return b.status === status ? b : undefined;
  }, 20_000, `the ledger to hold the booking ${status}`);

/** The answers the sandbox received for a booking (PATCH calls), with the status it gave each. */
async function answerCalls(seeded: Seeded, bookingNumber: string) {
  const res = await fetch(`${seeded.world.sandboxes.wellhub.url}/__sandbox/calls?method=PATCH`);
  const { calls } = (await res.json()) as { calls: Array<{ path: string; body: { status?: string; reason_category?: string }; status: number | undefined }> };
  return calls.filter((c) => c.path.endsWith(`/bookings/${bookingNumber}`)).map((c) => ({ answer: c.body.status, category: c.body.reason_category, status: c.status }));
}

const ms = (t: temporal.api.history.v1.IHistoryEvent['eventTime']) => Number(t?.seconds ?? 0) * 1000 + Math.floor((t?.nanos ?? 0) / 1e6);
const EventType = temporal.api.enums.v1.EventType;

/**
 * The workflow's calls to the aggregator as its history records them, on the server's clock: when each
 * answerAggregator activity was scheduled, what it carried, and when and how it ended (retries included).
 */
async function answerActivities(handle: WorkflowHandle) {
  const { events } = await handle.fetchHistory();
  const list = events ?? [];
  const ended = new Map<number, { at: number; how: string }>();
  for (const e of list) {
    const end =
      e.eventType === EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED
        ? { id: e.activityTaskCompletedEventAttributes?.scheduledEventId, how: 'completed' }
        : e.eventType === EventType.EVENT_TYPE_ACTIVITY_TASK_FAILED
          ? { id: e.activityTaskFailedEventAttributes?.scheduledEventId, how: 'failed' }
          : e.eventType === EventType.EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT
            ? { id: e.activityTaskTimedOutEventAttributes?.scheduledEventId, how: 'timed_out' }
            : undefined;
    if (end?.id != null) ended.set(Number(end.id), { at: ms(e.eventTime), how: end.how });
  }
  return list
    .filter((e) => e.eventType === EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED && e.activityTaskScheduledEventAttributes?.activityType?.name === 'answerAggregator')
    .map((e) => {
      const input = defaultPayloadConverter.fromPayload<{ answer: { status: string; reason?: string } }>(e.activityTaskScheduledEventAttributes!.input!.payloads![0]!);
      return { answer: input.answer, scheduledAt: ms(e.eventTime), end: ended.get(Number(e.eventId)) };
    });
}

/** When the workflow's timers fired, on the server's clock, with how long each was set for. */
async function firedTimers(handle: WorkflowHandle) {
  const { events } = await handle.fetchHistory();
  const started = new Map<string, number>();
  const fired: Array<{ durationMs: number; at: number }> = [];
  for (const e of events ?? []) {
    if (e.eventType === EventType.EVENT_TYPE_TIMER_STARTED) {
      const t = e.timerStartedEventAttributes!;
      started.set(t.timerId!, Number(t.startToFireTimeout?.seconds ?? 0) * 1000 + Math.floor((t.startToFireTimeout?.nanos ?? 0) / 1e6));
    } else if (e.eventType === EventType.EVENT_TYPE_TIMER_FIRED) {
      fired.push({ durationMs: started.get(e.timerFiredEventAttributes!.timerId!) ?? -1, at: ms(e.eventTime) });
    }
  }
  return fired;
}

const ANSWER_PATH = '^/booking/v2/gyms/[^/]+/bookings/';

describe('the booking deadline (time-skipping server)', () => {
  it('holds a request for manual approval and confirms it when the studio approves minutes later', async () => {
    const seeded = await seed({ manualApproval: true });
    await withWorker(seeded, async (ctx) => {
      const req = await memberBooks(seeded, ctx);
      expect(await requestRow(req.bookingNumber)).toMatchObject({ decision: 'awaiting_approval', answer: 'pending', session_id: seeded.sessionId });
      expect((await ledgerBooking(req.bookingNumber)).status).toBe('requested');
      expect(await sandboxBooking(seeded, req.bookingNumber)).toMatchObject({ status: 'pending' });
      expect(await req.handle.query(bookingRequestStateQuery)).toMatchObject({ phase: 'awaiting_approval', answer: null, answerAttempts: 0 });

      await env.sleep('5 minutes');
      expect(await requestRow(req.bookingNumber)).toMatchObject({ decision: 'awaiting_approval', answer: 'pending' });
      expect(await sandboxBooking(seeded, req.bookingNumber)).toMatchObject({ status: 'pending' });
      expect(await answerCalls(seeded, req.bookingNumber)).toEqual([]);

      const answer = await ctx.control.approve({ aggregator: 'wellhub', connectionId: seeded.connectionId, bookingNumber: req.bookingNumber }, { approve: true, actor: 'backend:front-desk' });
      expect(answer).toEqual({ status: 'RESERVED' });
      expect(await sandboxStatus(seeded, req.bookingNumber, 'reserved')).toMatchObject({ autoRejected: false });
      await ledgerStatus(req.bookingNumber, 'reserved');
      expect(await requestRow(req.bookingNumber)).toMatchObject({ decision: 'reserve', reason: null, answer: 'sent' });
      expect(await spotsHeld(seeded.sessionId)).toBe(1);
      expect(await answerCalls(seeded, req.bookingNumber)).toEqual([{ answer: 'RESERVED', category: undefined, status: 204 }]);
      // The answer went out 5 minutes after the request, well inside the 15 minutes.
      const [told] = await answerActivities(req.handle);
      expect(told?.scheduledAt).toBeGreaterThanOrEqual(req.requestedAt + 5 * MINUTE);
      expect(told?.end?.at).toBeLessThan(req.deadlineAt - 2 * MINUTE);

      // Approved once: a second approval finds nothing waiting.
      await expect(ctx.control.approve({ aggregator: 'wellhub', connectionId: seeded.connectionId, bookingNumber: req.bookingNumber }, { approve: false, actor: 'backend:front-desk' })).rejects.toMatchObject({ status: 409 });
    });
  });

  it('rejects a held request with the reason the studio gives, and frees its spot', async () => {
    const seeded = await seed({ manualApproval: true });
    await withWorker(seeded, async (ctx) => {
      const req = await memberBooks(seeded, ctx);
      expect(await requestRow(req.bookingNumber)).toMatchObject({ decision: 'awaiting_approval' });
      expect(await spotsHeld(seeded.sessionId)).toBe(1);

      await env.sleep('3 minutes');
      const answer = await ctx.control.approve({ aggregator: 'wellhub', connectionId: seeded.connectionId, bookingNumber: req.bookingNumber }, {
        approve: false,
        reason: 'USAGE_RESTRICTION',
        message: 'members on this plan cannot book this class',
        actor: 'backend:front-desk',
      });
      expect(answer).toEqual({ status: 'REJECTED', reason: 'USAGE_RESTRICTION', message: 'members on this plan cannot book this class' });
      expect(await sandboxStatus(seeded, req.bookingNumber, 'rejected')).toEqual({ status: 'rejected', reason: 'USAGE_RESTRICTION', autoRejected: false });
      const booking = await ledgerStatus(req.bookingNumber, 'rejected');
      expect(booking.status_reason).toBe('USAGE_RESTRICTION');
      expect(await requestRow(req.bookingNumber)).toMatchObject({ decision: 'reject', reason: 'USAGE_RESTRICTION', answer: 'sent' });
      expect(await spotsHeld(seeded.sessionId)).toBe(0);
      expect(await history(req.bookingNumber)).toEqual([
        { from_status: null, to_status: 'requested', reason: null, actor: 'aggregator:wellhub' },
        { from_status: 'requested', to_status: 'rejected', reason: 'USAGE_RESTRICTION', actor: 'service' },
      ]);
      // The freed spot is offered again at Wellhub.
      await eventually(async () => ((await seeded.world.held('wellhub')).sessions[0]?.booked === 0 ? true : undefined), 20_000, 'the spot freed at Wellhub');
    });
  });

  it('rejects a request nobody approves 2 minutes before the deadline, before Wellhub would', async () => {
    const seeded = await seed({ manualApproval: true });
    await withWorker(seeded, async (ctx) => {
      const req = await memberBooks(seeded, ctx);

      // 12 minutes on: nothing has happened yet.
      await env.sleep('12 minutes');
      expect(await env.currentTimeMs()).toBeGreaterThanOrEqual(req.requestedAt + 12 * MINUTE);
      expect(await requestRow(req.bookingNumber)).toMatchObject({ decision: 'awaiting_approval', answer: 'pending' });
      expect((await ledgerBooking(req.bookingNumber)).status).toBe('requested');
      expect(await sandboxBooking(seeded, req.bookingNumber)).toMatchObject({ status: 'pending' });
      expect(await req.handle.query(bookingRequestStateQuery)).toMatchObject({ phase: 'awaiting_approval' });
      expect(await answerCalls(seeded, req.bookingNumber)).toEqual([]);

      // Past 13 minutes: the workflow has rejected it itself; Wellhub's own auto-reject has not fired.
      await env.sleep('90 seconds');
      expect(await sandboxStatus(seeded, req.bookingNumber, 'rejected')).toEqual({ status: 'rejected', reason: 'GENERAL_ERROR', autoRejected: false });
      const booking = await ledgerStatus(req.bookingNumber, 'rejected');
      expect(booking.status_reason).toBe('GENERAL_ERROR');
      expect(await requestRow(req.bookingNumber)).toMatchObject({ decision: 'reject', reason: 'GENERAL_ERROR', answer: 'sent' });
      expect(await spotsHeld(seeded.sessionId)).toBe(0);
      expect(await env.currentTimeMs()).toBeLessThan(req.deadlineAt);

      // On the workflow's clock: the approval wait ended at deadline - 2 minutes, and the answer was in before the deadline.
      const approvalTimer = (await firedTimers(req.handle)).find((t) => t.durationMs > 10 * MINUTE);
      expect(approvalTimer?.at).toBeGreaterThanOrEqual(req.deadlineAt - 2 * MINUTE);
      expect(approvalTimer?.at).toBeLessThan(req.deadlineAt - 2 * MINUTE + 5_000);
      const told = await answerActivities(req.handle);
      expect(told).toHaveLength(1);
      expect(told[0]).toMatchObject({ answer: { status: 'REJECTED', reason: 'GENERAL_ERROR' }, end: { how: 'completed' } });
      expect(told[0]!.end!.at).toBeLessThan(req.deadlineAt - 90_000);
    });
  });

  it('gives up on an aggregator that fails every answer 15 s before the deadline, and ends where its auto-reject does', async () => {
    const seeded = await seed({ manualApproval: false });
    await seeded.world.fault('wellhub', { status: 503, method: 'PATCH', path: ANSWER_PATH });
    await withWorker(seeded, async (ctx) => {
      const req = await memberBooks(seeded, ctx);
      expect(await requestRow(req.bookingNumber)).toMatchObject({ decision: 'reserve', answer: 'pending' });

      // 14 minutes on: the confirmation was retried until deadline - 2 minutes, then the rejection, still failing.
      await env.sleep('14 minutes');
      const calls = await answerCalls(seeded, req.bookingNumber);
      expect(calls.every((c) => c.status === 503)).toBe(true);
      const firstReject = calls.findIndex((c) => c.answer === 'REJECTED');
      expect(firstReject).toBeGreaterThan(5);
      expect(calls.slice(0, firstReject).every((c) => c.answer === 'RESERVED')).toBe(true);
      expect(calls.slice(firstReject).every((c) => c.answer === 'REJECTED' && c.category === 'TECHNICAL_ERROR')).toBe(true);
      expect((await ledgerBooking(req.bookingNumber)).status).toBe('requested');
      expect(await requestRow(req.bookingNumber)).toMatchObject({ answer: 'pending' });

      // Past deadline - 15 s: given up. The spot is freed; the aggregator is known not to have heard.
      await env.sleep('1 minute');
      const booking = await ledgerStatus(req.bookingNumber, 'rejected');
      expect(booking.status_reason).toBe('TECHNICAL_ERROR');
      expect(await requestRow(req.bookingNumber)).toMatchObject({ decision: 'reject', reason: 'TECHNICAL_ERROR', answer: 'unreachable' });
      expect(await spotsHeld(seeded.sessionId)).toBe(0);
      const state = await req.handle.query(bookingRequestStateQuery);
      // Answered, then the run lingers 10 s for copies of the webhook and ends.
      expect(['answered', 'done']).toContain(state.phase);
      expect(state).toMatchObject({ answer: { status: 'REJECTED', reason: 'TECHNICAL_ERROR' }, answerAttempts: 2 });
      expect(state.lastAnswerError).toMatch(/503|timed out|timeout/i);

      // On the workflow's clock: confirm from the request until deadline - 2 min, reject from then until deadline - 15 s.
      // Temporal ends a retried activity at its last attempt when the next backoff (at most 30 s) would pass the
      // limit, so each phase ends within 30 s before its limit, never after.
      const told = await answerActivities(req.handle);
      expect(told.map((t) => t.answer)).toEqual([{ status: 'RESERVED' }, expect.objectContaining({ status: 'REJECTED', reason: 'TECHNICAL_ERROR' })]);
      const [confirm, reject] = told as [(typeof told)[number], (typeof told)[number]];
      expect(confirm.scheduledAt).toBeLessThan(req.requestedAt + 10_000);
      expect(['failed', 'timed_out']).toContain(confirm.end?.how);
      expect(confirm.end!.at).toBeGreaterThan(req.deadlineAt - 2 * MINUTE - 31_000);
      expect(confirm.end!.at).toBeLessThanOrEqual(req.deadlineAt - 2 * MINUTE + 1_000);
      expect(reject.scheduledAt).toBeGreaterThanOrEqual(confirm.end!.at);
      expect(['failed', 'timed_out']).toContain(reject.end?.how);
      expect(reject.end!.at).toBeGreaterThan(req.deadlineAt - 15_000 - 31_000);
      expect(reject.end!.at).toBeLessThanOrEqual(req.deadlineAt - 15_000 + 1_000);

      // Wellhub never heard: its booking is pending until its own deadline, when it rejects it by itself.
      expect(await sandboxBooking(seeded, req.bookingNumber)).toMatchObject({ status: 'pending' });
      await postJson(`${seeded.world.sandboxes.wellhub.url}/__sandbox/clock/advance`, { ms: DEADLINE_MS });
      expect(await sandboxBooking(seeded, req.bookingNumber)).toMatchObject({ status: 'rejected', autoRejected: true });
      // Both sides hold the booking rejected, and the spot is free at Wellhub too.
      await eventually(async () => ((await seeded.world.held('wellhub')).sessions[0]?.booked === 0 ? true : undefined), 20_000, 'the spot freed at Wellhub');
    });
  });

  it('keeps the reservation when a confirmation whose answer was lost is followed by a rejection Wellhub refuses', async () => {
    const seeded = await seed({ manualApproval: false });
    // The first confirmation takes effect at Wellhub but its answer is lost on the way back; every later answer 503.
    await seeded.world.fault('wellhub', { loseAnswer: true, method: 'PATCH', path: ANSWER_PATH, times: 1 });
    await seeded.world.fault('wellhub', { status: 503, method: 'PATCH', path: ANSWER_PATH });
    await withWorker(seeded, async (ctx) => {
      const req = await memberBooks(seeded, ctx);
      await sandboxStatus(seeded, req.bookingNumber, 'reserved');

      // Past deadline - 2 min the workflow turns to a rejection, still failing; then Wellhub answers again, and refuses
      // to reject a booking it holds reserved.
      await env.sleep('13 minutes');
      expect(await requestRow(req.bookingNumber)).toMatchObject({ decision: 'reserve', answer: 'pending' });
      await seeded.world.clearFaults('wellhub');
      await env.sleep('90 seconds');

      await ledgerStatus(req.bookingNumber, 'reserved');
      const row = await requestRow(req.bookingNumber);
      expect(row).toMatchObject({ decision: 'reserve', reason: null, answer: 'sent' });
      expect(row?.last_error).toMatch(/the aggregator holds the booking/);
      expect(await spotsHeld(seeded.sessionId)).toBe(1);
      expect(await sandboxBooking(seeded, req.bookingNumber)).toMatchObject({ status: 'reserved' });
      const calls = await answerCalls(seeded, req.bookingNumber);
      expect(calls.at(-1)).toEqual({ answer: 'REJECTED', category: 'TECHNICAL_ERROR', status: 422 });
      expect((await history(req.bookingNumber)).map((h) => h.to_status)).toEqual(['requested', 'reserved']);
    });
  });

  it('gets the confirmation through an aggregator that fails half of its calls, well before the deadline', async () => {
    const seeded = await seed({ manualApproval: false });
    // The first answer always fails (so a retry is certain), then every other one on average.
    await seeded.world.fault('wellhub', { status: 503, method: 'PATCH', path: ANSWER_PATH, times: 1 });
    await seeded.world.fault('wellhub', { status: 503, method: 'PATCH', path: ANSWER_PATH, rate: 0.5 });
    await withWorker(seeded, async (ctx) => {
      const req = await memberBooks(seeded, ctx);
      expect(await requestRow(req.bookingNumber)).toMatchObject({ decision: 'reserve', answer: 'pending' });

      // Retries back off 1 s, 2 s, 4 s ... 30 s: five minutes give 14 attempts, of which one has to get through.
      await env.sleep('5 minutes');
      expect(await sandboxStatus(seeded, req.bookingNumber, 'reserved')).toMatchObject({ autoRejected: false });
      await ledgerStatus(req.bookingNumber, 'reserved');
      expect(await requestRow(req.bookingNumber)).toMatchObject({ decision: 'reserve', answer: 'sent' });
      expect(await spotsHeld(seeded.sessionId)).toBe(1);

      const calls = await answerCalls(seeded, req.bookingNumber);
      expect(calls.length).toBeGreaterThanOrEqual(2);
      expect(calls.every((c) => c.answer === 'RESERVED')).toBe(true);
      expect(calls.slice(0, -1).every((c) => c.status === 503)).toBe(true);
      expect(calls.at(-1)?.status).toBe(204);
      const told = await answerActivities(req.handle);
      expect(told).toHaveLength(1);
      expect(told[0]).toMatchObject({ answer: { status: 'RESERVED' }, end: { how: 'completed' } });
      expect(told[0]!.end!.at).toBeLessThan(req.requestedAt + 5 * MINUTE);
      expect(await req.handle.query(bookingRequestStateQuery)).toMatchObject({ answer: { status: 'RESERVED' }, answerAttempts: 1 });
    });
  });
});
