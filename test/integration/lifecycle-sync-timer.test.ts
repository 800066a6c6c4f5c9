import { randomUUID } from 'node:crypto';
import { Context } from '@temporalio/activity';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Db } from '../../db/index.js';
import type { Aggregator } from '../../domain/model.js';
import { formatInOffset } from '../../domain/time.js';
import {
  ACTIVITY_LIFECYCLE_WORKFLOW,
  activityChangedSignal,
  lifecycleStateQuery,
  type ActivityLifecycleWorkflow,
} from '../../workflows/activity-lifecycle/contract.js';
import { workflowIds } from '../../workflows/ids.js';
import { activitiesDeps, createTestDatabase, eventually, startTimeSkipping, TEST_HORIZON_MS, timeSkippingWorker } from '../support/harness.js';
import { startSandboxWorld, type SandboxWorld } from '../support/sandbox-world.js';
import { insertSandboxConnection, seedActivity } from '../support/seed.js';

/**
 * The lifecycle's timers on the time-skipping test server, with the aggregators' sandboxes over real HTTP: the
 * 30-minute reconciliation that repairs drift, a session entering the 14-day horizon, and continue-as-new. The
 * activities read "now" from the server's clock (the time the attempt was scheduled), so skipped time is their time.
 */
let env: TestWorkflowEnvironment;
let db: Db;
let drop: () => Promise<void>;
const worlds: SandboxWorld[] = [];

beforeAll(async () => {
  ({ db, drop } = await createTestDatabase());
  env = await startTimeSkipping();
});

afterAll(async () => {
  await env?.teardown();
  await Promise.all(worlds.map((w) => w.close()));
  await drop?.();
});

const serverNow = () => new Date(Context.current().info.currentAttemptScheduledTimestampMs);

async function seed(aggregators: Aggregator[]) {
  const world = await startSandboxWorld();
  worlds.push(world);
  const ids = await seedActivity(db, { optedIn: true });
  for (const aggregator of aggregators) await insertSandboxConnection(db, ids, world.sandboxes[aggregator]);
  return { ...ids, world };
}

async function addSession(activity: { companyId: string; venueId: string; activityId: string }, startsAt: Date, room = 'Studio 1') {
  const row = await db
    .insertInto('sessions')
    .values({
      company_id: activity.companyId,
      venue_id: activity.venueId,
      activity_id: activity.activityId,
      starts_at: startsAt,
      utc_offset: '+01:00',
      duration_minutes: 60,
      room,
      instructors: JSON.stringify([]),
      capacity_override: null,
      aggregator_limit_override: null,
    })
    .returning('id')
    .executeTakeFirstOrThrow();
  return row.id;
}

/**
 * Runs a test with a worker of its own; its lifecycle workflows are terminated at the end, since a workflow left
 * running without a worker would hold the next test's skipped time at its first timer.
 */
async function withWorker(activityId: string, run: (taskQueue: string) => Promise<void>): Promise<void> {
  const taskQueue = `sync-timer-${randomUUID()}`;
  const worker = await timeSkippingWorker(env, { taskQueue, deps: activitiesDeps(db), now: serverNow });
  await worker.runUntil(async () => {
    try {
      await run(taskQueue);
    } finally {
      await env.client.workflow
        .getHandle(workflowIds.activityLifecycle(activityId))
        .terminate('test done')
        .catch(() => undefined);
    }
  });
}

/**
 * Waits (in real time, the server's clock standing still) until every lane has finished a pass. Sleeping on the
 * server while activities run can skip past the sleep's end, so each test lets the work settle before it sleeps.
 */
async function settled(handle: { query: (q: typeof lifecycleStateQuery) => Promise<Awaited<ReturnType<ActivityLifecycleWorkflow>>> }, passes = 1) {
  return eventually(async () => {
    const s = await handle.query(lifecycleStateQuery);
    return s.connections.length > 0 && s.connections.every((c) => c.passes >= passes && !c.running && !c.pending) ? s : undefined;
  }, 20_000, 'lanes settled');
}

const start = (taskQueue: string, ids: { companyId: string; venueId: string; activityId: string }, extra: object = {}) =>
  env.client.workflow.start<ActivityLifecycleWorkflow>(ACTIVITY_LIFECYCLE_WORKFLOW, {
    workflowId: workflowIds.activityLifecycle(ids.activityId),
    taskQueue,
    args: [{ ...ids, syncIntervalMs: 30 * 60_000, ...extra }],
  });

const hours = (n: number) => n * 3_600_000;
/** Whole minutes: the aggregators keep starts to the second. */
const minute = (ms: number) => new Date(Math.floor(ms / 60_000) * 60_000);

describe('lifecycle sync timers (time-skipping server)', () => {
  it('repairs drift at the aggregators on the 30-minute reconciliation, and only then', async () => {
    const ids = await seed(['wellhub', 'classpass']);
    const { world } = ids;
    const at = minute((await env.currentTimeMs()) + 3 * 86_400_000);
    await addSession(ids, at);
    await withWorker(ids.activityId, async (taskQueue) => {
      const handle = await start(taskQueue, ids);
      const both = async (check: (h: Awaited<ReturnType<SandboxWorld['held']>>) => boolean) =>
        (await Promise.all((['wellhub', 'classpass'] as const).map(async (a) => check(await world.held(a))))).every(Boolean) || undefined;
      await settled(handle);
      await eventually(() => both((h) => h.sessions.length === 1 && h.sessions[0]?.room === 'Studio 1'), 20_000, 'first push');

      // A reconciliation with nothing changed reads what each aggregator holds and writes nothing.
      const quiet = await Promise.all([world.writes('wellhub'), world.writes('classpass')]);
      await env.sleep('31 minutes');
      const reconciled = await settled(handle, 2);
      expect(reconciled.lastSyncReason).toBe('periodic');
      for (const c of reconciled.connections) expect(c.lastPass).toMatchObject({ reads: 1, writes: 0 });
      expect(await Promise.all([world.writes('wellhub'), world.writes('classpass')])).toEqual(quiet);

      // Drift made at the aggregators behind our back: Wellhub's slot deleted, ClassPass's room changed and a stray
      // session of the same activity added.
      const wellhubSlot = (await world.held('wellhub')).sessions[0]!;
      const wellhub = world.sandboxes.wellhub;
      const classId = (await (await fetch(`${wellhub.url}/__sandbox/state`)).json() as { gyms: Array<{ slots: Array<{ id: number; class_id: number }> }> }).gyms[0]!.slots[0]!.class_id;
      const auth = { authorization: `Bearer ${wellhub.connection.apiToken}`, 'content-type': 'application/json' };
      const gym = wellhub.connection.externalVenueId;
      expect((await fetch(`${wellhub.url}/booking/v1/gyms/${gym}/classes/${classId}/slots/${wellhubSlot.id}`, { method: 'DELETE', headers: auth })).status).toBe(204);
      const classpass = world.sandboxes.classpass;
      const cpAuth = { authorization: `Bearer ${classpass.connection.apiToken}`, 'content-type': 'application/json' };
      const venue = classpass.connection.externalVenueId;
      const cpSession = (await world.held('classpass')).sessions[0]!;
      const put = (reference: string, room: string, startsAt: Date) =>
        fetch(`${classpass.url}/v1/venues/${venue}/sessions/${reference}`, {
          method: 'PUT',
          headers: { ...cpAuth, 'idempotency-key': randomUUID() },
          body: JSON.stringify({
            activity_reference: ids.activityId,
            starts_at: formatInOffset(startsAt, '+01:00'),
            duration_minutes: 60,
            room,
            instructors: [],
            capacity: 10,
            booked: 0,
            booking_opens_at: null,
            booking_closes_at: null,
            cancellable_until: null,
            active: true,
          }),
        });
      expect((await put(cpSession.id, 'Basement', at)).status).toBe(200);
      expect((await put('stray-session', 'Attic', new Date(at.getTime() + hours(2)))).status).toBe(201);
      const writesBefore = await world.writes('wellhub');

      // Until the next reconciliation (an hour after the start) nothing reads the aggregators: the drift stays.
      await env.sleep('20 minutes');
      expect(await world.writes('wellhub')).toBe(writesBefore);
      await env.sleep('15 minutes');
      await eventually(() => both((h) => h.sessions.length === 1 && h.sessions[0]?.room === 'Studio 1' && h.sessions[0]?.at === at.getTime()), 20_000, 'drift repaired');
      const state = await settled(handle, 3);
      expect(state.lastSyncReason).toBe('periodic');
      for (const c of state.connections) expect(c.lastPass?.reads).toBe(1);
    });
  });

  it('lists a session when it enters the booking horizon, not before', async () => {
    const ids = await seed(['workit']);
    const now = await env.currentTimeMs();
    const at = minute(now + TEST_HORIZON_MS + hours(5));
    await addSession(ids, at);
    await withWorker(ids.activityId, async (taskQueue) => {
      const handle = await start(taskQueue, ids);
      const state = await settled(handle);
      expect(state.nextHorizonEntryAt).toBe(new Date(at.getTime() - TEST_HORIZON_MS).toISOString());
      expect((await ids.world.held('workit')).sessions).toHaveLength(0);
      await env.sleep('4 hours');
      expect((await ids.world.held('workit')).sessions).toHaveLength(0);
      await env.sleep('90 minutes');
      await eventually(async () => ((await ids.world.held('workit')).sessions.length === 1 ? true : undefined), 20_000, 'the session listed');
    });
  });

  it('continues as new carrying its state and the changes still pending', async () => {
    const ids = await seed(['onefit']);
    const sessionId = await addSession(ids, new Date((await env.currentTimeMs()) + 86_400_000));
    await withWorker(ids.activityId, async (taskQueue) => {
      const handle = await start(taskQueue, ids, { continueAsNewAfterPasses: 1 });
      const firstRun = (await handle.describe()).runId;
      await settled(handle);
      await eventually(async () => ((await ids.world.held('onefit')).sessions.length === 1 ? true : undefined), 20_000, 'first push');

      // Slow the aggregator so that a second change arrives while the first one's pass runs: it is still pending
      // when the run continues as new.
      await ids.world.fault('onefit', { latencyMs: 1500 });
      await db.updateTable('sessions').set({ room: 'Room A' }).where('id', '=', sessionId).execute();
      await handle.signal(activityChangedSignal, { kind: 'session', id: sessionId });
      await eventually(async () => ((await handle.query(lifecycleStateQuery)).connections[0]?.running ? true : undefined), 10_000, 'the pass running');
      await db.updateTable('sessions').set({ room: 'Room B' }).where('id', '=', sessionId).execute();
      await handle.signal(activityChangedSignal, { kind: 'session', id: randomUUID() });
      await ids.world.clearFaults('onefit');

      await eventually(async () => ((await ids.world.held('onefit')).sessions[0]?.room === 'Room B' ? true : undefined), 30_000, 'the last change');
      const described = await handle.describe();
      expect(described.runId).not.toBe(firstRun);
      // Right after continue-as-new the test server can leave a query to the new run unanswered: ask again.
      const state = await eventually(
        () => env.client.connection.withDeadline(Date.now() + 3_000, () => handle.query(lifecycleStateQuery)).catch(() => undefined),
        30_000,
        'the state of the new run',
      );
      expect(state.syncPasses).toBeGreaterThanOrEqual(3);
      expect(state.changesSeen).toBe(2);
      expect(state.connections[0]).toMatchObject({ aggregator: 'onefit', lastError: null, published: { activity: true, sessions: 1 } });
      expect(state.connections[0]!.passes).toBeGreaterThanOrEqual(2);
    });
  });
});
