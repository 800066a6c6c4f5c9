import { randomUUID } from 'node:crypto';
import { Context } from '@temporalio/activity';
import type { WorkflowHandle } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import request from 'supertest';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { temporalCancellationControl } from '../../api/clients/session-cancellation.js';
import type { Db } from '../../db/index.js';
import { cancelSessionInLedger } from '../../db/session-cancellations.js';
import type { Aggregator } from '../../domain/model.js';
import { lifecycleStateQuery, type ActivityLifecycleWorkflow } from '../../workflows/activity-lifecycle/contract.js';
import { workflowIds } from '../../workflows/ids.js';
import { branchStateQuery, cancellationProgressQuery, type CancellationProgress } from '../../workflows/session-cancellation/contract.js';
import { BRANCH_ATTEMPTS_PER_RUN, branchBackoffMs } from '../../workflows/session-cancellation/workflow.js';
import { bearer } from '../support/api-fixtures.js';
import { startBookingWorld, type BookingWorld } from '../support/booking-world.js';
import { activitiesDeps, buildApp, createTestDatabase, eventually, startTimeSkipping, timeSkippingWorker } from '../support/harness.js';

/**
 * The cancellation fan-out over hours of one aggregator's outage, on the time-skipping test server: the studio
 * cancels a session booked through Wellhub, EGYM Wellpass and ClassPass while Wellhub answers every call 503. The
 * two others finish at once; Wellhub's branch keeps trying, backing off to one attempt every 5 minutes, showing its
 * progress in the ledger and the parent's query, and catches up at its first attempt after Wellhub is back.
 *
 * The app runs on the time-skipping server's client, so the bookings come in through the real webhook route and
 * booking workflows, and the cancellation through `POST /v1/sessions/{id}/cancel`. The activities read "now" from the
 * server's clock. Lessons of the other timer tests apply: nothing is terminated mid-activity (a terminated workflow
 * whose activity is outstanding freezes the server's skipped time), every workflow but the never-ending lifecycle is
 * let finish, and the work settles before each `env.sleep`.
 */
let env: TestWorkflowEnvironment;
let db: Db;
let drop: () => Promise<void>;
const worlds: BookingWorld[] = [];

beforeAll(async () => {
  ({ db, drop } = await createTestDatabase());
});

// A server of its own per test: its clock starts at the real time, so a member's booking request (stamped on the real
// clock by the sandbox) is not already past its deadline after an earlier test skipped hours ahead.
beforeEach(async () => {
  env = await startTimeSkipping();
});

afterEach(async () => {
  await env?.teardown();
});

afterAll(async () => {
  await Promise.all(worlds.map((w) => w.close()));
  await drop?.();
});

/** "Now" for the activities is the server's (skipped) clock: the time the attempt was scheduled. */
const serverNow = () => new Date(Context.current().info.currentAttemptScheduledTimestampMs);

const MINUTE = 60_000;
const AGGREGATORS = ['wellhub', 'egym_wellpass', 'classpass'] as const satisfies readonly Aggregator[];
const DOWN: Aggregator = 'wellhub';
const UP = AGGREGATORS.filter((a) => a !== DOWN);

const EventType = temporal.api.enums.v1.EventType;
const ms = (t: temporal.api.history.v1.IHistoryEvent['eventTime']) => Number(t?.seconds ?? 0) * 1000 + Math.floor((t?.nanos ?? 0) / 1e6);
const durationMs = (d: { seconds?: unknown; nanos?: number | null } | null | undefined) => Number(d?.seconds ?? 0) * 1000 + Math.floor((d?.nanos ?? 0) / 1e6);

/** The branch's attempts (cancelAtAggregator scheduled) and its backoff timers, on the server's clock. */
async function branchHistory(handle: WorkflowHandle) {
  const { events } = await handle.fetchHistory();
  const attempts: number[] = [];
  const timers: number[] = [];
  for (const e of events ?? []) {
    if (e.eventType === EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED && e.activityTaskScheduledEventAttributes?.activityType?.name === 'cancelAtAggregator') {
      attempts.push(ms(e.eventTime));
    } else if (e.eventType === EventType.EVENT_TYPE_TIMER_STARTED) {
      timers.push(durationMs(e.timerStartedEventAttributes?.startToFireTimeout));
    }
  }
  return { attempts, timers };
}

/** How many attempts a branch makes within `elapsed` ms of its first, by branchBackoffMs alone. */
function attemptsWithin(elapsed: number): number {
  let n = 1;
  for (let at = 0; ; n += 1) {
    at += branchBackoffMs(n);
    if (at > elapsed) return n;
  }
}

/** How many activities of the given type the workflow has completed. */
async function activitiesDone(handle: WorkflowHandle, type: string): Promise<number> {
  const { events } = await handle.fetchHistory().catch(() => ({ events: [] }));
  const scheduled = new Set(
    (events ?? [])
      .filter((e) => e.eventType === EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED && e.activityTaskScheduledEventAttributes?.activityType?.name === type)
      .map((e) => Number(e.eventId)),
  );
  return (events ?? []).filter((e) => e.eventType === EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED && scheduled.has(Number(e.activityTaskCompletedEventAttributes?.scheduledEventId))).length;
}

/** Waits until the workflow has no activity scheduled or running. */
function quiet(handle: WorkflowHandle) {
  return eventually(async () => {
    const { raw } = await handle.describe();
    return (raw.pendingActivities ?? []).length === 0 ? true : undefined;
  }, 20_000, `${handle.workflowId} quiet`);
}

/** Waits (in real time) until the lifecycle's lanes are idle. */
function settled(handle: WorkflowHandle<ActivityLifecycleWorkflow>) {
  return eventually(async () => {
    const s = await handle.query(lifecycleStateQuery);
    return s.connections.length > 0 && s.connections.every((c) => c.passes >= 1 && !c.running && !c.pending) ? s : undefined;
  }, 20_000, 'lifecycle lanes settled');
}

/**
 * A branch waiting between two attempts: its query says when it tries next, and its attempts agree with the ledger
 * (the wait starts after the attempt is recorded, and the server's clock stands still while nobody sleeps on it).
 */
async function waitingBranch(sessionId: string, aggregator: Aggregator) {
  const branch = env.client.workflow.getHandle(workflowIds.cancellationBranch(sessionId, aggregator));
  return eventually(
    async () => {
      const [state, row] = await Promise.all([branch.query(branchStateQuery).catch(() => undefined), branchRow(sessionId, aggregator)]);
      return state && state.nextAttemptAt !== null && row.attempts > 0 && state.attempts === row.attempts ? { state, row } : undefined;
    },
    20_000,
    `the ${aggregator} branch between attempts`,
  );
}

/** Every run of a workflow id, newest first, by following each run back to the one it continued. */
async function runsOf(workflowId: string): Promise<Array<{ runId: string; events: number }>> {
  const runs: Array<{ runId: string; events: number }> = [];
  let runId: string | undefined = (await env.client.workflow.getHandle(workflowId).describe()).runId;
  while (runId) {
    const { events } = await env.client.workflow.getHandle(workflowId, runId).fetchHistory();
    runs.push({ runId, events: events?.length ?? 0 });
    runId = events?.[0]?.workflowExecutionStartedEventAttributes?.continuedExecutionRunId ?? undefined;
  }
  return runs;
}

const historyLength = async (workflowId: string) => ((await env.client.workflow.getHandle(workflowId).fetchHistory()).events ?? []).length;

/** The gym's cancellation calls Wellhub received for one booking, and how it answered each. */
async function wellhubCancels(w: BookingWorld, bookingNumber: string) {
  const calls = (await (await fetch(`${w.world.sandboxes.wellhub.url}/__sandbox/calls?method=PATCH`)).json()) as { calls: Array<{ path: string; body: { status?: string }; status?: number }> };
  return calls.calls.filter((c) => c.path.endsWith(`/bookings/${bookingNumber}`) && c.body.status === 'CANCELLED_BY_GYM');
}

/** A Wellhub member books the session, through the webhook route and the booking workflow; reserved everywhere. */
async function wellhubMember(w: BookingWorld, sessionId: string, external: Map<Aggregator, string>, member: string): Promise<string> {
  const { bookingNumber } = await w.world.requestBooking('wellhub', { sessionId: external.get('wellhub') as string, member: { id: member, name: member } });
  await eventually(async () => ((await w.world.booking('wellhub', bookingNumber))?.status === 'reserved' ? true : undefined), 20_000, 'wellhub reserved');
  await eventually(async () => ((await ledgerBookings(sessionId)).some((b) => b.status === 'reserved') ? true : undefined), 20_000, 'the ledger reserved');
  return bookingNumber;
}

const cancellationOf = async (app: ReturnType<typeof buildApp>, w: BookingWorld, sessionId: string) =>
  (await request(app).get(`/v1/sessions/${sessionId}/cancellation`).set(bearer(w.key))).body as { status: string };

const branchRow = (sessionId: string, aggregator: Aggregator) =>
  db.selectFrom('session_cancellation_branches').selectAll().where('session_id', '=', sessionId).where('aggregator', '=', aggregator).executeTakeFirstOrThrow();

const ledgerBookings = (sessionId: string) =>
  db.selectFrom('bookings').select(['id', 'source', 'aggregator_booking_number', 'status', 'status_reason', 'aggregator_cancelled_at']).where('session_id', '=', sessionId).orderBy('source').execute();

interface World {
  w: BookingWorld;
  app: ReturnType<typeof buildApp>;
  taskQueue: string;
  lifecycle: WorkflowHandle<ActivityLifecycleWorkflow>;
  sessionId: string;
  /** The session's id at each aggregator. */
  external: Map<Aggregator, string>;
}

/**
 * Runs a test with a worker of its own, the app on the time-skipping server's client, and a venue connected to the
 * three aggregators' sandboxes with one opted-in session published to all three. The lifecycle workflow, which never
 * ends, is terminated at the end once idle with nothing of it outstanding; every other workflow is let finish.
 */
async function withWorld(run: (world: World) => Promise<void>): Promise<void> {
  const taskQueue = `cancellation-timer-${randomUUID()}`;
  const worker = await timeSkippingWorker(env, { taskQueue, deps: activitiesDeps(db), now: serverNow });
  await worker.runUntil(async () => {
    const app = buildApp(db, { client: env.client, taskQueue, worker, stop: () => Promise.resolve() });
    const w = await startBookingWorld(app, db, { aggregators: AGGREGATORS });
    worlds.push(w);
    const { activityId, sessionIds } = await w.offer({ maxParticipants: 10 });
    const sessionId = sessionIds[0] as string;
    const lifecycle = env.client.workflow.getHandle<ActivityLifecycleWorkflow>(workflowIds.activityLifecycle(activityId));
    const external = new Map<Aggregator, string>();
    for (const aggregator of AGGREGATORS) external.set(aggregator, await w.externalSessionId(aggregator, sessionId));
    try {
      await settled(lifecycle);
      await run({ w, app, taskQueue, lifecycle, sessionId, external });
    } finally {
      await Promise.all(AGGREGATORS.map((a) => w.world.clearFaults(a).catch(() => undefined)));
      await settled(lifecycle).catch(() => undefined);
      await quiet(lifecycle).catch(() => undefined);
      await lifecycle.terminate('test done').catch(() => undefined);
    }
  });
}

describe('session cancellation fan-out over an outage (time-skipping server)', () => {
  it('finishes the aggregators that are up, keeps retrying the one down for hours at a bounded pace, and catches up when it is back', async () => {
    await withWorld(async ({ w, app, lifecycle, sessionId, external }) => {
      // A member of each aggregator books, through the webhook route and the booking workflow: reserved everywhere.
      const numbers = new Map<Aggregator, string>();
      for (const aggregator of AGGREGATORS) {
        const { bookingNumber } = await w.world.requestBooking(aggregator, { sessionId: external.get(aggregator) as string, member: { id: `m-${aggregator}`, name: aggregator } });
        numbers.set(aggregator, bookingNumber);
      }
      for (const aggregator of AGGREGATORS) {
        await eventually(async () => ((await w.world.booking(aggregator, numbers.get(aggregator) as string))?.status === 'reserved' ? true : undefined), 20_000, `${aggregator} reserved`);
      }
      await eventually(async () => ((await ledgerBookings(sessionId)).filter((b) => b.status === 'reserved').length === 3 ? true : undefined), 20_000, 'the ledger reserved');
      await settled(lifecycle);
      // The booking workflows linger 10 s (on the server's clock) after their answer, then end.
      await env.sleep('15 seconds');
      for (const aggregator of AGGREGATORS) {
        const handle = env.client.workflow.getHandle(workflowIds.bookingRequest({ aggregator, connectionId: w.connectionIds[aggregator], bookingNumber: numbers.get(aggregator) as string }));
        await eventually(async () => ((await handle.describe()).status.name === 'COMPLETED' ? true : undefined), 20_000, `booking workflow ${aggregator} ended`);
      }
      await settled(lifecycle);

      // Wellhub goes down: every call answers 503. The studio cancels.
      await w.world.fault(DOWN, { status: 503 });
      const cancelledAt = await env.currentTimeMs();
      const res = await request(app).post(`/v1/sessions/${sessionId}/cancel`).set(bearer(w.key)).send({ reason: 'flooded studio' });
      expect(res.status).toBe(202);
      expect(res.body).toMatchObject({ sessionId, status: 'in_progress', bookingsCancelled: 3 });

      // Final in the ledger from the start, whatever the aggregators say.
      const atOnce = await ledgerBookings(sessionId);
      expect(atOnce.map((b) => [b.source, b.status, b.status_reason])).toEqual(
        [...AGGREGATORS].sort().map((a) => [a, 'cancelled_by_gym', 'flooded studio']),
      );

      // The aggregators that are up have it at once: the booking cancelled by the gym, the session gone.
      for (const aggregator of UP) {
        await eventually(async () => ((await branchRow(sessionId, aggregator)).status === 'done' ? true : undefined), 20_000, `${aggregator} branch done`).catch(
          async (error: Error) => {
            const parent = env.client.workflow.getHandle(workflowIds.sessionCancellation(sessionId));
            const rows = await db.selectFrom('session_cancellation_branches').select(['aggregator', 'status', 'attempts', 'last_error']).where('session_id', '=', sessionId).execute();
            const described = await parent.describe().then((d) => d.status.name).catch((e: Error) => e.message);
            const progress = await parent.query(cancellationProgressQuery).catch((e: Error) => e.message);
            throw new Error(`${error.message}: branches ${JSON.stringify(rows)}; fan-out ${described} ${JSON.stringify(progress)}`);
          },
        );
        expect(await branchRow(sessionId, aggregator)).toMatchObject({ status: 'done', attempts: 1, last_error: null });
        expect((await w.world.booking(aggregator, numbers.get(aggregator) as string))?.status, aggregator).toBe('cancelled_by_gym');
        expect((await w.world.held(aggregator)).sessions.map((s) => s.id), aggregator).not.toContain(external.get(aggregator));
        const child = env.client.workflow.getHandle(workflowIds.cancellationBranch(sessionId, aggregator));
        await eventually(async () => ((await child.describe()).status.name === 'COMPLETED' ? true : undefined), 20_000, `${aggregator} branch workflow completed`);
      }

      const parent = env.client.workflow.getHandle(workflowIds.sessionCancellation(sessionId));
      const branch = env.client.workflow.getHandle(workflowIds.cancellationBranch(sessionId, DOWN));
      /** Wellhub's branch between two attempts: ledger row and the branch's query agree, and the parent's query. */
      const between = async () => {
        const { row, state } = await waitingBranch(sessionId, DOWN);
        const progress = await parent.query(cancellationProgressQuery);
        return { row, state, progress };
      };

      const first = await between();
      expect(first.row).toMatchObject({ status: 'retrying', done_at: null });
      expect(first.row.last_error).toMatch(/503/);
      expect(first.progress).toMatchObject({ sessionId, phase: 'fanning_out' });
      expect(first.progress.branches).toHaveLength(3);
      for (const aggregator of UP) expect(first.progress.branches.find((b) => b.aggregator === aggregator)).toMatchObject({ status: 'done', attempts: 1, lastError: null });
      expect(first.progress.branches.find((b) => b.aggregator === DOWN)).toMatchObject({ status: 'retrying', lastError: expect.stringMatching(/503/) });
      expect((await db.selectFrom('session_cancellations').select('completed_at').where('session_id', '=', sessionId).executeTakeFirstOrThrow()).completed_at).toBeNull();
      // Wellhub has not heard: its booking still reserved there, the slot still listed.
      expect((await w.world.booking(DOWN, numbers.get(DOWN) as string))?.status).toBe('reserved');
      expect((await ledgerBookings(sessionId)).find((b) => b.source === DOWN)?.aggregator_cancelled_at).toBeNull();

      // Three simulated hours of outage, in steps: still retrying, the attempts growing, nothing else changing.
      let previous = first.row.attempts;
      let lastErrorAt = first.row.last_error_at?.getTime() ?? Infinity;
      for (let step = 0; step < 6; step += 1) {
        await env.sleep('30 minutes');
        const { row, state, progress } = await between();
        expect(row.status).toBe('retrying');
        expect(row.attempts).toBeGreaterThan(previous);
        expect(row.last_error).toMatch(/503/);
        // Stamped with the wall clock (the ledger's), not the server's skipped one: it moves on with each attempt.
        expect(row.last_error_at?.getTime()).toBeGreaterThan(lastErrorAt);
        lastErrorAt = row.last_error_at?.getTime() ?? Infinity;
        expect(progress.phase).toBe('fanning_out');
        // The branch's own query has every attempt; the parent hears only status changes (its history stays small).
        expect(state).toMatchObject({ status: 'retrying', attempts: row.attempts, lastError: row.last_error });
        expect(progress.branches.find((b) => b.aggregator === DOWN)).toMatchObject({ status: 'retrying' });
        previous = row.attempts;
      }
      const api = await request(app).get(`/v1/sessions/${sessionId}/cancellation`).set(bearer(w.key));
      expect(api.body).toMatchObject({ status: 'in_progress', completedAt: null });
      expect(api.body.aggregators.find((a: { aggregator: string }) => a.aggregator === DOWN)).toMatchObject({ status: 'retrying', attempts: previous, doneAt: null });
      expect(api.body.aggregators.find((a: { aggregator: string }) => a.aggregator === DOWN).lastError).toMatch(/503/);

      // The pace, on the server's clock: each wait is branchBackoffMs of its attempt (2 s doubling, capped at
      // 5 minutes), so over 3 hours about 43 attempts, never more than one per 5 minutes after the ramp.
      const now = await env.currentTimeMs();
      expect(now - cancelledAt).toBeGreaterThanOrEqual(3 * 60 * MINUTE);
      const { attempts, timers } = await branchHistory(branch);
      expect(attempts).toHaveLength(previous);
      expect(timers).toEqual(attempts.map((_, i) => branchBackoffMs(i + 1)));
      for (let i = 1; i < attempts.length; i += 1) {
        const gap = (attempts[i] as number) - (attempts[i - 1] as number);
        expect(gap).toBeGreaterThanOrEqual(branchBackoffMs(i));
        expect(gap).toBeLessThan(branchBackoffMs(i) + 10_000);
        if (i >= 9) expect(gap).toBeGreaterThanOrEqual(5 * MINUTE);
      }
      const expected = attemptsWithin(now - (attempts[0] as number));
      expect(previous).toBeGreaterThanOrEqual(expected - 1);
      expect(previous).toBeLessThanOrEqual(expected + 1);
      expect(previous).toBeGreaterThanOrEqual(38);
      expect(previous).toBeLessThanOrEqual(46);
      // Wellhub saw exactly those attempts: one PATCH CANCELLED_BY_GYM per attempt, each refused.
      const calls = (await (await fetch(`${w.world.sandboxes[DOWN].url}/__sandbox/calls?method=PATCH`)).json()) as { calls: Array<{ path: string; body: { status?: string }; status?: number }> };
      const cancels = calls.calls.filter((c) => c.path.endsWith(`/bookings/${numbers.get(DOWN)}`) && c.body.status === 'CANCELLED_BY_GYM');
      expect(cancels).toHaveLength(previous);
      expect(cancels.every((c) => c.status === 503)).toBe(true);

      // Wellhub is back: the next attempt (within 5 minutes) gets through and the whole cancellation completes.
      await w.world.clearFaults(DOWN);
      await env.sleep('5 minutes');
      await eventually(async () => ((await branchRow(sessionId, DOWN)).status === 'done' ? true : undefined), 20_000, 'the Wellhub branch done');
      expect(await branchRow(sessionId, DOWN)).toMatchObject({ status: 'done', attempts: previous + 1 });
      expect((await branchRow(sessionId, DOWN)).done_at).not.toBeNull();
      const completed = await eventually(async () => {
        const row = await db.selectFrom('session_cancellations').selectAll().where('session_id', '=', sessionId).executeTakeFirstOrThrow();
        return row.completed_at !== null ? row : undefined;
      }, 20_000, 'the cancellation completed');
      expect(completed.completed_at!.getTime()).toBeGreaterThan(lastErrorAt);
      await eventually(async () => ((await parent.describe()).status.name === 'COMPLETED' ? true : undefined), 20_000, 'the parent workflow completed');
      const result = (await parent.result()) as CancellationProgress;
      expect(result.phase).toBe('done');
      expect(result.branches.map((b) => [b.aggregator, b.status]).sort()).toEqual([...AGGREGATORS].sort().map((a) => [a, 'done']));
      expect(result.branches.find((b) => b.aggregator === DOWN)?.attempts).toBe(previous + 1);
      const final = await request(app).get(`/v1/sessions/${sessionId}/cancellation`).set(bearer(w.key));
      expect(final.body).toMatchObject({ status: 'done', bookingsCancelled: 3 });
      expect(final.body.aggregators.every((a: { status: string }) => a.status === 'done')).toBe(true);

      // Wellhub has it now: the member's booking cancelled by the gym, the slot gone.
      expect((await w.world.booking(DOWN, numbers.get(DOWN) as string))?.status).toBe('cancelled_by_gym');
      expect((await w.world.held(DOWN)).sessions.map((s) => s.id)).not.toContain(external.get(DOWN));
      const ledger = await ledgerBookings(sessionId);
      expect(ledger.every((b) => b.status === 'cancelled_by_gym' && b.aggregator_cancelled_at !== null)).toBe(true);
      const history = await db.selectFrom('booking_status_history').select(['to_status', 'reason']).where('booking_id', 'in', ledger.map((b) => b.id)).where('to_status', '=', 'cancelled_by_gym').execute();
      expect(history).toEqual(Array(3).fill({ to_status: 'cancelled_by_gym', reason: 'flooded studio' }));
    });
  });

  it('fans out a cancellation whose transaction commits only after the fan-out began', async () => {
    await withWorld(async ({ w, taskQueue, sessionId, external }) => {
      // What the API does (api/routes/cancellations.ts): the ledger under the session's lock, the workflow started
      // inside the same transaction. Here the commit lands a moment late, as under load it can: after the fan-out's
      // first step has run (or 5 s, whichever comes first).
      const parent = env.client.workflow.getHandle(workflowIds.sessionCancellation(sessionId));
      const control = temporalCancellationControl(env.client, { taskQueue });
      // (BookingWorld.companyId reads the wrong field of the API's answer: the ledger has it.)
      const { company_id: companyId } = await db.selectFrom('sessions').select('company_id').where('id', '=', sessionId).executeTakeFirstOrThrow();
      await db.transaction().execute(async (trx) => {
        const outcome = await cancelSessionInLedger(trx, { companyId, sessionId, reason: 'late commit', actor: 'test' });
        if (outcome.outcome !== 'started') throw new Error(`not started: ${outcome.outcome}`);
        await control.start({ companyId, venueId: outcome.venueId, activityId: outcome.activityId, sessionId, reason: 'late commit' });
        await eventually(async () => ((await activitiesDone(parent, 'openBranches')) > 0 ? true : undefined), 5_000, 'the fan-out begun').catch(() => undefined);
      });

      // Once committed, the cancellation reaches every aggregator and completes.
      await eventually(async () => ((await parent.describe()).status.name !== 'RUNNING' ? true : undefined), 20_000, 'the fan-out ended');
      const branches = await db.selectFrom('session_cancellation_branches').select(['aggregator', 'status']).where('session_id', '=', sessionId).orderBy('aggregator').execute();
      expect(branches).toEqual([...AGGREGATORS].sort().map((aggregator) => ({ aggregator, status: 'done' })));
      expect((await db.selectFrom('session_cancellations').select('completed_at').where('session_id', '=', sessionId).executeTakeFirstOrThrow()).completed_at).not.toBeNull();
      for (const aggregator of AGGREGATORS) {
        expect((await w.world.held(aggregator)).sessions.map((s) => s.id), aggregator).not.toContain(external.get(aggregator));
      }
    });
  });
  it('keeps a branch that Wellhub answers 401 retrying, tells no booking, and wakes it when the credentials are updated', async () => {
    await withWorld(async ({ w, app, sessionId, external }) => {
      const bookingNumber = await wellhubMember(w, sessionId, external, 'm-expired-token');
      // The token expired: Wellhub answers 401 to the booking's cancellation and to the slot's removal.
      await w.world.fault('wellhub', { status: 401, method: 'PATCH', path: '/bookings/' });
      await w.world.fault('wellhub', { status: 401, method: 'DELETE', path: '/slots/' });
      const res = await request(app).post(`/v1/sessions/${sessionId}/cancel`).set(bearer(w.key)).send({ reason: 'instructor ill' });
      expect(res.status).toBe(202);

      // Not gone there, not failed for good: retrying, with the error shown; the booking not stamped as told.
      const first = await waitingBranch(sessionId, 'wellhub');
      expect(first.row).toMatchObject({ status: 'retrying', done_at: null });
      expect(first.row.last_error).toMatch(/401/);
      expect((await ledgerBookings(sessionId)).find((b) => b.source === 'wellhub')?.aggregator_cancelled_at).toBeNull();
      expect((await w.world.booking('wellhub', bookingNumber))?.status).toBe('reserved');

      // Twenty simulated minutes later: still retrying, now at the 5-minute pace.
      await env.sleep('20 minutes');
      const later = await waitingBranch(sessionId, 'wellhub');
      expect(later.row.status).toBe('retrying');
      expect(later.row.attempts).toBeGreaterThan(first.row.attempts);
      const api = await request(app).get(`/v1/sessions/${sessionId}/cancellation`).set(bearer(w.key));
      const shown = api.body.aggregators.find((a: { aggregator: string }) => a.aggregator === 'wellhub');
      expect(shown).toMatchObject({ status: 'retrying', attempts: later.row.attempts });
      expect(shown.lastError).toMatch(/401/);

      // The studio updates the token: the branch tries again at once instead of sleeping out its backoff (the
      // server's clock does not skip here, so it moves on in real time only).
      await w.world.clearFaults('wellhub');
      const before = await env.currentTimeMs();
      const patched = await request(app)
        .patch(`/v1/connections/${w.connectionIds.wellhub}`)
        .set(bearer(w.key))
        .send({ credentials: { apiToken: w.world.sandboxes.wellhub.connection.apiToken } });
      expect(patched.status).toBe(200);
      await eventually(async () => ((await branchRow(sessionId, 'wellhub')).status === 'done' ? true : undefined), 20_000, 'the Wellhub branch done');
      expect((await env.currentTimeMs()) - before).toBeLessThan(60_000);
      expect(await branchRow(sessionId, 'wellhub')).toMatchObject({ status: 'done', attempts: later.row.attempts + 1 });
      expect((await w.world.booking('wellhub', bookingNumber))?.status).toBe('cancelled_by_gym');
      expect((await w.world.held('wellhub')).sessions.map((s) => s.id)).not.toContain(external.get('wellhub'));
      await eventually(async () => ((await cancellationOf(app, w, sessionId)).status === 'done' ? true : undefined), 20_000, 'the cancellation done');
    });
  });

  it("waits at least a 429's Retry-After before calling the aggregator again", async () => {
    await withWorld(async ({ w, app, sessionId, external }) => {
      const bookingNumber = await wellhubMember(w, sessionId, external, 'm-throttled');
      await w.world.fault('wellhub', { status: 429, retryAfter: 120, method: 'PATCH', path: '/bookings/' });
      const res = await request(app).post(`/v1/sessions/${sessionId}/cancel`).set(bearer(w.key)).send({ reason: 'instructor ill' });
      expect(res.status).toBe(202);
      await waitingBranch(sessionId, 'wellhub');
      expect(await wellhubCancels(w, bookingNumber)).toHaveLength(1);

      // Inside the throttle window (110 of the 120 s asked): no second call.
      await env.sleep('110 seconds');
      await waitingBranch(sessionId, 'wellhub');
      expect(await wellhubCancels(w, bookingNumber)).toHaveLength(1);
      const { timers } = await branchHistory(env.client.workflow.getHandle(workflowIds.cancellationBranch(sessionId, 'wellhub')));
      expect(timers.length).toBeGreaterThanOrEqual(1);
      for (const t of timers) expect(t).toBeGreaterThanOrEqual(120_000);

      // Once the window has passed, the next attempt goes out; Wellhub takes it once it stops throttling.
      await env.sleep('15 seconds');
      await waitingBranch(sessionId, 'wellhub');
      const calls = await wellhubCancels(w, bookingNumber);
      expect(calls).toHaveLength(2);
      expect(calls.every((c) => c.status === 429)).toBe(true);
      await w.world.clearFaults('wellhub');
      await env.sleep('125 seconds');
      await eventually(async () => ((await branchRow(sessionId, 'wellhub')).status === 'done' ? true : undefined), 20_000, 'the Wellhub branch done');
      expect(await wellhubCancels(w, bookingNumber)).toHaveLength(3);
      await eventually(async () => ((await cancellationOf(app, w, sessionId)).status === 'done' ? true : undefined), 20_000, 'the cancellation done');
    });
  });

  it('keeps the histories bounded while a branch retries for a simulated week', async () => {
    await withWorld(async ({ w, app, lifecycle, sessionId, external }) => {
      const bookingNumber = await wellhubMember(w, sessionId, external, 'm-week');
      // Wellhub in maintenance for a week, asking to come back in an hour each time.
      await w.world.fault('wellhub', { status: 503, retryAfter: 3600, method: 'PATCH', path: '/bookings/' });
      const res = await request(app).post(`/v1/sessions/${sessionId}/cancel`).set(bearer(w.key)).send({ reason: 'closed for a week' });
      expect(res.status).toBe(202);
      const parentId = workflowIds.sessionCancellation(sessionId);
      const branchId = workflowIds.cancellationBranch(sessionId, 'wellhub');
      await waitingBranch(sessionId, 'wellhub');
      // The activity's lifecycle has nothing to do with the week (its reconciliation would only slow the test down):
      // ended once idle, as nothing may be terminated mid-activity on this server.
      await settled(lifecycle);
      await quiet(lifecycle);
      await lifecycle.terminate('not part of this test');

      // Bounds: the parent hears a branch's status changes only (not its attempts); a branch run continues as new
      // after BRANCH_ATTEMPTS_PER_RUN attempts, each attempt adding under 20 events.
      const PARENT_MAX = 80;
      const RUN_MAX = 1_020;
      let parentMax = 0;
      let runMax = 0;
      for (let step = 0; step < 28; step += 1) {
        await env.sleep('6 hours');
        await waitingBranch(sessionId, 'wellhub');
        parentMax = Math.max(parentMax, await historyLength(parentId));
        runMax = Math.max(runMax, await historyLength(branchId));
        expect(parentMax, `parent history after ${(step + 1) * 6} h`).toBeLessThanOrEqual(PARENT_MAX);
        expect(runMax, `branch run history after ${(step + 1) * 6} h`).toBeLessThanOrEqual(RUN_MAX);
      }
      const { row } = await waitingBranch(sessionId, 'wellhub');
      // One attempt an hour (Retry-After) for 168 hours.
      expect(row.attempts).toBeGreaterThanOrEqual(165);
      expect(row.attempts).toBeLessThanOrEqual(172);
      const runs = await runsOf(branchId);
      expect(runs.length).toBeGreaterThanOrEqual(Math.floor(row.attempts / BRANCH_ATTEMPTS_PER_RUN));
      for (const run of runs) expect(run.events).toBeLessThanOrEqual(RUN_MAX);
      console.info('a week of retries', { attempts: row.attempts, branchRuns: runs.map((r) => r.events), parentEvents: parentMax });

      await w.world.clearFaults('wellhub');
      await env.sleep('1 hour');
      await eventually(async () => ((await branchRow(sessionId, 'wellhub')).status === 'done' ? true : undefined), 20_000, 'the Wellhub branch done');
      await eventually(async () => ((await cancellationOf(app, w, sessionId)).status === 'done' ? true : undefined), 20_000, 'the cancellation done');
      expect((await w.world.booking('wellhub', bookingNumber))?.status).toBe('cancelled_by_gym');
      await eventually(async () => ((await env.client.workflow.getHandle(parentId).describe()).status.name === 'COMPLETED' ? true : undefined), 20_000, 'the parent completed');
      expect(await historyLength(parentId)).toBeLessThanOrEqual(PARENT_MAX);
    });
  });
});
