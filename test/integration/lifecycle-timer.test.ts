import { randomUUID } from 'node:crypto';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inject } from 'vitest';
import { createActivities } from '../../activities/index.js';
import type { Db } from '../../db/index.js';
import {
  ACTIVITY_LIFECYCLE_WORKFLOW,
  activityChangedSignal,
  lifecycleStateQuery,
  optOutSignal,
  type ActivityLifecycleWorkflow,
} from '../../workflows/activity-lifecycle/contract.js';
import { workflowIds } from '../../workflows/ids.js';
import { activitiesDeps, createTestDatabase, eventually, startTimeSkipping } from '../support/harness.js';
import { seedActivity } from '../support/seed.js';

/**
 * The lifecycle's periodic reconciliation runs on the real 30-minute interval, on the time-skipping test server:
 * the test skips time instead of waiting or shrinking the interval.
 */
let env: TestWorkflowEnvironment;
let db: Db;
let drop: () => Promise<void>;

beforeAll(async () => {
  ({ db, drop } = await createTestDatabase());
  env = await startTimeSkipping();
});

afterAll(async () => {
  await env?.teardown();
  await drop?.();
});

describe('activity lifecycle timer (time-skipping server)', () => {
  it('reconciles every 30 minutes, syncs on change without waiting, and stops on opt-out', async () => {
    const ids = await seedActivity(db, { optedIn: true });
    const taskQueue = `timer-${randomUUID()}`;
    const worker = await Worker.create({
      connection: env.nativeConnection,
      taskQueue,
      workflowBundle: { codePath: inject('workflowBundlePath') },
      activities: createActivities(activitiesDeps(db)),
    });
    await worker.runUntil(async () => {
      const handle = await env.client.workflow.start<ActivityLifecycleWorkflow>(ACTIVITY_LIFECYCLE_WORKFLOW, {
        workflowId: workflowIds.activityLifecycle(ids.activityId),
        taskQueue,
        args: [{ ...ids, syncIntervalMs: 30 * 60_000 }],
      });
      const passes = async () =>
        (await db.selectFrom('activity_lifecycles').selectAll().where('activity_id', '=', ids.activityId).executeTakeFirstOrThrow());

      // Time moves only while the test waits on the server (env.sleep), so the sleeps skip; the polls in between
      // run in real time with the clock standing still, and only wait for the activity to land in the database.
      const passesReach = (n: number) => eventually(async () => ((await passes()).sync_passes >= n ? passes() : undefined), 10_000, `${n} passes`);
      await env.sleep('1 minute');
      expect(await passesReach(1)).toMatchObject({ sync_passes: 1, last_sync_reason: 'start', status: 'running' });

      await env.sleep('28 minutes');
      expect((await passes()).sync_passes).toBe(1);
      await env.sleep('2 minutes');
      expect(await passesReach(2)).toMatchObject({ sync_passes: 2, last_sync_reason: 'periodic' });

      await env.sleep('2 hours');
      expect((await passesReach(6)).sync_passes).toBe(6);

      await handle.signal(activityChangedSignal, { kind: 'session', id: randomUUID() });
      expect(await passesReach(7)).toMatchObject({ sync_passes: 7, last_sync_reason: 'change' });
      expect((await handle.query(lifecycleStateQuery)).changesSeen).toBe(1);

      // As the API does: the ledger says opted out, then the workflow is told.
      await db.updateTable('activities').set({ allow_aggregator_bookings: false }).where('id', '=', ids.activityId).execute();
      await handle.signal(optOutSignal);
      const result = await handle.result();
      expect(result.phase).toBe('stopped');
      expect((await passes()).status).toBe('stopped');
    });
  });
});
