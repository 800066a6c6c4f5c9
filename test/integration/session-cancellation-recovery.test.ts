import type { Client } from '@temporalio/client';
import type { Express } from 'express';
import request from 'supertest';
import { afterAll, describe, expect, it } from 'vitest';
import { createAdapters } from '../../aggregators/registry.js';
import { createApp } from '../../api/app.js';
import { temporalLifecycleControl } from '../../api/clients/activity-lifecycle.js';
import { temporalBookingRequestControl } from '../../api/clients/booking-request.js';
import { temporalCancellationControl, type CancellationControl } from '../../api/clients/session-cancellation.js';
import { startCancellationSweeper } from '../../api/cancellation-sweeper.js';
import type { Db } from '../../db/index.js';
import { cancelSessionInLedger } from '../../db/session-cancellations.js';
import type { Aggregator } from '../../domain/model.js';
import { SecretBox } from '../../lib/secrets.js';
import { workflowIds } from '../../workflows/ids.js';
import { bearer } from '../support/api-fixtures.js';
import { startBookingWorld, tomorrowAt, type BookingWorld } from '../support/booking-world.js';
import { ADMIN_KEY, SECRETS_KEY, eventually, logger, useApiHarness, type TemporalHarness } from '../support/harness.js';

// A cancellation is final in the ledger the moment its transaction commits; its fan-out must reach every aggregator
// whatever happened to the workflow meant to carry it: a commit that lands long after the workflow started, a
// workflow that ended (or was ended) before doing its work. Real PostgreSQL, Temporal dev server and sandboxes.

let app: Express;
let db: Db;
let temporal: TemporalHarness;
let client: Client;
const worlds: BookingWorld[] = [];
useApiHarness((h) => {
  ({ app, db, temporal } = h);
  client = h.temporal.client;
});
afterAll(async () => {
  await Promise.all(worlds.map((w) => w.close()));
});

const AGGREGATORS = ['wellhub', 'classpass'] as const satisfies readonly Aggregator[];

async function world(): Promise<BookingWorld> {
  const w = await startBookingWorld(app, db, { aggregators: AGGREGATORS });
  worlds.push(w);
  return w;
}

/** A Wellhub member books the session: reserved there and in the ledger. */
async function wellhubBooking(w: BookingWorld, sessionId: string, member: string): Promise<string> {
  const external = await w.externalSessionId('wellhub', sessionId);
  const { bookingNumber } = await w.world.requestBooking('wellhub', { sessionId: external, member: { id: member, name: member } });
  await eventually(async () => ((await w.world.booking('wellhub', bookingNumber))?.status === 'reserved' ? true : undefined), 20_000, 'wellhub reserved');
  await eventually(
    async () => {
      const b = await db.selectFrom('bookings').select('status').where('source', '=', 'wellhub').where('aggregator_booking_number', '=', bookingNumber).executeTakeFirst();
      return b?.status === 'reserved' ? true : undefined;
    },
    10_000,
    'ledger reserved',
  );
  return bookingNumber;
}

const cancellation = async (w: BookingWorld, sessionId: string) =>
  (await request(app).get(`/v1/sessions/${sessionId}/cancellation`).set(bearer(w.key))).body as { status: string; aggregators: Array<{ aggregator: string; status: string }> };

async function done(w: BookingWorld, sessionId: string, timeoutMs = 30_000) {
  return eventually(async () => {
    const c = await cancellation(w, sessionId);
    return c.status === 'done' ? c : undefined;
  }, timeoutMs, `the cancellation of ${sessionId} done`);
}

/** Every aggregator has it: the Wellhub member's booking cancelled by the gym, the session no longer listed anywhere. */
async function toldEverywhere(w: BookingWorld, sessionId: string, external: Map<Aggregator, string>, bookingNumber: string) {
  expect((await w.world.booking('wellhub', bookingNumber))?.status).toBe('cancelled_by_gym');
  for (const aggregator of AGGREGATORS) {
    expect((await w.world.held(aggregator)).sessions.map((s) => s.id), aggregator).not.toContain(external.get(aggregator));
  }
  const booking = await db.selectFrom('bookings').select(['status', 'aggregator_cancelled_at']).where('session_id', '=', sessionId).executeTakeFirstOrThrow();
  expect(booking.status).toBe('cancelled_by_gym');
  expect(booking.aggregator_cancelled_at).not.toBeNull();
}

async function externals(w: BookingWorld, sessionId: string): Promise<Map<Aggregator, string>> {
  const external = new Map<Aggregator, string>();
  for (const aggregator of AGGREGATORS) external.set(aggregator, await w.externalSessionId(aggregator, sessionId));
  return external;
}

/** The studio's cancellation committed in the ledger with no fan-out workflow carrying it (its run ended, or never began). */
async function cancelledWithoutFanOut(sessionId: string, reason: string) {
  const { company_id: companyId } = await db.selectFrom('sessions').select('company_id').where('id', '=', sessionId).executeTakeFirstOrThrow();
  await db.transaction().execute(async (trx) => {
    const outcome = await cancelSessionInLedger(trx, { companyId, sessionId, reason, actor: 'test' });
    expect(outcome.outcome).toBe('started');
  });
}

describe('cancellations whose fan-out was lost', () => {
  it('fans out a cancellation whose transaction commits after its workflow waited 10 s for it', async () => {
    const w = await world();
    const { sessionIds } = await w.offer({ maxParticipants: 5 });
    const sessionId = sessionIds[0] as string;
    const external = await externals(w, sessionId);
    const bookingNumber = await wellhubBooking(w, sessionId, 'slow-commit');

    // The real route, whose transaction commits long after it started the fan-out (a slow commit, a failover, a
    // pause): it holds the commit until the fan-out's first read has waited 10 s for it, or until the fan-out has
    // ended without it (then commits at once: that is the loss this test is about), at most 30 s.
    const real = temporalCancellationControl(client, { taskQueue: temporal.taskQueue });
    const slow: CancellationControl = {
      ...real,
      async start(input) {
        const started = await real.start(input);
        const fanOut = client.workflow.getHandle(started.workflowId);
        await eventually(
          async () => {
            const { status, raw } = await fanOut.describe();
            if (status.name !== 'RUNNING') return true;
            const read = (raw.pendingActivities ?? []).find((a) => a.activityType?.name === 'openBranches');
            const started = read?.lastStartedTime;
            const since = started ? Number(started.seconds ?? 0) * 1000 + Math.floor((started.nanos ?? 0) / 1e6) : Infinity;
            return Date.now() - since >= 10_500 ? true : undefined;
          },
          30_000,
        ).catch(() => undefined);
        return started;
      },
    };
    const slowApp = createApp({
      db,
      logger,
      secretBox: new SecretBox(SECRETS_KEY),
      lifecycle: temporalLifecycleControl(client, { taskQueue: temporal.taskQueue, syncIntervalMs: 30 * 60_000, logger }),
      bookings: temporalBookingRequestControl(client, { taskQueue: temporal.taskQueue }),
      cancellations: slow,
      adapters: createAdapters(),
      adminApiKey: ADMIN_KEY,
      endpoints: w.world.endpoints,
      readiness: {},
    });
    const sent = Date.now();
    const res = await request(slowApp).post(`/v1/sessions/${sessionId}/cancel`).set(bearer(w.key)).send({ reason: 'slow commit' });
    expect(res.status).toBe(202);

    await done(w, sessionId);
    await toldEverywhere(w, sessionId, external, bookingNumber);
    // The commit did land that late: the fan-out waited for it instead of giving up.
    expect(Date.now() - sent).toBeGreaterThanOrEqual(10_000);
  }, 90_000);

  it('restarts a cancellation not completed, whose workflow is not running, when the studio cancels again', async () => {
    const w = await world();
    const { sessionIds } = await w.offer({ maxParticipants: 5 });
    const sessionId = sessionIds[0] as string;
    const external = await externals(w, sessionId);
    const bookingNumber = await wellhubBooking(w, sessionId, 'again');

    await cancelledWithoutFanOut(sessionId, 'lost fan-out');
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    expect((await cancellation(w, sessionId)).status).toBe('in_progress');
    expect((await w.world.booking('wellhub', bookingNumber))?.status).toBe('reserved');

    // Cancelling again returns the same cancellation, and carries it out.
    const again = await request(app).post(`/v1/sessions/${sessionId}/cancel`).set(bearer(w.key)).send({ reason: 'second try' });
    expect(again.status).toBe(202);
    expect(again.body).toMatchObject({ sessionId, reason: 'lost fan-out' });
    await done(w, sessionId);
    await toldEverywhere(w, sessionId, external, bookingNumber);

    // The same through cancel-sessions: its sessions cancelled already but not carried out are restarted too.
    const { activityId, sessionIds: more } = await w.offer({ maxParticipants: 5, starts: [tomorrowAt(7, 2)] });
    const other = more[0] as string;
    const otherExternal = await externals(w, other);
    const otherNumber = await wellhubBooking(w, other, 'again-2');
    await cancelledWithoutFanOut(other, 'lost fan-out 2');
    const bulk = await request(app).post(`/v1/activities/${activityId}/cancel-sessions`).set(bearer(w.key)).send({ reason: 'x' });
    expect(bulk.status).toBe(202);
    await done(w, other);
    await toldEverywhere(w, other, otherExternal, otherNumber);
  }, 90_000);

  it('the sweep restarts every cancellation not completed that has no running workflow, and only those', async () => {
    const w = await world();
    const { sessionIds } = await w.offer({ maxParticipants: 5, starts: [tomorrowAt(8), tomorrowAt(10), tomorrowAt(12)] });
    const [never, ended, running] = sessionIds as [string, string, string];
    const external = new Map<string, Map<Aggregator, string>>();
    const numbers = new Map<string, string>();
    for (const sessionId of sessionIds) {
      external.set(sessionId, await externals(w, sessionId));
      numbers.set(sessionId, await wellhubBooking(w, sessionId, `sweep-${sessionId}`));
    }
    const control = temporalCancellationControl(client, { taskQueue: temporal.taskQueue });

    // 1: committed, its workflow never ran. 2: its workflow ended (terminated) while Wellhub was down, before its
    // work was done. 3: running normally, with Wellhub down: the sweep must leave it alone.
    await cancelledWithoutFanOut(never, 'never ran');
    await w.world.fault('wellhub', { status: 503, method: 'PATCH', path: '/bookings/' });
    for (const sessionId of [ended, running]) {
      expect((await request(app).post(`/v1/sessions/${sessionId}/cancel`).set(bearer(w.key)).send({ reason: 'studio flooded' })).status).toBe(202);
    }
    const endedHandle = client.workflow.getHandle(workflowIds.sessionCancellation(ended));
    const branchOf = (sessionId: string) =>
      db.selectFrom('session_cancellation_branches').select(['status', 'attempts']).where('session_id', '=', sessionId).where('aggregator', '=', 'wellhub').executeTakeFirstOrThrow();
    await eventually(async () => ((await branchOf(ended)).status === 'retrying' ? true : undefined), 20_000, 'the branch retrying');
    await endedHandle.terminate('ended before its work was done');
    const runningRun = (await client.workflow.getHandle(workflowIds.sessionCancellation(running)).describe()).runId;

    const sweeper = startCancellationSweeper({ db, cancellations: control, logger, intervalMs: 3_600_000, graceMs: 0 });
    try {
      expect(await sweeper.tick()).toBe(2);
      await w.world.clearFaults('wellhub');
      for (const sessionId of sessionIds) {
        await done(w, sessionId, 60_000);
        await toldEverywhere(w, sessionId, external.get(sessionId) as Map<Aggregator, string>, numbers.get(sessionId) as string);
      }
      // The running one went on in its own run; nothing is left to sweep.
      expect((await client.workflow.getHandle(workflowIds.sessionCancellation(running)).describe()).runId).toBe(runningRun);
      expect(await sweeper.tick()).toBe(0);
    } finally {
      await sweeper.stop();
    }
  }, 120_000);
});
