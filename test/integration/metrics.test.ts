import { connect, createServer, type Server, type Socket } from 'node:net';
import pg from 'pg';
import request from 'supertest';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { Express } from 'express';
import { createDb, type Db } from '../../db/index.js';
import { readLedgerState } from '../../db/ledger-metrics.js';
import { setLedgerReader, startMetricsServer, type MetricsServer } from '../../lib/metrics.js';
import { bearer } from '../support/api-fixtures.js';
import { startBookingWorld, type BookingWorld } from '../support/booking-world.js';
import { eventually, logger, useApiHarness } from '../support/harness.js';
import { freePort } from '../support/ports.js';
import { sample } from '../support/prometheus-text.js';

// The metrics as ops scrape them: a real /metrics listener over HTTP, while a booking request goes through the real
// stack (a Wellhub sandbox sending signed webhooks to the API on a real port, the booking workflow on a real Temporal
// server, the ledger on a real PostgreSQL). In one process, as `npm start` runs: one registry holds the API's and the
// worker's metrics, and the ledger state gauges are read from this test's database at every scrape.

let app: Express;
let db: Db;
let world: BookingWorld;
let metrics: MetricsServer;
useApiHarness((h) => ({ app, db } = h));

beforeAll(async () => {
  world = await startBookingWorld(app, db, { aggregators: ['wellhub'] });
  metrics = await startMetricsServer({ host: '127.0.0.1', port: 0, logger });
  setLedgerReader((timeoutMs) => readLedgerState(db, timeoutMs), { cacheMs: 0, timeoutMs: 1_000 });
}, 120_000);

afterAll(async () => {
  setLedgerReader(undefined);
  await metrics?.close();
  await world?.close();
});

async function scrape(): Promise<string> {
  const res = await fetch(metrics.url);
  expect(res.status).toBe(200);
  return res.text();
}

const value = (text: string, name: string, labels: Record<string, string> = {}) => sample(text, name, labels) ?? 0;

async function requestBooking(member: string) {
  const { sessionIds } = await world.offer({ maxParticipants: 5 });
  const external = await world.externalSessionId('wellhub', sessionIds[0] as string);
  return world.world.requestBooking('wellhub', { sessionId: external, member: { id: member, name: 'Ana Lima', email: 'ana@example.com' } });
}

describe('/metrics', () => {
  it('is not served on the API port, which the aggregators reach', async () => {
    expect((await request(app).get('/metrics')).status).toBe(404);
  });

  it('counts the webhook and its acknowledgement, times the decision, the answer and the call to Wellhub', async () => {
    const before = await scrape();
    const { bookingNumber } = await requestBooking('m-metrics-1');
    await eventually(async () => ((await world.world.booking('wellhub', bookingNumber))?.status === 'reserved' ? true : undefined), 20_000, 'Wellhub to hold it reserved');
    const after = await eventually(async () => {
      const text = await scrape();
      // The answer is recorded once the ledger has it, just after Wellhub did.
      return value(text, 'aggregator_bookings_booking_request_answer_duration_seconds_count', { aggregator: 'wellhub', decision: 'reserve' }) >
        value(before, 'aggregator_bookings_booking_request_answer_duration_seconds_count', { aggregator: 'wellhub', decision: 'reserve' })
        ? text
        : undefined;
    }, 10_000, 'the answer to be measured');
    const grew = (name: string, labels: Record<string, string>) => value(after, name, labels) - value(before, name, labels);
    // Wellhub may resend while the first copy is answered: at least one accepted, each copy counted.
    expect(grew('aggregator_bookings_webhooks_received_total', { aggregator: 'wellhub', outcome: 'accepted' })).toBe(1);
    expect(grew('aggregator_bookings_webhook_ack_duration_seconds_count', { aggregator: 'wellhub' })).toBeGreaterThanOrEqual(1);
    expect(grew('aggregator_bookings_booking_request_decision_duration_seconds_count', { aggregator: 'wellhub', decision: 'reserve' })).toBe(1);
    expect(grew('aggregator_bookings_booking_request_answer_duration_seconds_count', { aggregator: 'wellhub', decision: 'reserve' })).toBe(1);
    // The confirmation (Wellhub: PATCH the booking) and the lifecycle's free-spot updates: the worker's calls.
    expect(grew('aggregator_bookings_aggregator_request_duration_seconds_count', { aggregator: 'wellhub', status: '2xx' })).toBeGreaterThanOrEqual(1);
    expect(grew('aggregator_bookings_aggregator_requests_total', { aggregator: 'wellhub', operation: 'patchBooking', status: '2xx' })).toBe(1);
    // No booking number, member or URL in any label.
    expect(after).not.toContain(bookingNumber);
    expect(after).not.toContain('m-metrics-1');
    expect(after).not.toContain('127.0.0.1');
  }, 60_000);

  it('counts refused webhooks by their refusal', async () => {
    const before = await scrape();
    const res = await fetch(`${world.baseUrl}/webhooks/wellhub`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"event_type":"booking-requested","event_data":{"slot":{"gym_id":1}}}' });
    expect(res.status).toBeGreaterThanOrEqual(400);
    const unknownAggregator = await fetch(`${world.baseUrl}/webhooks/not-an-aggregator`, { method: 'POST', body: '{}' });
    expect(unknownAggregator.status).toBe(404);
    const after = await scrape();
    const refusals = after
      .split('\n')
      .filter((line) => line.startsWith('aggregator_bookings_webhooks_received_total{') && !/outcome="(accepted|duplicate)"/.test(line))
      .reduce((sum, line) => sum + Number(line.split(' ').pop()), 0);
    const refusalsBefore = before
      .split('\n')
      .filter((line) => line.startsWith('aggregator_bookings_webhooks_received_total{') && !/outcome="(accepted|duplicate)"/.test(line))
      .reduce((sum, line) => sum + Number(line.split(' ').pop()), 0);
    expect(refusals - refusalsBefore).toBe(2);
    expect(value(after, 'aggregator_bookings_webhooks_received_total', { aggregator: 'unknown', outcome: 'unknown_aggregator' })).toBeGreaterThanOrEqual(1);
  });

  it('counts a webhook whose sender hung up before its answer apart', async () => {
    const before = value(await scrape(), 'aggregator_bookings_webhooks_received_total', { aggregator: 'wellhub', outcome: 'client_closed' });
    const { port } = new URL(world.baseUrl);
    const socket = connect(Number(port), '127.0.0.1');
    await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
    // Half a body, then gone.
    socket.write('POST /webhooks/wellhub HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 500\r\n\r\n{"event_type":');
    await new Promise((resolve) => setTimeout(resolve, 200));
    socket.destroy();
    await eventually(async () => {
      const now = value(await scrape(), 'aggregator_bookings_webhooks_received_total', { aggregator: 'wellhub', outcome: 'client_closed' });
      return now === before + 1 ? true : undefined;
    }, 5_000, 'the hang-up to be counted');
  });

  it('shows a request waiting for manual approval, its age and deadline, and 0 once the studio answered', async () => {
    const { sessionIds } = await world.offer({ maxParticipants: 5 });
    // Not in the API: set on the ledger, as booking-deadline.test.ts does.
    await db.updateTable('activities').set({ requires_manual_approval: true }).where('venue_id', '=', world.venueId).execute();
    const external = await world.externalSessionId('wellhub', sessionIds[0] as string);
    const { bookingNumber } = await world.world.requestBooking('wellhub', { sessionId: external, member: { id: 'm-metrics-held' } });
    const held = await eventually(
      () =>
        db
          .selectFrom('booking_requests')
          .select(['booking_id', 'decision'])
          .where('booking_number', '=', bookingNumber)
          .executeTakeFirst()
          .then((row) => (row?.decision === 'awaiting_approval' ? row : undefined)),
      20_000,
      'the request to be held for approval',
    );
    const waiting = await scrape();
    expect(value(waiting, 'aggregator_bookings_booking_requests_waiting', { aggregator: 'wellhub', stage: 'awaiting_approval' })).toBe(1);
    const age = sample(waiting, 'aggregator_bookings_booking_request_oldest_waiting_age_seconds', { aggregator: 'wellhub' });
    const toDeadline = sample(waiting, 'aggregator_bookings_booking_request_nearest_deadline_seconds', { aggregator: 'wellhub' });
    expect(age).toBeGreaterThanOrEqual(0);
    expect(age).toBeLessThan(120);
    // Wellhub's deadline is 15 minutes after its request.
    expect(toDeadline).toBeGreaterThan(15 * 60 - 120);
    expect(toDeadline).toBeLessThanOrEqual(15 * 60);
    expect(value(waiting, 'aggregator_bookings_booking_requests_waiting', { aggregator: 'classpass', stage: 'awaiting_approval' })).toBe(0);

    const decided = (text: string) => value(text, 'aggregator_bookings_booking_request_decision_duration_seconds_count', { aggregator: 'wellhub', decision: 'reserve' });
    const approved = await request(app).post(`/v1/bookings/${held.booking_id}/approve`).set(bearer(world.key)).send({});
    expect(approved.status).toBeLessThan(300);
    const answered = await eventually(async () => {
      const text = await scrape();
      return value(text, 'aggregator_bookings_booking_requests_waiting', { aggregator: 'wellhub', stage: 'awaiting_approval' }) === 0 &&
        value(text, 'aggregator_bookings_booking_requests_waiting', { aggregator: 'wellhub', stage: 'answering' }) === 0
        ? text
        : undefined;
    }, 20_000, 'the request to be answered');
    expect(sample(answered, 'aggregator_bookings_booking_request_nearest_deadline_seconds', { aggregator: 'wellhub' })).toBeUndefined();
    // The approval was the decision: measured once, from the request.
    expect(decided(answered) - decided(waiting)).toBe(1);
    expect(sample(answered, 'aggregator_bookings_ledger_read_up')).toBe(1);
  }, 60_000);

  it('shows the sync state of the active connection', async () => {
    const text = await scrape();
    const connection = { connection_id: world.connectionIds.wellhub, aggregator: 'wellhub' };
    expect(sample(text, 'aggregator_bookings_connection_sync_errors', connection)).toBe(0);
    expect(sample(text, 'aggregator_bookings_connection_sync_lag_seconds', connection)).toBeGreaterThanOrEqual(0);
    expect(sample(text, 'aggregator_bookings_inbox_events_dead', { aggregator: 'wellhub' })).toBe(0);
  });
});

describe('/metrics when PostgreSQL is slow or gone', () => {
  const timed = async () => {
    const started = Date.now();
    const text = await scrape();
    return { text, ms: Date.now() - started };
  };

  it('answers 200 within its bound, with ledger_read_up 0, while a lock holds the ledger', async () => {
    const blocker = new pg.Client({ connectionString: await databaseUrl() });
    await blocker.connect();
    try {
      await blocker.query('BEGIN');
      await blocker.query('LOCK TABLE booking_requests IN ACCESS EXCLUSIVE MODE');
      const { text, ms } = await timed();
      expect(ms).toBeLessThan(3_000);
      expect(sample(text, 'aggregator_bookings_ledger_read_up')).toBe(0);
      expect(sample(text, 'aggregator_bookings_booking_requests_waiting', { aggregator: 'wellhub', stage: 'awaiting_approval' })).toBeUndefined();
      expect(text).toContain('aggregator_bookings_webhooks_received_total');
    } finally {
      await blocker.query('ROLLBACK');
      await blocker.end();
    }
    // And back once the lock is gone.
    expect(sample(await scrape(), 'aggregator_bookings_ledger_read_up')).toBe(1);
  }, 30_000);

  it('answers 200 with ledger_read_up 0 when PostgreSQL refuses connections, or accepts and never answers', async () => {
    const closedPort = await freePort();
    const refused = createDb(`postgres://x:y@127.0.0.1:${closedPort}/none`, 2);
    const sockets: Socket[] = [];
    const blackhole: Server = createServer((socket) => void sockets.push(socket));
    await new Promise<void>((resolve) => blackhole.listen(0, '127.0.0.1', () => resolve()));
    const silent = createDb(`postgres://x:y@127.0.0.1:${(blackhole.address() as { port: number }).port}/none`, 2);
    try {
      for (const broken of [refused, silent]) {
        setLedgerReader((timeoutMs) => readLedgerState(broken, timeoutMs), { cacheMs: 0, timeoutMs: 500 });
        for (let i = 0; i < 3; i += 1) {
          const { text, ms } = await timed();
          expect(ms).toBeLessThan(2_500);
          expect(sample(text, 'aggregator_bookings_ledger_read_up')).toBe(0);
        }
      }
      // The silent one was given one connection attempt, not one per scrape.
      expect(sockets.length).toBe(1);
    } finally {
      setLedgerReader((timeoutMs) => readLedgerState(db, timeoutMs), { cacheMs: 0, timeoutMs: 1_000 });
      for (const socket of sockets) socket.destroy();
      blackhole.close();
      await refused.destroy();
      await Promise.race([silent.destroy(), new Promise((resolve) => setTimeout(resolve, 1_000))]);
    }
  }, 30_000);
});

/** This test file's database on the shared test server. */
async function databaseUrl(): Promise<string> {
  const { rows } = await sql<{ name: string }>`SELECT current_database() AS name`.execute(db);
  const url = new URL(inject('postgresUrl'));
  url.pathname = `/${rows[0]?.name ?? ''}`;
  return url.toString();
}
