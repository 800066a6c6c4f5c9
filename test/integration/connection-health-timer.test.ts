import { randomUUID } from 'node:crypto';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Db } from '../../db/index.js';
import { SecretBox } from '../../lib/secrets.js';
import { newSigningSecret } from '../../lib/standard-webhooks.js';
import { ACTIVITY_LIFECYCLE_WORKFLOW, type ActivityLifecycleWorkflow } from '../../workflows/activity-lifecycle/contract.js';
import { workflowIds } from '../../workflows/ids.js';
import { SECRETS_KEY, activitiesDeps, createTestDatabase, eventually, startTimeSkipping, timeSkippingWorker } from '../support/harness.js';
import { startSandboxWorld, type SandboxWorld } from '../support/sandbox-world.js';
import { insertSandboxConnection, seedActivity } from '../support/seed.js';

/**
 * `connection.failing` and `connection.recovered` from the real sync, on the time-skipping test server: Wellhub's
 * sandbox answers every call 503 while the lifecycle's pass retries with backoff; five minutes of the server's clock
 * later the connection is announced failing (once), and at the first pass that gets through after Wellhub is back,
 * recovered (once). The activities read "now" from the server's clock.
 */
let env: TestWorkflowEnvironment;
let db: Db;
let drop: () => Promise<void>;
let world: SandboxWorld;

beforeAll(async () => {
  ({ db, drop } = await createTestDatabase());
  env = await startTimeSkipping();
  world = await startSandboxWorld();
});
afterAll(async () => {
  await env?.teardown();
  await world?.close();
  await drop?.();
});

/**
 * "Now" for the activities: the server's clock. The test server reports a retried activity's first schedule time as
 * each attempt's, so the time is followed instead: the test skips in 30-second steps and reads the server's clock
 * after each, which keeps every attempt's "now" within 30 s of the server's.
 */
let offsetMs = 0;
const serverNow = () => new Date(Date.now() + offsetMs);
async function skip(minutes: number): Promise<void> {
  for (let skipped = 0; skipped < minutes * 60_000; skipped += 30_000) {
    await env.sleep(30_000);
    offsetMs = Number(await env.currentTimeMs()) - Date.now();
  }
}

describe('connection health from the sync (time-skipping server)', () => {
  it('announces failing after five minutes of failed passes and recovered at the first that gets through, each once', async () => {
    const ids = await seedActivity(db, { optedIn: true });
    const sandbox = world.sandboxes.wellhub;
    const connection = { id: await insertSandboxConnection(db, ids, sandbox) };
    await db
      .insertInto('event_endpoints')
      .values({ company_id: ids.companyId, url: 'http://127.0.0.1:9/', event_types: ['connection.failing', 'connection.recovered'], secrets_sealed: new SecretBox(SECRETS_KEY).sealJson({ current: newSigningSecret() }) })
      .execute();
    await world.fault('wellhub', { status: 503 });
    const events = () => db.selectFrom('events').select(['type', 'payload']).where('company_id', '=', ids.companyId).orderBy('seq').execute();

    const taskQueue = `health-timer-${randomUUID()}`;
    const worker = await timeSkippingWorker(env, { taskQueue, deps: activitiesDeps(db), now: serverNow });
    await worker.runUntil(async () => {
      const handle = await env.client.workflow.start<ActivityLifecycleWorkflow>(ACTIVITY_LIFECYCLE_WORKFLOW, {
        workflowId: workflowIds.activityLifecycle(ids.activityId),
        taskQueue,
        args: [{ ...ids, syncIntervalMs: 30 * 60_000 }],
      });
      try {
        await eventually(async () => ((await db.selectFrom('connections').select('first_failure_at').where('id', '=', connection.id).executeTakeFirstOrThrow()).first_failure_at ?? undefined), 20_000, 'a first failure');
        await skip(3);
        expect(await events()).toEqual([]);
        await skip(10);
        const failing = await eventually(async () => ((await events()).length > 0 ? events() : undefined), 20_000, 'connection.failing');
        expect(failing.map((e) => e.type)).toEqual(['connection.failing']);
        expect((failing[0]?.payload as { data: { connectionId: string; lastError: string } }).data).toMatchObject({ connectionId: connection.id });
        expect((failing[0]?.payload as { data: { lastError: string } }).data.lastError).toContain('503');

        await skip(20);
        expect((await events()).map((e) => e.type)).toEqual(['connection.failing']);
        await world.clearFaults('wellhub');
        await skip(6);
        const both = await eventually(async () => ((await events()).length > 1 ? events() : undefined), 20_000, 'connection.recovered');
        expect(both.map((e) => e.type)).toEqual(['connection.failing', 'connection.recovered']);
        await skip(31);
        expect((await events()).length).toBe(2);
        const row = await db.selectFrom('connections').select(['first_failure_at', 'failing_since']).where('id', '=', connection.id).executeTakeFirstOrThrow();
        expect(row).toEqual({ first_failure_at: null, failing_since: null });
      } finally {
        await handle.terminate('test done').catch(() => undefined);
      }
    });
  }, 180_000);
});
