import { Client, Connection } from '@temporalio/client';
import type { Express } from 'express';
import { aggregatorEndpoints, createAdapters } from '../../aggregators/registry.js';
import { createApp } from '../../api/app.js';
import { temporalLifecycleControl } from '../../api/clients/activity-lifecycle.js';
import { temporalBookingRequestControl } from '../../api/clients/booking-request.js';
import { temporalCancellationControl } from '../../api/clients/session-cancellation.js';
import type { Db } from '../../db/index.js';
import { SecretBox } from '../../lib/secrets.js';
import { ADMIN_KEY, SECRETS_KEY, logger } from './harness.js';

/**
 * The service on the test's database whose every call to Temporal fails (an unreachable address, short deadlines):
 * what the API does when a signal after its commit cannot be delivered.
 */
export function appWithoutTemporal(db: Db, taskQueue: string): Express {
  const unreachable = new Client({ connection: Connection.lazy({ address: '127.0.0.1:1', connectTimeout: 300 }) });
  return createApp({
    db,
    logger,
    secretBox: new SecretBox(SECRETS_KEY),
    lifecycle: temporalLifecycleControl(unreachable, { taskQueue, syncIntervalMs: 60_000, rpcDeadlineMs: 300 }),
    bookings: temporalBookingRequestControl(unreachable, { taskQueue, rpcDeadlineMs: 300 }),
    cancellations: temporalCancellationControl(unreachable, { taskQueue, rpcDeadlineMs: 300 }),
    adapters: createAdapters(),
    adminApiKey: ADMIN_KEY,
    endpoints: aggregatorEndpoints({}),
    readiness: {},
  });
}
