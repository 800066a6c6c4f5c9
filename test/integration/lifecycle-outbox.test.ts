import { WorkflowNotFoundError } from '@temporalio/client';
import request from 'supertest';
import { afterAll, describe, expect, it } from 'vitest';
import type { Express } from 'express';
import { claimDueChanges, recordChange, recordOrphanedLifecycles } from '../../db/lifecycle-outbox.js';
import type { Db } from '../../db/index.js';
import { AGGREGATORS } from '../../domain/model.js';
import { workflowIds } from '../../workflows/ids.js';
import { apiFixtures, bearer } from '../support/api-fixtures.js';
import { eventually, type TemporalHarness, useApiHarness } from '../support/harness.js';
import { startSandboxWorld, type SandboxWorld } from '../support/sandbox-world.js';
import { seedActivity } from '../support/seed.js';
import { appWithoutTemporal } from '../support/unreachable-temporal.js';

/**
 * A change the lifecycle must hear of is in the outbox with the change itself; the relay (running here as in
 * `npm start`) signals what the request could not, and the sweep starts the lifecycle of any offered activity that
 * has none. The service under test is the same as the relay's, but every call it makes to Temporal fails.
 */

let db: Db;
let app: Express;
let temporal: TemporalHarness;
const worlds: SandboxWorld[] = [];
const { newCompany, newVenue } = apiFixtures(() => app);
useApiHarness((h) => ({ db, app, temporal } = h), { lifecycleRelay: true });
afterAll(async () => {
  await Promise.all(worlds.map((w) => w.close()));
});

const tomorrow = () => new Date(Date.now() + 86_400_000).toISOString().replace(/\.\d+Z$/, '+00:00');

const running = (activityId: string) =>
  eventually(
    async () => {
      const described = await temporal.client.workflow
        .getHandle(workflowIds.activityLifecycle(activityId))
        .describe()
        .catch((error: unknown) => {
          if (error instanceof WorkflowNotFoundError) return undefined;
          throw error;
        });
      return described?.status.name === 'RUNNING' ? described : undefined;
    },
    20_000,
    'the lifecycle running',
  );

describe('lifecycle outbox and relay', () => {
  it('commits an opt-in whose signal fails, and the relay starts its lifecycle; an opt-out whose signal fails stops it', async () => {
    const { key } = await newCompany();
    const venueId = await newVenue(key);
    const cut = appWithoutTemporal(db, temporal.taskQueue);
    const created = await request(cut)
      .post('/v1/activities')
      .set(bearer(key))
      .send({ venueId, name: 'Yoga', maxParticipants: 10, registrationRules: { allowAggregatorBookings: true } });
    expect(created.status).toBe(201);
    const activityId = created.body.id as string;
    expect(created.body.lifecycle).toMatchObject({ workflowId: workflowIds.activityLifecycle(activityId), status: null });
    expect(await db.selectFrom('lifecycle_outbox').select('change_kind').where('activity_id', '=', activityId).execute()).toEqual([
      { change_kind: 'activity' },
    ]);

    await running(activityId);
    await eventually(
      () => db.selectFrom('activity_lifecycles').selectAll().where('activity_id', '=', activityId).where('status', '=', 'running').executeTakeFirst(),
      10_000,
      'the lifecycle recorded as running',
    );
    await eventually(async () => ((await db.selectFrom('lifecycle_outbox').select('id').where('activity_id', '=', activityId).execute()).length === 0 ? true : undefined), 10_000, 'the outbox emptied');

    const optedOut = await request(cut).patch(`/v1/activities/${activityId}`).set(bearer(key)).send({ registrationRules: { allowAggregatorBookings: false } });
    expect(optedOut.status).toBe(200);
    const result = (await temporal.client.workflow.getHandle(workflowIds.activityLifecycle(activityId)).result()) as { phase: string };
    expect(result.phase).toBe('stopped');
  });

  it("updates every aggregator's free spots after a direct booking and its cancellation whose signals failed", async () => {
    const world = await startSandboxWorld();
    worlds.push(world);
    const { key } = await newCompany();
    const venueId = await newVenue(key);
    for (const aggregator of AGGREGATORS) {
      expect((await request(app).post(`/v1/venues/${venueId}/connections`).set(bearer(key)).send(world.connectionBody(aggregator))).status).toBe(201);
    }
    const activity = await request(app)
      .post('/v1/activities')
      .set(bearer(key))
      .send({ venueId, name: 'Pilates', maxParticipants: 4, registrationRules: { allowAggregatorBookings: true } });
    const session = await request(app).post(`/v1/activities/${activity.body.id}/sessions`).set(bearer(key)).send({ startsAt: tomorrow(), durationMinutes: 60 });
    const everywhere = (capacity: number) =>
      eventually(
        async () => {
          for (const aggregator of AGGREGATORS) if ((await world.held(aggregator)).sessions[0]?.capacity !== capacity) return undefined;
          return true;
        },
        20_000,
        `capacity ${capacity} at every aggregator`,
      );
    await everywhere(4);

    const cut = appWithoutTemporal(db, temporal.taskQueue);
    const customer = await request(app).post('/v1/customers').set(bearer(key)).send({ name: 'Ana' });
    const booked = await request(cut).post(`/v1/sessions/${session.body.id}/bookings`).set(bearer(key)).send({ customerId: customer.body.id });
    expect(booked.status).toBe(201);
    await everywhere(3);
    expect((await request(cut).post(`/v1/bookings/${booked.body.id}/cancel`).set(bearer(key)).send({})).status).toBe(200);
    await everywhere(4);
  });

  it('starts the lifecycle of an offered activity that has none, and of one whose workflow was terminated', async () => {
    // Opted in without any change in the outbox (as before it existed): only the sweep can find it.
    const ids = await seedActivity(db, { optedIn: true });
    const first = await running(ids.activityId);
    await eventually(
      () => db.selectFrom('activity_lifecycles').selectAll().where('activity_id', '=', ids.activityId).where('status', '=', 'running').executeTakeFirst(),
      10_000,
      'the lifecycle recorded',
    );

    // Terminated by hand: its lifecycle row still says running, but it stops recording passes. The sweep takes it for
    // dead once it has been silent for longer than two sync intervals (here: any silence).
    await temporal.client.workflow.getHandle(workflowIds.activityLifecycle(ids.activityId)).terminate('by hand');
    expect(await recordOrphanedLifecycles(db, new Date(Date.now() + 60_000))).toBeGreaterThanOrEqual(1);
    const second = await eventually(async () => {
      const r = await running(ids.activityId);
      return r.runId !== first.runId ? r : undefined;
    }, 20_000, 'a new run');
    expect(second.runId).not.toBe(first.runId);
    // Idempotent: with a change already waiting or the lifecycle running, the sweep adds nothing.
    await eventually(async () => ((await db.selectFrom('lifecycle_outbox').select('id').where('activity_id', '=', ids.activityId).execute()).length === 0 ? true : undefined), 10_000, 'the outbox emptied');
    await eventually(
      () => db.selectFrom('activity_lifecycles').selectAll().where('activity_id', '=', ids.activityId).where('run_id', '=', second.runId).executeTakeFirst(),
      10_000,
      'the new run recorded',
    );
    expect(await recordOrphanedLifecycles(db, new Date(Date.now() - 60_000))).toBe(0);
  });

  it('lets several relays claim at once without two taking the same row, and keeps a claimed row from the others until its lease ends', async () => {
    // Opted out, so the harness's own relay only tells a lifecycle that is not running to stop: no start.
    const ids = await seedActivity(db, { optedIn: false });
    const rows = [];
    for (let i = 0; i < 40; i++) rows.push(await recordChange(db, ids, { kind: 'session', id: `s-${i}` }));
    const mine = new Set(rows.map((r) => r.id));
    const claims = await Promise.all([0, 1, 2, 3].map(() => claimDueChanges(db, { limit: 15, leaseMs: 60_000, graceMs: 0 })));
    const taken = claims.flat().filter((r) => mine.has(r.id));
    expect(new Set(taken.map((r) => r.id)).size).toBe(taken.length);
    expect(taken.length).toBeGreaterThan(0);
    // Under lease: no relay takes them again; the harness relay may have taken the others, so none are left to take.
    const again = (await claimDueChanges(db, { limit: 100, leaseMs: 60_000, graceMs: 0 })).filter((r) => mine.has(r.id) && taken.some((t) => t.id === r.id));
    expect(again).toEqual([]);
  });
});
