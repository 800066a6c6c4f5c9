import { randomBytes, randomUUID } from 'node:crypto';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection, Worker } from '@temporalio/worker';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import pg from 'pg';
import { afterAll, beforeAll, inject } from 'vitest';
import { aggregatorEndpoints, createAdapters, type AggregatorEndpoints } from '../../aggregators/registry.js';
import { createActivities, type ActivitiesDeps } from '../../activities/index.js';
import { createApp } from '../../api/app.js';
import { temporalLifecycleControl } from '../../api/clients/activity-lifecycle.js';
import { temporalBookingRequestControl } from '../../api/clients/booking-request.js';
import { startInboxDispatcher } from '../../api/inbox-dispatcher.js';
import { startLifecycleRelay } from '../../api/lifecycle-relay.js';
import { temporalSessionTimersControl } from '../../api/clients/session-timers.js';
import { startSessionTimersRelay } from '../../api/session-timers-relay.js';
import { startEventRelay } from '../../api/event-relay.js';
import { temporalEventDeliveryControl } from '../../api/clients/studio-events.js';
import { temporalCancellationControl } from '../../api/clients/session-cancellation.js';
import type { ReadinessCheck } from '../../api/routes/health.js';
import { createDb, pingDb, type Db } from '../../db/index.js';
import { migrateToLatest } from '../../db/migrate.js';
import { createLogger } from '../../lib/logger.js';
import { SecretBox } from '../../lib/secrets.js';
import { testServerExecutable } from '../../temporal/binaries.js';
import { searchAttributeTypes } from '../../temporal/connection.js';
import { createWorker, installRuntimeLogger } from '../../worker/index.js';

export const logger = createLogger(process.env.TEST_LOG_LEVEL ?? 'silent');
installRuntimeLogger(logger);

/** A fresh, migrated database of its own on the shared test server; dropped by `drop()`. */
export async function createTestDatabase(): Promise<{ db: Db; url: string; drop: () => Promise<void> }> {
  const serverUrl = inject('postgresUrl');
  const name = `test_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: serverUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  const db = createDb(url.toString(), 20);
  await migrateToLatest(db);
  return {
    db,
    url: url.toString(),
    drop: async () => {
      await db.destroy();
      const client = new pg.Client({ connectionString: serverUrl });
      await client.connect();
      await client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await client.end();
    },
  };
}

export interface TemporalHarness {
  client: Client;
  taskQueue: string;
  worker: Worker;
  stop: () => Promise<void>;
}

export const TEST_HORIZON_MS = 14 * 86_400_000;

/** The worker's activities on the given database, calling aggregators at `endpoints` (the sandboxes of a test). */
export function activitiesDeps(db: Db, endpoints: AggregatorEndpoints = aggregatorEndpoints({})): ActivitiesDeps {
  return { db, secretBox: new SecretBox(SECRETS_KEY), endpoints, adapters: createAdapters(), horizonMs: TEST_HORIZON_MS };
}

/**
 * A worker on the time-skipping server, on its own task queue, running the prebuilt workflow bundle and the real
 * activities with `now` as their clock (the server's skipped time).
 */
export function timeSkippingWorker(env: TestWorkflowEnvironment, options: { taskQueue: string; deps: ActivitiesDeps; now: () => Date }): Promise<Worker> {
  return Worker.create({
    connection: env.nativeConnection,
    taskQueue: options.taskQueue,
    workflowBundle: { codePath: inject('workflowBundlePath') },
    activities: createActivities({ ...options.deps, now: options.now }),
  });
}

/** A worker on its own task queue against the shared dev server, with the real activities on the given database. */
export async function startTemporal(db: Db, endpoints?: AggregatorEndpoints): Promise<TemporalHarness> {
  const address = inject('temporalAddress');
  const taskQueue = `test-${randomUUID()}`;
  const nativeConnection = await NativeConnection.connect({ address });
  const worker = await createWorker({
    connection: nativeConnection,
    namespace: 'default',
    taskQueue,
    deps: activitiesDeps(db, endpoints),
    workflowBundlePath: inject('workflowBundlePath'),
  });
  const running = worker.run();
  const connection = await Connection.connect({ address });
  const client = new Client({ connection, namespace: 'default' });
  return {
    client,
    taskQueue,
    worker,
    stop: async () => {
      worker.shutdown();
      await running;
      await nativeConnection.close();
      await connection.close();
    },
  };
}

export const ADMIN_KEY = `admin_${randomBytes(18).toString('base64url')}`;
export const SECRETS_KEY = randomBytes(32).toString('base64');

export function buildApp(
  db: Db,
  temporal: TemporalHarness,
  readiness?: Record<string, ReadinessCheck>,
  endpoints: AggregatorEndpoints = aggregatorEndpoints({ classpass: 'https://classpass.example.test/api' }),
) {
  return createApp({
    db,
    logger,
    secretBox: new SecretBox(SECRETS_KEY),
    lifecycle: temporalLifecycleControl(temporal.client, { taskQueue: temporal.taskQueue, syncIntervalMs: 30 * 60_000, logger }),
    bookings: temporalBookingRequestControl(temporal.client, { taskQueue: temporal.taskQueue }),
    cancellations: temporalCancellationControl(temporal.client, { taskQueue: temporal.taskQueue }),
    adapters: createAdapters(),
    adminApiKey: ADMIN_KEY,
    endpoints,
    readiness: readiness ?? {
      postgres: () => pingDb(db),
      temporal: async () => {
        await temporal.client.connection.workflowService.getSystemInfo({});
      },
    },
  });
}

/** Polls until `check` returns a value other than undefined, or fails after `timeoutMs`. */
export async function eventually<T>(check: () => Promise<T | undefined>, timeoutMs = 10_000, what = 'condition'): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** The time-skipping test server with our search attributes registered (it has no list call, so they are just added). */
export async function startTimeSkipping(): Promise<TestWorkflowEnvironment> {
  const env = await TestWorkflowEnvironment.createTimeSkipping({ server: { executable: testServerExecutable() } });
  await env.connection.operatorService.addSearchAttributes({ namespace: 'default', searchAttributes: searchAttributeTypes() });
  return env;
}

export interface ApiHarness {
  db: Db;
  temporal: TemporalHarness;
  app: ReturnType<typeof buildApp>;
}

/**
 * One test file's database, worker and app: registers the beforeAll that builds them (handing them to `ready`) and
 * the afterAll that takes them down.
 */
export function useApiHarness(
  ready: (harness: ApiHarness) => void,
  options: { inboxDispatcher?: boolean; lifecycleRelay?: boolean; sessionTimersRelay?: boolean; eventRelay?: boolean } = {},
): void {
  let harness: ApiHarness | undefined;
  let drop: (() => Promise<void>) | undefined;
  let dispatcher: { stop: () => Promise<void> } | undefined;
  let relay: { stop: () => Promise<void> } | undefined;
  let timersRelay: { stop: () => Promise<void> } | undefined;
  let eventRelay: { stop: () => Promise<void> } | undefined;
  beforeAll(async () => {
    const created = await createTestDatabase();
    drop = created.drop;
    const temporal = await startTemporal(created.db);
    harness = { db: created.db, temporal, app: buildApp(created.db, temporal) };
    // As `npm start` runs it: webhooks acknowledged while Temporal was too slow (202) are handed over afterwards.
    if (options.inboxDispatcher) {
      dispatcher = startInboxDispatcher({
        db: created.db,
        adapters: createAdapters(),
        bookings: temporalBookingRequestControl(temporal.client, { taskQueue: temporal.taskQueue }),
        logger,
        intervalMs: 1_000,
      });
    }
    // As `npm start` runs it: lifecycle changes whose signal failed are signalled from the outbox afterwards.
    if (options.lifecycleRelay) {
      relay = startLifecycleRelay({
        db: created.db,
        lifecycle: temporalLifecycleControl(temporal.client, { taskQueue: temporal.taskQueue, syncIntervalMs: 30 * 60_000 }),
        logger,
        syncIntervalMs: 30 * 60_000,
        intervalMs: 500,
        graceMs: 500,
        sweepIntervalMs: 1_000,
      });
    }
    // As `npm start` runs it: created and changed sessions are handed to their timer workflows.
    if (options.sessionTimersRelay) {
      timersRelay = startSessionTimersRelay({
        db: created.db,
        timers: temporalSessionTimersControl(temporal.client, { taskQueue: temporal.taskQueue }),
        logger,
        intervalMs: 300,
      });
    }
    // As `npm start` runs it: events to the studio backend are handed to their delivery workflows.
    if (options.eventRelay) {
      eventRelay = startEventRelay({
        db: created.db,
        control: temporalEventDeliveryControl(temporal.client, { taskQueue: temporal.taskQueue }),
        logger,
        intervalMs: 200,
      });
    }
    ready(harness);
  });
  afterAll(async () => {
    await timersRelay?.stop();
    await eventRelay?.stop();
    await relay?.stop();
    await dispatcher?.stop();
    await harness?.temporal.stop();
    await drop?.();
  });
}
