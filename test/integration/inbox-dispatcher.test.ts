import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Client, Connection } from '@temporalio/client';
import { afterAll, describe, expect, it } from 'vitest';
import type { Express } from 'express';
import { createAdapters, aggregatorEndpoints } from '../../aggregators/registry.js';
import { createApp } from '../../api/app.js';
import { temporalLifecycleControl } from '../../api/clients/activity-lifecycle.js';
import { temporalBookingRequestControl } from '../../api/clients/booking-request.js';
import { temporalCancellationControl } from '../../api/clients/session-cancellation.js';
import { startInboxDispatcher } from '../../api/inbox-dispatcher.js';
import type { Db } from '../../db/index.js';
import { SecretBox } from '../../lib/secrets.js';
import { ADMIN_KEY, SECRETS_KEY, eventually, logger, useApiHarness, type TemporalHarness } from '../support/harness.js';
import { startBookingWorld, type BookingWorld } from '../support/booking-world.js';

// Survives an outage without losing a booking: a webhook that arrives while Temporal cannot be reached is kept in the
// inbox and acknowledged (202); the dispatcher hands it to its workflow once Temporal answers again.

let app: Express;
let db: Db;
let temporal: TemporalHarness;
const cleanups: Array<() => Promise<void>> = [];
useApiHarness((h) => ({ app, db, temporal } = h));
afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
});

describe('inbox dispatcher', () => {
  it('hands a webhook acknowledged during a Temporal outage to its workflow afterwards, and the member is booked', async () => {
    const w: BookingWorld = await startBookingWorld(app, db, { aggregators: ['wellhub'] });
    cleanups.push(() => w.close());
    const { sessionIds } = await w.offer({ maxParticipants: 5, aggregators: ['wellhub'] });
    const slotId = await w.externalSessionId('wellhub', sessionIds[0] as string);

    // The same service, but its Temporal is unreachable.
    const unreachable = new Client({ connection: Connection.lazy({ address: '127.0.0.1:1', connectTimeout: 300 }) });
    const cut = createApp({
      db,
      logger,
      secretBox: new SecretBox(SECRETS_KEY),
      lifecycle: temporalLifecycleControl(unreachable, { taskQueue: temporal.taskQueue, syncIntervalMs: 60_000, logger, rpcDeadlineMs: 300 }),
      bookings: temporalBookingRequestControl(unreachable, { taskQueue: temporal.taskQueue, rpcDeadlineMs: 300 }),
      cancellations: temporalCancellationControl(unreachable, { taskQueue: temporal.taskQueue, rpcDeadlineMs: 300 }),
      adapters: createAdapters(),
      adminApiKey: ADMIN_KEY,
      endpoints: aggregatorEndpoints({}),
      readiness: {},
    });
    const server: Server = await new Promise((resolve) => {
      const s = cut.listen(0, '127.0.0.1', () => resolve(s));
    });
    cleanups.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
    const cutUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const control = `${w.world.sandboxes.wellhub.url}/__sandbox`;
    await fetch(`${control}/webhook`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ url: `${cutUrl}/webhooks/wellhub` }) });

    const { bookingNumber } = await w.world.requestBooking('wellhub', { sessionId: slotId, member: { id: 'outage-1', name: 'Out Age' } });
    type Deliveries = { deliveries: Array<{ bookingNumber: string; attempts: Array<{ status?: number }> }> };
    const sent = await eventually(async () => {
      const { deliveries } = (await (await fetch(`${control}/deliveries`)).json()) as Deliveries;
      const d = deliveries.find((x) => x.bookingNumber === bookingNumber);
      return d?.attempts[0]?.status !== undefined ? d : undefined;
    }, 10_000, 'the webhook to be answered');
    // Acknowledged: the event is safe in the inbox, though no workflow could be started.
    expect(sent.attempts[0]?.status).toBe(202);
    const inbox = await db.selectFrom('webhook_inbox').selectAll().where('aggregator', '=', 'wellhub').where('booking_number', '=', bookingNumber).execute();
    expect(inbox).toHaveLength(1);
    expect(inbox[0]?.dispatched_at).toBeNull();
    expect(await db.selectFrom('booking_requests').selectAll().where('booking_number', '=', bookingNumber).execute()).toHaveLength(0);
    expect((await w.world.booking('wellhub', bookingNumber))?.status).toBe('pending');

    // Temporal is back: the dispatcher hands the event over; the member gets the spot and Wellhub hears RESERVED.
    const dispatcher = startInboxDispatcher({
      db,
      adapters: createAdapters(),
      bookings: temporalBookingRequestControl(temporal.client, { taskQueue: temporal.taskQueue }),
      logger,
      intervalMs: 60_000,
      graceMs: 0,
    });
    cleanups.push(() => dispatcher.stop());
    expect(await dispatcher.tick()).toBeGreaterThanOrEqual(1);
    await eventually(async () => ((await w.world.booking('wellhub', bookingNumber))?.status === 'reserved' ? true : undefined), 20_000, 'Wellhub to hold it reserved');
    const after = await db.selectFrom('webhook_inbox').select(['dispatched_at', 'outcome']).where('aggregator', '=', 'wellhub').where('booking_number', '=', bookingNumber).executeTakeFirstOrThrow();
    expect(after.dispatched_at).not.toBeNull();
    // Nothing left to hand over: a second pass does nothing.
    expect(await dispatcher.tick()).toBe(0);
  });
});
