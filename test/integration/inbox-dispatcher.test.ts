import { randomUUID } from 'node:crypto';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Client, Connection } from '@temporalio/client';
import { sql } from 'kysely';
import request from 'supertest';
import { afterAll, describe, expect, it } from 'vitest';
import type { Express } from 'express';
import { createAdapters, aggregatorEndpoints } from '../../aggregators/registry.js';
import { createApp } from '../../api/app.js';
import { temporalLifecycleControl } from '../../api/clients/activity-lifecycle.js';
import { temporalBookingRequestControl, type BookingRequestControl } from '../../api/clients/booking-request.js';
import { temporalCancellationControl } from '../../api/clients/session-cancellation.js';
import { startInboxDispatcher } from '../../api/inbox-dispatcher.js';
import type { Db } from '../../db/index.js';
import { SecretBox } from '../../lib/secrets.js';
import { bearer } from '../support/api-fixtures.js';
import { ADMIN_KEY, SECRETS_KEY, eventually, logger, useApiHarness, type TemporalHarness } from '../support/harness.js';
import { startBookingWorld, type BookingWorld } from '../support/booking-world.js';

// Survives an outage without losing a booking: a webhook that arrives while Temporal cannot be reached is kept in the
// inbox and acknowledged (200); the dispatcher hands it to its workflow once Temporal answers again.

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
    // Acknowledged once it is in the inbox, though no workflow could be started; the failed hand-over makes it due.
    expect(sent.attempts[0]?.status).toBe(200);
    const inbox = await eventually(async () => {
      const rows = await db.selectFrom('webhook_inbox').selectAll().where('aggregator', '=', 'wellhub').where('booking_number', '=', bookingNumber).execute();
      return rows.length === 1 && rows[0]!.next_handover_at.getTime() <= Date.now() ? rows : undefined;
    }, 10_000, 'the failed hand-over to make the event due');
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

describe('inbox hand-over under faults', () => {
  /** Every hand-over a dispatcher makes, by event id (to see that no event is handed over twice). */
  function countingControl(): { control: BookingRequestControl; handed: string[] } {
    const real = temporalBookingRequestControl(temporal.client, { taskQueue: temporal.taskQueue });
    const handed: string[] = [];
    return {
      handed,
      control: {
        ...real,
        deliver: async (input, event, deadlineMs) => {
          await real.deliver(input, event, deadlineMs);
          handed.push(event.eventId);
        },
      },
    };
  }

  /** Puts an event in the inbox as the route does, already due (its own hand-over failed). */
  async function inboxEvent(connectionId: string, bookingNumber: string): Promise<string> {
    const eventId = `evt-${randomUUID()}`;
    await db
      .insertInto('webhook_inbox')
      .values({
        aggregator: 'wellhub',
        event_id: eventId,
        event_type: 'booking_cancelled',
        connection_id: connectionId,
        booking_number: bookingNumber,
        payload: JSON.stringify({ type: 'booking_cancelled', eventId, occurredAt: new Date().toISOString(), late: false, sessionExternalId: '1', member: { externalId: 'm' } }),
        next_handover_at: new Date(),
      })
      .execute();
    return eventId;
  }
  const row = (eventId: string) => db.selectFrom('webhook_inbox').selectAll().where('event_id', '=', eventId).executeTakeFirstOrThrow();
  const dueNow = (eventId: string) => db.updateTable('webhook_inbox').set({ next_handover_at: new Date() }).where('event_id', '=', eventId).execute();

  it('hands every other event over while one keeps failing, gives that one up as dead, lists it for its company only, and requeues it on demand', async () => {
    const w: BookingWorld = await startBookingWorld(app, db, { aggregators: ['wellhub'] });
    const other: BookingWorld = await startBookingWorld(app, db, { aggregators: ['wellhub'] });
    cleanups.push(() => w.close(), () => other.close());
    const connectionId = w.connectionIds.wellhub;
    // A row from before booking numbers had a maximum length: its workflow id is one Temporal refuses.
    const poison = await inboxEvent(connectionId, `poison-${'9'.repeat(1_200)}`);
    const good = await Promise.all(Array.from({ length: 5 }, (_, i) => inboxEvent(connectionId, `good-${i}-${randomUUID()}`)));

    const { control, handed } = countingControl();
    const dispatcher = startInboxDispatcher({ db, adapters: createAdapters(), bookings: control, logger, intervalMs: 60_000, maxAttempts: 2, concurrency: 4 });
    cleanups.push(() => dispatcher.stop());
    expect(await dispatcher.tick()).toBe(5);
    expect(handed.sort()).toEqual([...good].sort());
    for (const id of good) expect((await row(id)).dispatched_at).not.toBeNull();
    const failed = await row(poison);
    expect(failed).toMatchObject({ dispatched_at: null, dead_at: null, handover_attempts: 1, claimed_until: null });
    expect(failed.last_handover_error).toBeTruthy();
    expect(failed.next_handover_at.getTime()).toBeGreaterThan(Date.now());

    await dueNow(poison);
    expect(await dispatcher.tick()).toBe(0);
    const dead = await row(poison);
    expect(dead.handover_attempts).toBe(2);
    expect(dead.dead_at).not.toBeNull();
    await dueNow(poison);
    expect(await dispatcher.tick()).toBe(0);
    expect((await row(poison)).handover_attempts).toBe(2);

    const listed = await request(app).get('/v1/webhook-events/dead').set(bearer(w.key));
    expect(listed.status).toBe(200);
    expect(listed.body.items).toEqual([
      expect.objectContaining({ id: String(dead.id), aggregator: 'wellhub', connectionId, eventId: poison, attempts: 2, lastError: expect.any(String) }),
    ]);
    const theirs = await request(app).get('/v1/webhook-events/dead').set(bearer(other.key));
    expect(theirs.body.items).toEqual([]);
    expect((await request(app).post(`/v1/webhook-events/${dead.id}/retry`).set(bearer(other.key))).status).toBe(404);
    expect((await request(app).post(`/v1/webhook-events/${good[0] ? (await row(good[0])).id : '1'}/retry`).set(bearer(w.key))).status).toBe(404);

    const retried = await request(app).post(`/v1/webhook-events/${dead.id}/retry`).set(bearer(w.key));
    expect(retried.status).toBe(202);
    expect(await row(poison)).toMatchObject({ dead_at: null, handover_attempts: 0 });
    await db.deleteFrom('webhook_inbox').where('event_id', '=', poison).execute();
  });

  it('lets two dispatchers run at once without handing one event over twice', async () => {
    const w: BookingWorld = await startBookingWorld(app, db, { aggregators: ['wellhub'] });
    cleanups.push(() => w.close());
    const events = await Promise.all(Array.from({ length: 24 }, (_, i) => inboxEvent(w.connectionIds.wellhub, `pair-${i}-${randomUUID()}`)));
    const a = countingControl();
    const b = countingControl();
    const first = startInboxDispatcher({ db, adapters: createAdapters(), bookings: a.control, logger, intervalMs: 60_000, batchSize: 10, concurrency: 3 });
    const second = startInboxDispatcher({ db, adapters: createAdapters(), bookings: b.control, logger, intervalMs: 60_000, batchSize: 10, concurrency: 3 });
    cleanups.push(() => first.stop(), () => second.stop());
    let total = 0;
    for (let round = 0; round < 5 && total < events.length; round++) {
      const [x, y] = await Promise.all([first.tick(), second.tick()]);
      total += x + y;
    }
    const all = [...a.handed, ...b.handed];
    expect(total).toBe(events.length);
    expect(new Set(all).size).toBe(all.length);
    expect(all.sort()).toEqual([...events].sort());
    expect(a.handed.length).toBeGreaterThan(0);
    expect(b.handed.length).toBeGreaterThan(0);
  });

  it('counts no attempt while Temporal cannot be reached at all', async () => {
    const w: BookingWorld = await startBookingWorld(app, db, { aggregators: ['wellhub'] });
    cleanups.push(() => w.close());
    const eventId = await inboxEvent(w.connectionIds.wellhub, `outage-${randomUUID()}`);
    const unreachable = new Client({ connection: Connection.lazy({ address: '127.0.0.1:1', connectTimeout: 300 }) });
    const dispatcher = startInboxDispatcher({
      db,
      adapters: createAdapters(),
      bookings: temporalBookingRequestControl(unreachable, { taskQueue: temporal.taskQueue, rpcDeadlineMs: 300 }),
      logger,
      intervalMs: 60_000,
      maxAttempts: 1,
    });
    cleanups.push(() => dispatcher.stop());
    for (let i = 0; i < 3; i++) expect(await dispatcher.tick()).toBe(0);
    expect(await row(eventId)).toMatchObject({ handover_attempts: 0, dead_at: null, dispatched_at: null });
    await db.deleteFrom('webhook_inbox').where('event_id', '=', eventId).execute();
  });

  it('deletes, at its sweep, settled rows past the retention and keeps newer ones and any still waiting', async () => {
    const w: BookingWorld = await startBookingWorld(app, db, { aggregators: ['wellhub'] });
    cleanups.push(() => w.close());
    const connectionId = w.connectionIds.wellhub;
    const [oldApplied, oldDead, oldWaiting, recentApplied] = await Promise.all(Array.from({ length: 4 }, (_, i) => inboxEvent(connectionId, `retention-${i}-${randomUUID()}`)));
    // received_at is written by the database only (no update in the table's types): backdated in SQL.
    await sql`UPDATE webhook_inbox SET received_at = now() - interval '40 days' WHERE event_id = ANY(${[oldApplied, oldDead, oldWaiting]}::text[])`.execute(db);
    await db.updateTable('webhook_inbox').set({ processed_at: new Date(), outcome: 'applied', dispatched_at: new Date() }).where('event_id', 'in', [oldApplied, recentApplied] as string[]).execute();
    await db.updateTable('webhook_inbox').set({ dead_at: new Date() }).where('event_id', '=', oldDead as string).execute();
    const dispatcher = startInboxDispatcher({ db, adapters: createAdapters(), bookings: countingControl().control, logger, intervalMs: 60_000, retentionMs: 30 * 86_400_000 });
    cleanups.push(() => dispatcher.stop());
    expect(await dispatcher.sweep()).toBeGreaterThanOrEqual(2);
    const left = await db.selectFrom('webhook_inbox').select('event_id').where('connection_id', '=', connectionId).execute();
    expect(left.map((r) => r.event_id).sort()).toEqual([oldWaiting, recentApplied].sort());
  });
});
