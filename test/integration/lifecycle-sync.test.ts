import request from 'supertest';
import { afterAll, describe, expect, it } from 'vitest';
import type { Express } from 'express';
import { AGGREGATORS, type Aggregator } from '../../domain/model.js';
import { activityChangedSignal, lifecycleStateQuery } from '../../workflows/activity-lifecycle/contract.js';
import { workflowIds } from '../../workflows/ids.js';
import { bearer } from '../support/api-fixtures.js';
import { ADMIN_KEY, eventually, type TemporalHarness, useApiHarness } from '../support/harness.js';
import { startSandboxWorld, type SandboxWorld } from '../support/sandbox-world.js';

// The lifecycle's sync pass end to end: the API, a real Temporal server and worker, a real PostgreSQL, and every
// aggregator's sandbox over real HTTP.

let temporal: TemporalHarness;
let app: Express;
/** Each test has sandboxes of its own (a sandbox holds one venue); its connections point at them by apiBaseUrl. */
let world: SandboxWorld;
const worlds: SandboxWorld[] = [];

useApiHarness((h) => ({ temporal, app } = h));

afterAll(async () => {
  await Promise.all(worlds.map((w) => w.close()));
});

const inDays = (days: number, hour = 18) => {
  const d = new Date(Date.now() + days * 86_400_000);
  d.setUTCHours(hour, 0, 0, 0);
  return d;
};
/** The venue's local time with its offset, as a backend would send it. */
const local = (d: Date) => `${new Date(d.getTime() + 3_600_000).toISOString().slice(0, 19)}+01:00`;

async function setUp(options: { connections?: readonly Aggregator[] } = {}) {
  world = await startSandboxWorld();
  worlds.push(world);
  const company = await request(app).post('/v1/companies').set(bearer(ADMIN_KEY)).send({ name: 'Studio Nord' });
  const key = company.body.apiKey.key as string;
  const venue = await request(app).post('/v1/venues').set(bearer(key)).send({ name: 'Main hall', timeZone: 'Europe/Berlin' });
  const venueId = venue.body.id as string;
  const connectionIds: Partial<Record<Aggregator, string>> = {};
  for (const aggregator of options.connections ?? AGGREGATORS) {
    const created = await request(app).post(`/v1/venues/${venueId}/connections`).set(bearer(key)).send(world.connectionBody(aggregator));
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    connectionIds[aggregator] = created.body.id as string;
  }
  return { key, venueId, connectionIds };
}

async function sync(key: string, activityId: string) {
  const res = await request(app).get(`/v1/activities/${activityId}/sync`).set(bearer(key));
  expect(res.status).toBe(200);
  return res.body as {
    offered: boolean;
    lifecycle: { phase: string } | null;
    connections: Array<{ aggregator: string; pending: boolean; running: boolean; passes: number; lastSuccessAt: string | null; lastError: { message: string } | null; published: { activity: boolean; sessions: number } }>;
  };
}

/** Waits until every given aggregator holds what `check` wants of it. */
async function until(aggregators: readonly Aggregator[], what: string, check: (held: Awaited<ReturnType<SandboxWorld['held']>>, aggregator: Aggregator) => boolean) {
  await eventually(
    async () => {
      for (const aggregator of aggregators) if (!check(await world.held(aggregator), aggregator)) return undefined;
      return true;
    },
    20_000,
    what,
  );
}

const ours = (activityId: string) => (held: Awaited<ReturnType<SandboxWorld['held']>>) => held.activities.find((a) => a.reference === activityId);

describe('lifecycle sync', () => {
  it('pushes an opted-in activity and its sessions in the horizon to every active connection, then each edit', async () => {
    const { key, venueId } = await setUp();
    const created = await request(app)
      .post('/v1/activities')
      .set(bearer(key))
      .send({
        venueId,
        name: 'Yoga',
        maxParticipants: 10,
        registrationRules: { allowAggregatorBookings: true, aggregatorLimit: 6, aggregatorQuotas: { wellhub: 2 } },
      });
    expect(created.status).toBe(201);
    const activityId = created.body.id as string;
    const soon = inDays(2);
    const later = inDays(5);
    const beyond = inDays(30);
    const sessionIds: string[] = [];
    for (const at of [soon, later, beyond]) {
      const s = await request(app).post(`/v1/activities/${activityId}/sessions`).set(bearer(key)).send({ startsAt: local(at), durationMinutes: 60, room: 'Studio 1' });
      expect(s.status).toBe(201);
      sessionIds.push(s.body.id as string);
    }

    // Invariant 4 on the way: Wellhub's quota (2) bounds what it shows; the others get the aggregator limit (6).
    await until(AGGREGATORS, 'the class and its two sessions in the horizon everywhere', (held, aggregator) => {
      const sessions = held.sessions.filter((s) => s.at === soon.getTime() || s.at === later.getTime());
      return (
        ours(activityId)(held)?.visible === true &&
        held.sessions.length === 2 &&
        sessions.length === 2 &&
        sessions.every((s) => s.capacity === (aggregator === 'wellhub' ? 2 : 6) && s.booked === 0 && s.room === 'Studio 1')
      );
    });

    // Edits of the activity, its rules and a session arrive.
    expect((await request(app).patch(`/v1/activities/${activityId}`).set(bearer(key)).send({ name: 'Vinyasa Yoga' })).status).toBe(200);
    expect((await request(app).patch(`/v1/sessions/${sessionIds[0]}`).set(bearer(key)).send({ room: 'Studio 2' })).status).toBe(200);
    const rules = await request(app)
      .patch(`/v1/activities/${activityId}`)
      .set(bearer(key))
      .send({ registrationRules: { aggregatorLimit: 4, aggregatorQuotas: { wellhub: 1 } } });
    expect(rules.status).toBe(200);
    await until(AGGREGATORS, 'the edits everywhere', (held, aggregator) => {
      const first = held.sessions.find((s) => s.at === soon.getTime());
      return (
        ours(activityId)(held)?.name === 'Vinyasa Yoga' &&
        first?.room === 'Studio 2' &&
        held.sessions.every((s) => s.capacity === (aggregator === 'wellhub' ? 1 : 4))
      );
    });

    // A session moved out of the horizon is removed; one moved in is created.
    await request(app).patch(`/v1/sessions/${sessionIds[1]}`).set(bearer(key)).send({ startsAt: local(inDays(40)) });
    await request(app).patch(`/v1/sessions/${sessionIds[2]}`).set(bearer(key)).send({ startsAt: local(inDays(3)) });
    await until(AGGREGATORS, 'the moved sessions', (held) => held.sessions.length === 2 && held.sessions.some((s) => s.at === inDays(3).getTime()));

    // The aggregators hold the result before each pass has reported it to the workflow: wait for the lanes to settle.
    const status = await eventually(async () => {
      const s = await sync(key, activityId);
      return s.connections.length === AGGREGATORS.length && s.connections.every((c) => !c.pending && !c.running && c.published.sessions === 2) ? s : undefined;
    }, 20_000, 'every lane settled with both sessions published');
    expect(status.offered).toBe(true);
    expect(status.lifecycle?.phase).toBe('running');
    expect(status.connections.map((c) => c.aggregator).sort()).toEqual([...AGGREGATORS].sort());
    for (const c of status.connections) {
      expect(c).toMatchObject({ lastError: null, published: { activity: true, sessions: 2 } });
      expect(c.lastSuccessAt).not.toBeNull();
    }
  });

  it('makes no write call to any aggregator on a pass with nothing changed', async () => {
    const { key, venueId } = await setUp();
    const created = await request(app)
      .post('/v1/activities')
      .set(bearer(key))
      .send({ venueId, name: 'Pilates', maxParticipants: 8, registrationRules: { allowAggregatorBookings: true } });
    const activityId = created.body.id as string;
    await request(app).post(`/v1/activities/${activityId}/sessions`).set(bearer(key)).send({ startsAt: local(inDays(1)), durationMinutes: 45 });
    await until(AGGREGATORS, 'the first push', (held) => held.sessions.some((s) => s.capacity === 8) && ours(activityId)(held) !== undefined);
    const settled = async () => {
      const s = await sync(key, activityId);
      return s.connections.length === 5 && s.connections.every((c) => !c.pending && !c.running) ? s : undefined;
    };
    const before = await eventually(settled, 20_000, 'idle lanes');
    const writes = await Promise.all(AGGREGATORS.map((a) => world.writes(a)));

    const handle = temporal.client.workflow.getHandle(workflowIds.activityLifecycle(activityId));
    await handle.signal(activityChangedSignal, { kind: 'activity', id: activityId });
    const passes = (s: Awaited<ReturnType<typeof sync>>) => s.connections.reduce((n, c) => n + c.passes, 0);
    await eventually(async () => {
      const s = await settled();
      return s && passes(s) >= passes(before) + 5 ? s : undefined;
    }, 20_000, 'one more pass on every lane');
    expect(await Promise.all(AGGREGATORS.map((a) => world.writes(a)))).toEqual(writes);
    const state = await handle.query(lifecycleStateQuery);
    for (const c of state.connections) expect(c.lastPass).toMatchObject({ writes: 0, reads: 0 });
  });

  it('reaches a connection when it becomes active and nothing more while it is paused; opting out hides the activity everywhere', async () => {
    const { key, venueId, connectionIds } = await setUp({ connections: ['wellhub', 'classpass'] });
    await request(app).patch(`/v1/connections/${connectionIds.classpass}`).set(bearer(key)).send({ status: 'paused' });
    const created = await request(app)
      .post('/v1/activities')
      .set(bearer(key))
      .send({ venueId, name: 'Spin', maxParticipants: 12, registrationRules: { allowAggregatorBookings: true } });
    const activityId = created.body.id as string;
    await request(app).post(`/v1/activities/${activityId}/sessions`).set(bearer(key)).send({ startsAt: local(inDays(4)), durationMinutes: 50 });
    await until(['wellhub'], 'wellhub has the class', (held) => ours(activityId)(held) !== undefined && held.sessions.length > 0);
    expect(ours(activityId)(await world.held('classpass'))).toBeUndefined();

    await request(app).patch(`/v1/connections/${connectionIds.classpass}`).set(bearer(key)).send({ status: 'active' });
    await until(['classpass'], 'classpass receives the class once active', (held) => ours(activityId)(held) !== undefined && held.sessions.some((s) => s.capacity === 12));

    await request(app).patch(`/v1/connections/${connectionIds.wellhub}`).set(bearer(key)).send({ status: 'paused' });
    await request(app).patch(`/v1/activities/${activityId}`).set(bearer(key)).send({ name: 'Spin 45' });
    await until(['classpass'], 'the rename at classpass', (held) => ours(activityId)(held)?.name === 'Spin 45');
    expect(ours(activityId)(await world.held('wellhub'))?.name).toBe('Spin');
    await request(app).patch(`/v1/connections/${connectionIds.wellhub}`).set(bearer(key)).send({ status: 'active' });
    await until(['wellhub'], 'the rename at wellhub once active again', (held) => ours(activityId)(held)?.name === 'Spin 45');

    expect((await request(app).patch(`/v1/activities/${activityId}`).set(bearer(key)).send({ registrationRules: { allowAggregatorBookings: false } })).status).toBe(200);
    await until(['wellhub', 'classpass'], 'hidden, sessions removed', (held) => ours(activityId)(held)?.visible === false && held.sessions.length === 0);
    const handle = temporal.client.workflow.getHandle(workflowIds.activityLifecycle(activityId));
    expect((await handle.result()).phase).toBe('stopped');
  });

  it('keeps syncing the others while one aggregator fails, and catches that one up when it is back', async () => {
    const { key, venueId } = await setUp({ connections: ['wellhub', 'classpass', 'workit'] });
    const created = await request(app)
      .post('/v1/activities')
      .set(bearer(key))
      .send({ venueId, name: 'Boxing', maxParticipants: 15, registrationRules: { allowAggregatorBookings: true } });
    const activityId = created.body.id as string;
    const session = await request(app).post(`/v1/activities/${activityId}/sessions`).set(bearer(key)).send({ startsAt: local(inDays(6)), durationMinutes: 60, room: 'Ring' });
    await until(['wellhub', 'classpass', 'workit'], 'first push', (held) => held.sessions.some((s) => s.room === 'Ring'));

    await world.fault('classpass', { status: 503, path: '^/v1/' });
    await request(app).patch(`/v1/sessions/${session.body.id}`).set(bearer(key)).send({ room: 'Big ring' });
    await until(['wellhub', 'workit'], 'the edit at the healthy aggregators', (held) => held.sessions.some((s) => s.room === 'Big ring'));
    expect((await world.held('classpass')).sessions.map((s) => s.room)).toEqual(['Ring']);
    const stuck = (await sync(key, activityId)).connections.find((c) => c.aggregator === 'classpass');
    expect(stuck?.running || stuck?.pending).toBe(true);

    await world.clearFaults('classpass');
    await until(['classpass'], 'classpass catches up', (held) => held.sessions.some((s) => s.room === 'Big ring'));
  });

  it('keeps the sessions of an activity the aggregator refused waiting, without retrying for ever, and sends both once the connection is changed', async () => {
    const { key, venueId, connectionIds } = await setUp({ connections: ['workit'] });
    await world.fault('workit', { status: 400, path: '/activities/', body: { error: { code: 'validation_failed', message: 'refused by the sandbox' } } });
    const created = await request(app)
      .post('/v1/activities')
      .set(bearer(key))
      .send({ venueId, name: 'Rowing', maxParticipants: 8, registrationRules: { allowAggregatorBookings: true } });
    const activityId = created.body.id as string;
    await request(app).post(`/v1/activities/${activityId}/sessions`).set(bearer(key)).send({ startsAt: local(inDays(3)), durationMinutes: 45 });
    // The pass ends (it does not retry the session until its activity is there), and says why.
    const settled = await eventually(async () => {
      const c = (await sync(key, activityId)).connections[0];
      return c?.lastError && !c.running && !c.pending ? c : undefined;
    }, 20_000, 'the pass to end with the refusal');
    // The pass that met the refusal shows the aggregator's 400; a later one, which sends nothing refused again, shows the
    // session waiting for its activity.
    expect(settled.lastError?.message).toMatch(/400|waits for its activity/);
    expect((await world.held('workit')).sessions).toHaveLength(0);

    await world.clearFaults('workit');
    expect((await request(app).patch(`/v1/connections/${connectionIds.workit}`).set(bearer(key)).send({ settings: { fixed: true } })).status).toBe(200);
    await until(['workit'], 'the activity and its session', (held) => ours(activityId)(held) !== undefined && held.sessions.length === 1);
  });

  it('records a refusal for good, shows it, does not send the same content again, and sends it once the connection is changed', async () => {
    const { key, venueId, connectionIds } = await setUp({ connections: ['workit'] });
    const created = await request(app)
      .post('/v1/activities')
      .set(bearer(key))
      .send({ venueId, name: 'Climbing', maxParticipants: 6, registrationRules: { allowAggregatorBookings: true } });
    const activityId = created.body.id as string;
    await until(['workit'], 'the activity', (held) => ours(activityId)(held) !== undefined);
    await world.fault('workit', { status: 400, path: '/sessions/', body: { error: { code: 'validation_failed', message: 'refused by the sandbox' } } });
    await request(app).post(`/v1/activities/${activityId}/sessions`).set(bearer(key)).send({ startsAt: local(inDays(2)), durationMinutes: 60 });
    const refused = await eventually(async () => {
      const c = (await sync(key, activityId)).connections[0];
      return c?.lastError && !c.running && !c.pending ? c : undefined;
    }, 20_000, 'the refusal shown');
    expect(refused.lastError?.message).toMatch(/400/);
    const writes = await world.writes('workit');
    await temporal.client.workflow.getHandle(workflowIds.activityLifecycle(activityId)).signal(activityChangedSignal, { kind: 'activity', id: activityId });
    await eventually(async () => {
      const c = (await sync(key, activityId)).connections[0];
      return c && c.passes > refused.passes && !c.running && !c.pending ? c : undefined;
    }, 20_000, 'another pass');
    expect(await world.writes('workit')).toBe(writes);

    // The studio fixes the connection (here: its settings) and the aggregator now takes the session.
    await world.clearFaults('workit');
    const patched = await request(app).patch(`/v1/connections/${connectionIds.workit}`).set(bearer(key)).send({ settings: { fixed: true } });
    expect(patched.status).toBe(200);
    await until(['workit'], 'the refused session sent again after the change', (held) => held.sessions.length === 1);
    await eventually(async () => {
      const c = (await sync(key, activityId)).connections[0];
      return c && c.lastError === null && !c.running && !c.pending ? c : undefined;
    }, 20_000, 'the refusal cleared');
  });
});
