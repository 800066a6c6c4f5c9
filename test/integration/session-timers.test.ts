import { randomUUID } from 'node:crypto';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import type { Express } from 'express';
import type { Kysely } from 'kysely';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createActivities } from '../../activities/index.js';
import { temporalSessionTimersControl, type SessionTimersControl } from '../../api/clients/session-timers.js';
import { startSessionTimersRelay } from '../../api/session-timers-relay.js';
import { applyMemberEvent } from '../../db/booking-requests.js';
import type { Db } from '../../db/index.js';
import { markNoShows, recordSessionTimers } from '../../db/session-timers.js';
import { workflowIds } from '../../workflows/ids.js';
import { sessionTimersStateQuery, type SessionTimersResult } from '../../workflows/session-timers/contract.js';
import { lifecycleStateQuery } from '../../workflows/activity-lifecycle/contract.js';
import * as migration0011 from '../../db/migrations/0011_no_shows_and_spot_release.js';
import { apiFixtures, bearer } from '../support/api-fixtures.js';
import { activitiesDeps, buildApp, createTestDatabase, eventually, logger, startTimeSkipping, type TemporalHarness } from '../support/harness.js';

/**
 * No-shows on the time-skipping test server: the session's timer workflow is started by the relay from the outbox row
 * the API wrote with the session, and the test skips time to the end of the session plus the activity's delay,
 * instead of waiting or shortening the rule.
 */
let env: TestWorkflowEnvironment;
let db: Db;
let drop: () => Promise<void>;
let app: Express;
let worker: Worker;
let running: Promise<void>;
let relay: { stop: () => Promise<void> };
const taskQueue = `session-timers-${randomUUID()}`;
const { newCompany, newVenue } = apiFixtures(() => app);

beforeAll(async () => {
  ({ db, drop } = await createTestDatabase());
  env = await startTimeSkipping();
  worker = await Worker.create({
    connection: env.nativeConnection,
    taskQueue,
    workflowBundle: { codePath: inject('workflowBundlePath') },
    activities: createActivities(activitiesDeps(db)),
  });
  running = worker.run();
  const temporal: TemporalHarness = { client: env.client, taskQueue, worker, stop: () => Promise.resolve() };
  app = buildApp(db, temporal);
  relay = startSessionTimersRelay({ db, timers: temporalSessionTimersControl(env.client, { taskQueue }), logger, intervalMs: 200 });
});

afterAll(async () => {
  await relay?.stop();
  worker?.shutdown();
  await running;
  await env?.teardown();
  await drop?.();
});

const MIN = 60_000;
const isoAt = (ms: number) => new Date(ms).toISOString().replace(/\.\d+Z$/, '+00:00');

/** An offered activity with one session starting `startsInMinutes` after the server's clock, and a paused connection. */
async function world(noShowAfterMinutes: number, startsInMinutes: number, spotOptions: Record<string, number> = {}) {
  const { id: companyId, key } = await newCompany();
  const venueId = await newVenue(key);
  const activity = await request(app)
    .post('/v1/activities')
    .set(bearer(key))
    .send({ venueId, name: 'Spin', maxParticipants: 10, registrationRules: { allowAggregatorBookings: true, noShowAfterMinutes, ...spotOptions } });
  expect(activity.status).toBe(201);
  expect(activity.body.registrationRules.noShowAfterMinutes).toBe(noShowAfterMinutes);
  // Whole seconds: the API takes the start with second precision.
  const startsAt = Math.floor((await env.currentTimeMs()) / 1000) * 1000 + startsInMinutes * MIN;
  const session = await request(app)
    .post(`/v1/activities/${activity.body.id}/sessions`)
    .set(bearer(key))
    .send({ startsAt: isoAt(startsAt), durationMinutes: 60 });
  expect(session.status).toBe(201);
  // Paused: the lifecycle calls no aggregator, and member events about existing bookings still apply.
  const connection = await db
    .insertInto('connections')
    .values({ company_id: companyId, venue_id: venueId, aggregator: 'wellhub', status: 'paused', external_venue_id: randomUUID(), api_base_url: null, settings: '{}', credentials_sealed: null })
    .returning('id')
    .executeTakeFirstOrThrow();
  return { companyId, key, activityId: activity.body.id as string, sessionId: session.body.id as string, startsAt, connectionId: connection.id };
}

async function book(w: Awaited<ReturnType<typeof world>>, source: 'wellhub' | 'direct') {
  const customer = await db.insertInto('customers').values({ company_id: w.companyId, name: 'Member', email: null }).returning('id').executeTakeFirstOrThrow();
  const number = source === 'direct' ? null : `n-${randomUUID()}`;
  const booking = await db
    .insertInto('bookings')
    .values({
      company_id: w.companyId,
      session_id: w.sessionId,
      customer_id: customer.id,
      source,
      aggregator_booking_number: number,
      connection_id: source === 'direct' ? null : w.connectionId,
      status: 'reserved',
      status_reason: null,
      product: source === 'direct' ? null : source,
      paid: source !== 'direct',
    })
    .returning('id')
    .executeTakeFirstOrThrow();
  return { id: booking.id, number: number as string };
}

const statusOf = async (id: string) => (await db.selectFrom('bookings').select('status').where('id', '=', id).executeTakeFirstOrThrow()).status;
const checkIn = (w: { connectionId: string }, number: string) =>
  applyMemberEvent(db, { connectionId: w.connectionId, bookingNumber: number, aggregator: 'wellhub', type: 'checked_in', late: false });
const timers = (sessionId: string) => env.client.workflow.getHandle(workflowIds.sessionTimers(sessionId));
/** The workflow the relay started, waiting for its next moment (ISO). */
const waitingUntil = (sessionId: string, expected?: number) =>
  eventually(async () => {
    try {
      const state = await timers(sessionId).query(sessionTimersStateQuery);
      if (state.nextAt === null) return undefined;
      return expected === undefined || Date.parse(state.nextAt) === expected ? state.nextAt : undefined;
    } catch {
      return undefined;
    }
  }, 15_000, 'the session timers workflow waiting');

describe('no-shows (time-skipping server)', () => {
  it('marks aggregator bookings still reserved at end + delay no_show; a check-in first wins, a late one makes it attended', async () => {
    const w = await world(90, 30);
    const [checked, late, absent] = [await book(w, 'wellhub'), await book(w, 'wellhub'), await book(w, 'wellhub')];
    const direct = await book(w, 'direct');
    const due = w.startsAt + (60 + 90) * MIN;
    expect(await waitingUntil(w.sessionId, due)).toBe(new Date(due).toISOString());
    expect(await checkIn(w, checked.number)).toMatchObject({ outcome: 'applied', detail: 'attended' });

    // Just before the moment: nothing moved.
    await env.sleep(due - (await env.currentTimeMs()) - 2 * MIN);
    expect(await Promise.all([late, absent].map((b) => statusOf(b.id)))).toEqual(['reserved', 'reserved']);

    await env.sleep(3 * MIN);
    const result = (await timers(w.sessionId).result()) as SessionTimersResult;
    expect(result).toEqual({ ended: 'no_show_pass_done', noShows: 2 });
    expect(await statusOf(checked.id)).toBe('attended');
    expect(await statusOf(late.id)).toBe('no_show');
    expect(await statusOf(absent.id)).toBe('no_show');
    // A direct booking's attendance is the studio's own record: the pass leaves it alone.
    expect(await statusOf(direct.id)).toBe('reserved');

    // The API shows the status and its history.
    const shown = await request(app).get(`/v1/bookings/${absent.id}`).set(bearer(w.key));
    expect(shown.status).toBe(200);
    expect(shown.body.status).toBe('no_show');
    expect(shown.body.history.at(-1)).toMatchObject({ from: 'reserved', to: 'no_show', actor: 'service', reason: 'no check-in 90 minutes after the session ended' });
    const list = await request(app).get(`/v1/sessions/${w.sessionId}/bookings`).set(bearer(w.key));
    expect(list.status).toBe(200);
    expect(list.body.items.filter((b: { status: string }) => b.status === 'no_show')).toHaveLength(2);

    // Run twice: nothing more moves.
    expect(await markNoShows(db, { sessionId: w.sessionId, at: new Date(due + MIN) })).toEqual({ done: true, marked: 0 });

    // The aggregator reports a check-in after the pass: its record of the visit wins.
    expect(await checkIn(w, late.number)).toMatchObject({ outcome: 'applied', detail: 'attended' });
    const after = await request(app).get(`/v1/bookings/${late.id}`).set(bearer(w.key));
    expect(after.body.status).toBe('attended');
    expect(after.body.history.slice(-2)).toMatchObject([
      { from: 'reserved', to: 'no_show' },
      { from: 'no_show', to: 'attended', actor: 'aggregator:wellhub' },
    ]);
  });

  it('re-arms when the session is rescheduled later, and again when the activity changes its delay', async () => {
    const w = await world(90, 30);
    const booking = await book(w, 'wellhub');
    await waitingUntil(w.sessionId, w.startsAt + 150 * MIN);

    const later = w.startsAt + 5 * 60 * MIN;
    const moved = await request(app).patch(`/v1/sessions/${w.sessionId}`).set(bearer(w.key)).send({ startsAt: isoAt(later) });
    expect(moved.status).toBe(200);
    await waitingUntil(w.sessionId, later + 150 * MIN);

    // The activity's delay changes: every live session's timer re-arms.
    const activityId = (await db.selectFrom('sessions').select('activity_id').where('id', '=', w.sessionId).executeTakeFirstOrThrow()).activity_id;
    const patched = await request(app).patch(`/v1/activities/${activityId}`).set(bearer(w.key)).send({ registrationRules: { noShowAfterMinutes: 30 } });
    expect(patched.status).toBe(200);
    const due = later + 90 * MIN;
    await waitingUntil(w.sessionId, due);

    // Past the first moment: still reserved; past the new one: no_show.
    await env.sleep(w.startsAt + 200 * MIN - (await env.currentTimeMs()));
    expect(await statusOf(booking.id)).toBe('reserved');
    await env.sleep(due - (await env.currentTimeMs()) + MIN);
    expect(await timers(w.sessionId).result()).toEqual({ ended: 'no_show_pass_done', noShows: 1 });
    expect(await statusOf(booking.id)).toBe('no_show');
  });

  it('keeps a session in the outbox while Temporal does not take the signal, and hands it over once it does', async () => {
    await relay.stop();
    let failing = true;
    const calls: string[] = [];
    const flaky: SessionTimersControl = {
      sessionChanged: async (session) => {
        calls.push(session.sessionId);
        if (failing) throw new Error('temporal unavailable');
        await temporalSessionTimersControl(env.client, { taskQueue }).sessionChanged(session);
      },
    };
    const failingRelay = startSessionTimersRelay({ db, timers: flaky, logger, intervalMs: 60_000 });
    try {
      // The API writes the session and its outbox row in one transaction.
      const w = await world(120, 600);
      const rows = () => db.selectFrom('session_timers_outbox').selectAll().where('session_id', '=', w.sessionId).execute();
      expect(await rows()).toHaveLength(1);
      expect(await failingRelay.tick()).toBe(0);
      expect(await rows()).toMatchObject([{ attempts: 1, last_error: 'temporal unavailable' }]);
      failing = false;
      // Past its backoff:
      await db.updateTable('session_timers_outbox').set({ due_at: new Date(0) }).where('session_id', '=', w.sessionId).execute();
      expect(await failingRelay.tick()).toBe(1);
      expect(await rows()).toEqual([]);
      expect(calls).toEqual([w.sessionId, w.sessionId]);
      await waitingUntil(w.sessionId, w.startsAt + 180 * MIN);
      // A second hand-over of the same session is harmless: the running workflow reads the ledger again.
      await recordSessionTimers(db, w.sessionId);
      await db.updateTable('session_timers_outbox').set({ due_at: new Date(0) }).where('session_id', '=', w.sessionId).execute();
      expect(await failingRelay.tick()).toBe(1);
      await waitingUntil(w.sessionId, w.startsAt + 180 * MIN);
    } finally {
      await failingRelay.stop();
      relay = startSessionTimersRelay({ db, timers: temporalSessionTimersControl(env.client, { taskQueue }), logger, intervalMs: 200 });
    }
  });
});

describe('spot moments (time-skipping server)', () => {
  it("pushes the session's free spots to every aggregator again at the offer and at the release moment, then waits for the no-show pass", async () => {
    const w = await world(60, 180, { offerDirectSpotsToAggregatorsMinutesBefore: 120, releaseAggregatorSpotsMinutesBefore: 30 });
    const offerAt = w.startsAt - 120 * MIN;
    const releaseAt = w.startsAt - 30 * MIN;
    await waitingUntil(w.sessionId, offerAt);
    const lifecycle = env.client.workflow.getHandle(workflowIds.activityLifecycle(w.activityId));
    const changesSeen = async () => (await lifecycle.query(lifecycleStateQuery)).changesSeen;
    const before = await changesSeen();

    await env.sleep(offerAt - (await env.currentTimeMs()) - MIN);
    expect(await changesSeen()).toBe(before);
    await env.sleep(2 * MIN);
    await eventually(async () => ((await changesSeen()) === before + 1 ? true : undefined), 10_000, 'the offer moment to reach the lifecycle');
    expect(await waitingUntil(w.sessionId, releaseAt)).toBe(new Date(releaseAt).toISOString());

    await env.sleep(releaseAt - (await env.currentTimeMs()) + MIN);
    await eventually(async () => ((await changesSeen()) === before + 2 ? true : undefined), 10_000, 'the release moment to reach the lifecycle');
    const state = await timers(w.sessionId).query(sessionTimersStateQuery);
    expect(state).toMatchObject({ pushes: 2, nextAt: new Date(w.startsAt + 120 * MIN).toISOString() });
  });
});


describe('migration 0011', () => {
  it('hands every session already scheduled for an offered activity to its timers, and goes down and up again', async () => {
    const w = await world(120, 600);
    await db.deleteFrom('session_timers_outbox').execute();
    const past = await request(app)
      .post(`/v1/activities/${w.activityId}/sessions`)
      .set(bearer(w.key))
      .send({ startsAt: isoAt((await env.currentTimeMs()) - 2 * 86_400_000), durationMinutes: 60 });
    expect(past.status).toBe(201);
    await db.deleteFrom('session_timers_outbox').execute();
    await relay.stop();
    try {
      await migration0011.down(db as unknown as Kysely<unknown>);
      await migration0011.up(db as unknown as Kysely<unknown>);
      // The session ahead gets its row; the one whose no-show pass is long past does not.
      expect((await db.selectFrom('session_timers_outbox').select('session_id').execute()).map((r) => r.session_id)).toContain(w.sessionId);
      expect((await db.selectFrom('session_timers_outbox').select('session_id').execute()).map((r) => r.session_id)).not.toContain(past.body.id);
    } finally {
      relay = startSessionTimersRelay({ db, timers: temporalSessionTimersControl(env.client, { taskQueue }), logger, intervalMs: 200 });
    }
  });
});
