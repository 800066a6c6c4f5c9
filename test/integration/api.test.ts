import request from 'supertest';
import { describe, expect, it } from 'vitest';
import type { Express } from 'express';
import { Client, Connection, WorkflowNotFoundError } from '@temporalio/client';
import { aggregatorEndpoints, createAdapters } from '../../aggregators/registry.js';
import { createApp } from '../../api/app.js';
import { temporalLifecycleControl } from '../../api/clients/activity-lifecycle.js';
import { temporalBookingRequestControl } from '../../api/clients/booking-request.js';
import { temporalCancellationControl } from '../../api/clients/session-cancellation.js';
import { SecretBox } from '../../lib/secrets.js';
import { WELLHUB_PRODUCTION_BASE_URL } from '../../aggregators/wellhub/index.js';
import type { Db } from '../../db/index.js';
import { lifecycleStateQuery } from '../../workflows/activity-lifecycle/contract.js';
import { workflowIds } from '../../workflows/ids.js';
import { apiFixtures, bearer, rowCounts } from '../support/api-fixtures.js';
import { ADMIN_KEY, SECRETS_KEY, buildApp, logger, eventually, type TemporalHarness, useApiHarness } from '../support/harness.js';

let db: Db;
let temporal: TemporalHarness;
let app: Express;

useApiHarness((h) => ({ db, temporal, app } = h));

const { newCompany, newVenue } = apiFixtures(() => app);

const tableCounts = () => rowCounts(db, ['companies', 'venues', 'connections', 'activities', 'sessions', 'activity_aggregator_quotas']);

describe('health', () => {
  it('answers liveness and readiness with both dependencies up', async () => {
    expect((await request(app).get('/healthz')).body).toEqual({ status: 'ok' });
    const ready = await request(app).get('/readyz');
    expect(ready.status).toBe(200);
    expect(ready.body.checks).toEqual({ postgres: 'ok', temporal: 'ok' });
  });

  it('is not ready when a dependency is down, and says which', async () => {
    const broken = buildApp(db, temporal, {
      postgres: () => Promise.resolve(),
      temporal: () => Promise.reject(new Error('connection refused')),
    });
    const res = await request(broken).get('/readyz');
    expect(res.status).toBe(503);
    expect(res.body.error.code).toBe('not_ready');
    expect(res.body.error.details.checks.temporal).toMatch(/connection refused/);
  });
});

describe('authentication and company scope', () => {
  it('refuses company creation without the admin key, and company routes without a key', async () => {
    expect((await request(app).post('/v1/companies').send({ name: 'X' })).status).toBe(401);
    const { key } = await newCompany();
    const res = await request(app).post('/v1/companies').set(bearer(key)).send({ name: 'X' });
    expect(res.status).toBe(403);
    expect((await request(app).get('/v1/venues')).status).toBe(401);
    expect((await request(app).get('/v1/venues').set(bearer('ab_not-a-key'))).status).toBe(401);
  });

  it("keeps a key inside its company: another company's venue is not found", async () => {
    const a = await newCompany('A');
    const b = await newCompany('B');
    const venueOfA = await newVenue(a.key);
    expect((await request(app).get(`/v1/venues/${venueOfA}`).set(bearer(a.key))).status).toBe(200);
    const foreign = await request(app).get(`/v1/venues/${venueOfA}`).set(bearer(b.key));
    expect(foreign.status).toBe(404);
    expect(foreign.body.error.code).toBe('not_found');
    expect((await request(app).get('/v1/venues').set(bearer(b.key))).body.items).toEqual([]);
    expect((await request(app).get(`/v1/companies/${a.id}`).set(bearer(b.key))).status).toBe(404);
    const patched = await request(app).patch(`/v1/venues/${venueOfA}`).set(bearer(b.key)).send({ name: 'Taken over' });
    expect(patched.status).toBe(404);
    const activity = await request(app)
      .post('/v1/activities')
      .set(bearer(b.key))
      .send({ venueId: venueOfA, name: 'Yoga', maxParticipants: 5 });
    expect(activity.status).toBe(404);
  });
});

describe('venues and connections', () => {
  it('never returns or stores connection secrets in clear', async () => {
    const { key } = await newCompany();
    const venueId = await newVenue(key);
    const created = await request(app)
      .post(`/v1/venues/${venueId}/connections`)
      .set(bearer(key))
      .send({
        aggregator: 'wellhub',
        externalVenueId: `gym-${venueId}`,
        settings: { productId: 1 },
        credentials: { apiToken: 'wellhub-token-value', webhookSecret: 'wellhub-webhook-secret' },
      });
    expect(created.status).toBe(201);
    expect(created.headers.location).toBe(`/v1/connections/${created.body.id}`);
    expect(created.body.credentials).toEqual({ apiToken: true, webhookSecret: true, previousWebhookSecret: false });
    // No URL of its own and none configured for Wellhub: calls go to Wellhub's production API.
    expect(created.body.effectiveApiBaseUrl).toBe(WELLHUB_PRODUCTION_BASE_URL);
    expect(JSON.stringify(created.body)).not.toMatch(/wellhub-token-value|wellhub-webhook-secret/);
    const row = await db.selectFrom('connections').selectAll().where('id', '=', created.body.id).executeTakeFirstOrThrow();
    expect(row.credentials_sealed).not.toMatch(/wellhub-token-value|wellhub-webhook-secret/);

    const listed = await request(app).get(`/v1/venues/${venueId}/connections`).set(bearer(key));
    expect(JSON.stringify(listed.body)).not.toMatch(/wellhub-token-value/);

    const rotated = await request(app)
      .patch(`/v1/connections/${created.body.id}`)
      .set(bearer(key))
      .send({ status: 'active', credentials: { webhookSecret: 'rotated-secret-123' } });
    expect(rotated.status).toBe(200);
    expect(rotated.body).toMatchObject({ status: 'active', credentials: { apiToken: true, webhookSecret: true, previousWebhookSecret: false } });

    const classpass = await request(app).post(`/v1/venues/${venueId}/connections`).set(bearer(key)).send({ aggregator: 'classpass' });
    expect(classpass.body.effectiveApiBaseUrl).toBe('https://classpass.example.test/api');
    const own = await request(app)
      .post(`/v1/venues/${venueId}/connections`)
      .set(bearer(key))
      .send({ aggregator: 'workit', apiBaseUrl: 'https://staging.workit.example.test' });
    expect(own.body.effectiveApiBaseUrl).toBe('https://staging.workit.example.test');

    const duplicate = await request(app).post(`/v1/venues/${venueId}/connections`).set(bearer(key)).send({ aggregator: 'wellhub' });
    expect(duplicate.status).toBe(409);
  });

  it('refuses an unknown aggregator with a 400 that names the field', async () => {
    const { key } = await newCompany();
    const venueId = await newVenue(key);
    const res = await request(app).post(`/v1/venues/${venueId}/connections`).set(bearer(key)).send({ aggregator: 'gymbook' });
    expect(res.status).toBe(400);
    expect(res.body.error.details[0]).toMatchObject({ location: 'body', path: 'aggregator' });
  });
});

describe('activities and their lifecycle workflow', () => {
  it('starts the lifecycle workflow under the activity business key when opted in, and stops it on opt-out', async () => {
    const { key, id: companyId } = await newCompany();
    const venueId = await newVenue(key);
    const created = await request(app)
      .post('/v1/activities')
      .set(bearer(key))
      .send({
        venueId,
        name: 'Vinyasa Yoga',
        maxParticipants: 12,
        registrationRules: { allowAggregatorBookings: true, aggregatorLimit: 4, aggregatorQuotas: { wellhub: 2, classpass: 3 } },
      });
    expect(created.status).toBe(201);
    const activityId = created.body.id as string;
    const workflowId = workflowIds.activityLifecycle(activityId);
    expect(created.body.lifecycle.workflowId).toBe(workflowId);
    expect(created.body.registrationRules.aggregatorQuotas).toEqual({ classpass: 3, wellhub: 2 });

    const handle = temporal.client.workflow.getHandle(workflowId);
    const description = await handle.describe();
    expect(description.status.name).toBe('RUNNING');
    expect(description.typedSearchAttributes.get({ name: 'ActivityId', type: 'KEYWORD' } as never)).toBe(activityId);
    expect(description.typedSearchAttributes.get({ name: 'CompanyId', type: 'KEYWORD' } as never)).toBe(companyId);

    const recorded = await eventually(
      () =>
        db
          .selectFrom('activity_lifecycles')
          .selectAll()
          .where('activity_id', '=', activityId)
          .where('sync_passes', '>=', 1)
          .executeTakeFirst(),
      10_000,
      'lifecycle row',
    );
    expect(recorded).toMatchObject({ status: 'running', workflow_id: workflowId, run_id: description.runId, last_sync_reason: 'start' });
    const pilates = await request(app).post('/v1/activities').set(bearer(key)).send({ venueId, name: 'Pilates', maxParticipants: 6 });
    const listed = await request(app).get(`/v1/activities?venueId=${venueId}`).set(bearer(key));
    expect(listed.body.items.map((a: { id: string }) => a.id)).toEqual([activityId, pilates.body.id]);
    expect(listed.body.items[0]).toMatchObject({
      registrationRules: { aggregatorQuotas: { classpass: 3, wellhub: 2 } },
      lifecycle: { workflowId, status: 'running' },
    });
    expect(listed.body.items[1]).toMatchObject({ registrationRules: { aggregatorQuotas: {} }, lifecycle: null });

    // A session added while opted in reaches the workflow as a change and triggers a sync pass.
    const session = await request(app)
      .post(`/v1/activities/${activityId}/sessions`)
      .set(bearer(key))
      .send({ startsAt: '2030-03-05T18:30:00+01:00', durationMinutes: 60, room: 'Studio 1', instructors: [{ name: 'Ana' }] });
    expect(session.status).toBe(201);
    expect(session.body).toMatchObject({ startsAt: '2030-03-05T18:30:00+01:00', capacity: 12, status: 'scheduled' });
    await eventually(async () => {
      const state = await handle.query(lifecycleStateQuery);
      return state.changesSeen >= 1 && state.syncPasses >= 2 ? state : undefined;
    }, 10_000, 'change sync pass');

    const optedOut = await request(app)
      .patch(`/v1/activities/${activityId}`)
      .set(bearer(key))
      .send({ registrationRules: { allowAggregatorBookings: false } });
    expect(optedOut.status).toBe(200);
    const result = (await handle.result()) as { phase: string };
    expect(result.phase).toBe('stopped');
    const stopped = await db.selectFrom('activity_lifecycles').selectAll().where('activity_id', '=', activityId).executeTakeFirstOrThrow();
    expect(stopped.status).toBe('stopped');
    expect((await request(app).get(`/v1/activities/${activityId}`).set(bearer(key))).body.lifecycle.status).toBe('stopped');
  });

  it('does not start a workflow for an activity that is not opted in', async () => {
    const { key } = await newCompany();
    const venueId = await newVenue(key);
    const created = await request(app).post('/v1/activities').set(bearer(key)).send({ venueId, name: 'Pilates', maxParticipants: 8 });
    expect(created.status).toBe(201);
    expect(created.body.registrationRules.allowAggregatorBookings).toBe(false);
    expect(created.body.lifecycle).toBeNull();
    await expect(temporal.client.workflow.getHandle(workflowIds.activityLifecycle(created.body.id)).describe()).rejects.toBeInstanceOf(
      WorkflowNotFoundError,
    );
  });

  it('rejects invalid input with a 400 (or 422 for a cross-field rule) that names the field, writes no row and starts no workflow', async () => {
    const { key } = await newCompany();
    const venueId = await newVenue(key);
    const before = await tableCounts();
    const cases: Array<[string, string, object, string, 400 | 422]> = [
      ['post', '/v1/activities', { venueId, name: 'Yoga', maxParticipants: 0, registrationRules: { allowAggregatorBookings: true } }, 'maxParticipants', 400],
      ['post', '/v1/activities', { venueId, name: 'Yoga', maxParticipants: 10, registrationRules: { allowAggregatorBookings: true, aggregatorLimit: 11 } }, 'registrationRules.aggregatorLimit', 422],
      ['post', '/v1/activities', { venueId, name: 'Yoga', maxParticipants: 10, registrationRules: { allowAggregatorBookings: true, aggregatorLimit: 3, aggregatorQuotas: { wellhub: 4 } } }, 'registrationRules.aggregatorQuotas.wellhub', 422],
      ['post', '/v1/activities', { venueId, name: 'Yoga', maxParticipants: 10, registrationRules: { allowAggregatorBookings: true, aggregatorQuotas: { gymbook: 1 } } }, 'registrationRules.aggregatorQuotas', 400],
      ['post', '/v1/activities', { venueId, name: 'Yoga', maxParticipants: 10, surprise: true }, '', 400],
      ['post', '/v1/venues', { name: 'X', timeZone: 'Mars/Olympus' }, 'timeZone', 400],
    ];
    for (const [method, path, body, field, status] of cases) {
      const res = await request(app)[method as 'post'](path).set(bearer(key)).send(body);
      expect(res.status, `${path} ${JSON.stringify(body)}`).toBe(status);
      expect(res.body.error.code).toBe(status === 400 ? 'validation_failed' : 'rule_violated');
      expect(res.body.error.details.some((d: { path: string }) => d.path.startsWith(field))).toBe(true);
    }
    const notJson = await request(app).post('/v1/venues').set(bearer(key)).set('Content-Type', 'application/json').send('{"name":');
    expect(notJson.status).toBe(400);
    expect(notJson.body.error.code).toBe('invalid_json');
    const badId = await request(app).get('/v1/activities/not-a-uuid').set(bearer(key));
    expect(badId.status).toBe(400);
    expect(badId.body.error.details[0]).toMatchObject({ location: 'params', path: 'activityId' });
    expect(await tableCounts()).toEqual(before);
    const running = await temporal.client.workflow.count(`TaskQueue = "${temporal.taskQueue}" AND ExecutionStatus = "Running"`);
    const activities = await db.selectFrom('activities').select('id').where('allow_aggregator_bookings', '=', true).execute();
    expect(running.count).toBeLessThanOrEqual(activities.length);
  });

  it('commits an opt-in while Temporal cannot be reached, its lifecycle start kept in the outbox', async () => {
    const { key } = await newCompany();
    const venueId = await newVenue(key);
    const unreachable = new Client({ connection: Connection.lazy({ address: '127.0.0.1:1', connectTimeout: 500 }) });
    const broken = createApp({
      db,
      logger,
      secretBox: new SecretBox(SECRETS_KEY),
      lifecycle: temporalLifecycleControl(unreachable, { taskQueue: temporal.taskQueue, syncIntervalMs: 60_000, logger, rpcDeadlineMs: 1_000 }),
      bookings: temporalBookingRequestControl(unreachable, { taskQueue: temporal.taskQueue, rpcDeadlineMs: 1_000 }),
      cancellations: temporalCancellationControl(unreachable, { taskQueue: temporal.taskQueue, rpcDeadlineMs: 1_000 }),
      adapters: createAdapters(),
      adminApiKey: ADMIN_KEY,
      endpoints: aggregatorEndpoints({}),
      readiness: {},
    });
    const res = await request(broken)
      .post('/v1/activities')
      .set(bearer(key))
      .send({ venueId, name: 'Yoga', maxParticipants: 10, registrationRules: { allowAggregatorBookings: true } });
    // The ledger is the truth: the relay starts the lifecycle once Temporal answers (test/integration/lifecycle-outbox.test.ts).
    expect(res.status).toBe(201);
    const waiting = await db.selectFrom('lifecycle_outbox').select(['change_kind', 'change_id']).where('activity_id', '=', res.body.id).execute();
    expect(waiting).toEqual([{ change_kind: 'activity', change_id: res.body.id }]);
  });

  it('refuses a session without a UTC offset and a second identical session', async () => {
    const { key } = await newCompany();
    const venueId = await newVenue(key);
    const activity = await request(app).post('/v1/activities').set(bearer(key)).send({ venueId, name: 'Spin', maxParticipants: 20 });
    const path = `/v1/activities/${activity.body.id}/sessions`;
    const noOffset = await request(app).post(path).set(bearer(key)).send({ startsAt: '2030-03-05T18:30:00', durationMinutes: 45 });
    expect(noOffset.status).toBe(400);
    expect(noOffset.body.error.details[0].path).toBe('startsAt');
    const body = { startsAt: '2030-03-05T18:30:00-05:00', durationMinutes: 45, room: 'Bike room' };
    expect((await request(app).post(path).set(bearer(key)).send(body)).status).toBe(201);
    const again = await request(app).post(path).set(bearer(key)).send(body);
    expect(again.status).toBe(409);
    const listed = await request(app).get(`${path}?from=2030-03-01T00:00:00Z&to=2030-03-31T00:00:00Z`).set(bearer(key));
    expect(listed.body.items).toHaveLength(1);
    expect(listed.body.items[0].startsAt).toBe('2030-03-05T18:30:00-05:00');
  });
});

describe('OpenAPI document', () => {
  it('describes every route with its request schema', async () => {
    const res = await request(app).get('/openapi.json');
    expect(res.status).toBe(200);
    expect(res.body.openapi).toBe('3.1.0');
    const paths = Object.keys(res.body.paths as object);
    for (const p of ['/v1/companies', '/v1/venues', '/v1/venues/{venueId}/connections', '/v1/activities', '/v1/activities/{activityId}/sessions', '/v1/sessions/{sessionId}', '/readyz']) {
      expect(paths).toContain(p);
    }
    const createActivity = res.body.paths['/v1/activities'].post;
    expect(createActivity.requestBody.content['application/json'].schema.$ref).toBe('#/components/schemas/CreateActivity');
    expect(res.body.components.schemas.CreateActivity.required).toEqual(expect.arrayContaining(['venueId', 'name', 'maxParticipants']));
    expect(res.body.components.schemas.Connection.properties.credentials).toBeDefined();
  });
});
