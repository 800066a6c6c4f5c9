import { CancelledFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import request from 'supertest';
import { afterAll, describe, expect, it } from 'vitest';
import type { Express } from 'express';
import { createLifecycleSyncActivities } from '../../activities/lifecycle-sync.js';
import type { Db } from '../../db/index.js';
import { activityChangedSignal, lifecycleStateQuery } from '../../workflows/activity-lifecycle/contract.js';
import { workflowIds } from '../../workflows/ids.js';
import { apiFixtures, bearer } from '../support/api-fixtures.js';
import { activitiesDeps, eventually, type TemporalHarness, useApiHarness } from '../support/harness.js';
import { appWithoutTemporal } from '../support/unreachable-temporal.js';
import { startSandboxWorld, type SandboxWorld } from '../support/sandbox-world.js';

/**
 * Invariant 4 under races: a count is read from the ledger just before it is written, a booking that lands while the
 * write is on its way is written after it, and an attempt Temporal has given up on (cancelled, timed out) stops
 * writing. Real PostgreSQL, Temporal and sandboxes; the slow aggregator is a sandbox latency fault.
 */

let db: Db;
let app: Express;
let temporal: TemporalHarness;
const worlds: SandboxWorld[] = [];
const { newCompany, newVenue } = apiFixtures(() => app);
useApiHarness((h) => ({ db, app, temporal } = h));
afterAll(async () => {
  await Promise.all(worlds.map((w) => w.close()));
});

const inDays = (days: number) => {
  const d = new Date(Date.now() + days * 86_400_000);
  d.setUTCHours(18, 0, 0, 0);
  return d;
};
const iso = (d: Date) => d.toISOString().replace(/\.\d+Z$/, '+00:00');

async function offeredActivity(world: SandboxWorld, maxParticipants: number, sessionDays: number[]) {
  const { key } = await newCompany();
  const venueId = await newVenue(key);
  const connection = await request(app).post(`/v1/venues/${venueId}/connections`).set(bearer(key)).send(world.connectionBody('workit'));
  expect(connection.status).toBe(201);
  const activity = await request(app)
    .post('/v1/activities')
    .set(bearer(key))
    .send({ venueId, name: 'Yoga', maxParticipants, registrationRules: { allowAggregatorBookings: true } });
  const activityId = activity.body.id as string;
  const sessions: Array<{ id: string; at: number }> = [];
  for (const days of sessionDays) {
    const at = inDays(days);
    const s = await request(app).post(`/v1/activities/${activityId}/sessions`).set(bearer(key)).send({ startsAt: iso(at), durationMinutes: 60 });
    expect(s.status).toBe(201);
    sessions.push({ id: s.body.id as string, at: at.getTime() });
  }
  const customers: string[] = [];
  for (let i = 0; i < 4; i++) customers.push((await request(app).post('/v1/customers').set(bearer(key)).send({ name: `Member ${i}` })).body.id as string);
  return { key, activityId, connectionId: connection.body.id as string, sessions, customers };
}

interface Call {
  method: string;
  path: string;
  at: string;
}
const calls = async (world: SandboxWorld): Promise<Call[]> => {
  const body = (await (await fetch(`${world.sandboxes.workit.url}/__sandbox/calls`)).json()) as Call[] | { calls: Call[] };
  return Array.isArray(body) ? body : body.calls;
};

describe('stale free-spot counts', () => {
  it('writes the count the ledger holds when the write goes out, and again when a booking lands while it is on its way', async () => {
    const world = await startSandboxWorld();
    worlds.push(world);
    const { key, activityId, sessions, customers } = await offeredActivity(world, 3, [2, 3]);
    const [s1, s2] = sessions as [{ id: string; at: number }, { id: string; at: number }];
    const capacityAt = async (at: number) => (await world.held('workit')).sessions.find((s) => s.at === at)?.capacity;
    await eventually(async () => ((await capacityAt(s1.at)) === 3 && (await capacityAt(s2.at)) === 3 ? true : undefined), 20_000, 'first push');
    const handle = temporal.client.workflow.getHandle(workflowIds.activityLifecycle(activityId));
    const settled = () =>
      eventually(async () => {
        const c = (await handle.query(lifecycleStateQuery)).connections[0];
        return c && !c.running && !c.pending ? c : undefined;
      }, 20_000, 'the lane idle');
    const before = await settled();

    // Bookings whose signals never reach the lifecycle: only a pass that reads the ledger can bring them out.
    const silent = appWithoutTemporal(db, temporal.taskQueue);
    const book = async (sessionId: string, customerId: string) =>
      expect((await request(silent).post(`/v1/sessions/${sessionId}/bookings`).set(bearer(key)).send({ customerId })).status).toBe(201);
    await book(s1.id, customers[0]!);
    await book(s2.id, customers[0]!);

    // Every count write takes 1.5 s to land. One pass plans both sessions' counts (2 free each) ...
    await world.fault('workit', { latencyMs: 1500, method: 'PATCH', path: '/availability$' });
    const patchesBefore = (await calls(world)).filter((c) => c.method === 'PATCH').length;
    await handle.signal(activityChangedSignal, { kind: 'activity', id: activityId });
    const patchesArrived = (n: number) =>
      eventually(async () => ((await calls(world)).filter((c) => c.method === 'PATCH').length >= patchesBefore + n ? true : undefined), 20_000, `${n} count writes`);
    // ... the second session is booked again while the first one's write is on its way (before the second's is read) ...
    await patchesArrived(1);
    await book(s2.id, customers[1]!);
    // ... and once more while the second one's own write is on its way.
    await patchesArrived(2);
    await book(s2.id, customers[2]!);

    await eventually(async () => {
      const c = (await handle.query(lifecycleStateQuery)).connections[0];
      return c && c.passes > before.passes && !c.running && !c.pending ? c : undefined;
    }, 30_000, 'the pass done');
    // With no further signal, the aggregator already holds what the ledger allows: 2 free in the first, none in the second.
    expect(await capacityAt(s1.at)).toBe(2);
    expect(await capacityAt(s2.at)).toBe(0);
    await world.clearFaults('workit');
  });

  it('stops writing once its attempt is cancelled (a timed-out attempt), and heartbeats while it works', async () => {
    const world = await startSandboxWorld();
    worlds.push(world);
    // Opted out first, so no lifecycle writes beside the attempt under test; then opted in, in the ledger only.
    const { key } = await newCompany();
    const venueId = await newVenue(key);
    const connection = await request(app).post(`/v1/venues/${venueId}/connections`).set(bearer(key)).send(world.connectionBody('workit'));
    const activity = await request(app).post('/v1/activities').set(bearer(key)).send({ venueId, name: 'Spin', maxParticipants: 8 });
    const activityId = activity.body.id as string;
    for (let day = 1; day <= 8; day++) {
      await request(app).post(`/v1/activities/${activityId}/sessions`).set(bearer(key)).send({ startsAt: iso(inDays(day)), durationMinutes: 45 });
    }
    await db.updateTable('activities').set({ allow_aggregator_bookings: true }).where('id', '=', activityId).execute();
    await world.fault('workit', { latencyMs: 300, path: '/sessions/' });

    const env = new MockActivityEnvironment({ heartbeatTimeoutMs: 120_000, startToCloseTimeoutMs: 600_000 });
    const acts = createLifecycleSyncActivities(activitiesDeps(db, world.endpoints));
    let heartbeats = 0;
    let writesAtCancel: Promise<number> | undefined;
    env.on('heartbeat', () => {
      heartbeats += 1;
      if (heartbeats === 3) {
        // Temporal gave up on this attempt (its start-to-close or heartbeat timeout passed): the next heartbeat hears it.
        env.cancel('TIMED_OUT');
        writesAtCancel = world.writes('workit');
      }
    });
    const pass = env.run(acts.syncConnection, { activityId, connectionId: connection.body.id as string, reconcile: false });
    await expect(pass).rejects.toBeInstanceOf(CancelledFailure);
    // Whatever was on its way may land; nothing is sent after the cancellation.
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    expect(writesAtCancel).toBeDefined();
    expect((await world.writes('workit')) - (await writesAtCancel!)).toBeLessThanOrEqual(1);
    expect(await world.writes('workit')).toBeLessThan(9);
    await world.clearFaults('workit');
  });
});
