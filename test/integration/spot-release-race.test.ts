import { randomUUID } from 'node:crypto';
import type { Express } from 'express';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Db } from '../../db/index.js';
import { aggregatorOffer } from '../../domain/free-spots.js';
import { AGGREGATORS, SPOT_HOLDING_STATUSES } from '../../domain/model.js';
import { workflowIds } from '../../workflows/ids.js';
import { sessionTimersStateQuery } from '../../workflows/session-timers/contract.js';
import { bearer } from '../support/api-fixtures.js';
import { startBookingWorld, type BookingWorld } from '../support/booking-world.js';
import { eventually, useApiHarness, type ApiHarness } from '../support/harness.js';

/**
 * The release of unsold aggregator spots and the offer of unsold direct spots, with every part real and the ledger's
 * own clock crossing the moment while direct bookings (API) and aggregator requests (the sandboxes' signed webhooks)
 * race for the spots: the session is moved so that its moment falls a few seconds ahead, then both channels book
 * across it. Checked: never above capacity; before the moment the aggregators' unsold share is held back from direct
 * customers and the limit and quota bind the aggregators; after it every sandbox shows exactly what can be booked
 * through it. (The timer itself is tested on the time-skipping server in session-timers.test.ts.)
 */
let app: Express;
let db: Db;
let client: ApiHarness['temporal']['client'];
let w: BookingWorld;
useApiHarness(
  (h) => {
    ({ app, db } = h);
    client = h.temporal.client;
  },
  { inboxDispatcher: true, lifecycleRelay: true, sessionTimersRelay: true },
);
beforeAll(async () => {
  w = await startBookingWorld(app, db);
});
afterAll(async () => {
  await w?.close();
});

const CAPACITY = 10;
const LIMIT = 5;
const WELLHUB_QUOTA = 1;
const isoSeconds = (ms: number) => new Date(ms).toISOString().replace(/\.\d+Z$/, '+00:00');
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));

async function customers(n: number): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < n; i++) ids.push((await request(app).post('/v1/customers').set(bearer(w.key)).send({ name: `Direct ${i}` })).body.id as string);
  return ids;
}

const directBooking = (sessionId: string, customerId: string) =>
  request(app).post(`/v1/sessions/${sessionId}/bookings`).set(bearer(w.key)).send({ customerId });

async function holding(sessionId: string) {
  const rows = await db.selectFrom('bookings').select(['source']).where('session_id', '=', sessionId).where('status', 'in', [...SPOT_HOLDING_STATUSES]).execute();
  const by = (source: string) => rows.filter((r) => r.source === source).length;
  return { total: rows.length, aggregators: rows.filter((r) => r.source !== 'direct').length, by };
}

/** Every request has been decided and answered (or, for Onefit, answered without a decision in its second). */
async function settled(numbers: readonly string[]): Promise<void> {
  await eventually(
    async () => {
      const answered = await db.selectFrom('booking_requests').select('booking_number').where('booking_number', 'in', [...numbers]).where('answer', '<>', 'pending').execute();
      const undecided = await db
        .selectFrom('webhook_inbox')
        .select('booking_number')
        .where('booking_number', 'in', [...numbers])
        .where('outcome', '=', 'answered_rejected_without_decision')
        .execute();
      const done = new Set([...answered, ...undecided].map((r) => r.booking_number));
      return numbers.every((n) => done.has(n)) ? true : undefined;
    },
    90_000,
    'every aggregator request answered',
  );
}

/** What each sandbox shows of the session equals what the ledger allows that aggregator now. */
async function countsFollow(sessionId: string, limitsLifted: boolean): Promise<void> {
  await eventually(
    async () => {
      const held = await holding(sessionId);
      for (const aggregator of AGGREGATORS) {
        const offer = aggregatorOffer({
          maxParticipants: CAPACITY,
          capacityOverride: null,
          aggregatorLimit: LIMIT,
          aggregatorLimitOverride: null,
          quota: aggregator === 'wellhub' ? WELLHUB_QUOTA : undefined,
          booked: { total: held.total, aggregators: held.aggregators, thisAggregator: held.by(aggregator) },
          limitsLifted,
        });
        const external = await w.externalSessionId(aggregator, sessionId);
        const shown = (await w.world.held(aggregator)).sessions.find((s) => s.id === external);
        if (shown?.capacity !== offer.totalCapacity || shown.booked !== offer.totalBooked) return undefined;
      }
      return true;
    },
    60_000,
    `every sandbox to show what the ledger allows (limits lifted: ${limitsLifted})`,
  );
}

describe('spot release and offer under racing bookings', () => {
  it('holds the unsold aggregator share until the release, lifts limit and quota at the offer, never overbooks, and every aggregator count follows', async () => {
    // Both moments 60 minutes before the start, far ahead for now.
    const { activityId, sessionIds } = await w.offer({
      maxParticipants: CAPACITY,
      registrationRules: {
        aggregatorLimit: LIMIT,
        aggregatorQuotas: { wellhub: WELLHUB_QUOTA },
        releaseAggregatorSpotsMinutesBefore: 60,
        offerDirectSpotsToAggregatorsMinutesBefore: 60,
      },
      starts: [isoSeconds(Date.now() + 3 * 3_600_000)],
    });
    const [sessionId] = sessionIds as [string];
    expect((await request(app).get(`/v1/activities/${activityId}`).set(bearer(w.key))).body.registrationRules).toMatchObject({
      releaseAggregatorSpotsMinutesBefore: 60,
      offerDirectSpotsToAggregatorsMinutesBefore: 60,
    });
    await countsFollow(sessionId, false);

    // Out of range: refused, nothing changed.
    const refused = await request(app).patch(`/v1/activities/${activityId}`).set(bearer(w.key)).send({ registrationRules: { releaseAggregatorSpotsMinutesBefore: -1 } });
    expect(refused.status).toBe(400);
    expect((await request(app).get(`/v1/activities/${activityId}`).set(bearer(w.key))).body.registrationRules.releaseAggregatorSpotsMinutesBefore).toBe(60);

    // Moved so that the moment falls 15 seconds ahead: its timer re-arms for it.
    const moment = Math.ceil((Date.now() + 15_000) / 1000) * 1000;
    const moved = await request(app).patch(`/v1/sessions/${sessionId}`).set(bearer(w.key)).send({ startsAt: isoSeconds(moment + 60 * 60_000) });
    expect(moved.status).toBe(200);
    const people = await customers(14);

    // Before the moment: 6 direct customers at once; the aggregators' 5 unsold spots are held back, so 5 get in.
    const early = await Promise.all(people.slice(0, 6).map((c) => directBooking(sessionId, c)));
    expect(Date.now()).toBeLessThan(moment - 500);
    expect(early.filter((r) => r.status === 201)).toHaveLength(CAPACITY - LIMIT);
    expect(early.filter((r) => r.status === 409)).toHaveLength(1);
    // Wellhub holds its quota of 1: a second request is refused while the limits bind.
    const wellhubFirst = await w.world.requestBooking('wellhub', { sessionId: await w.externalSessionId('wellhub', sessionId), bookingNumber: `wh-${randomUUID()}`, member: { id: 'early-1' } });
    const wellhubSecond = await w.world.requestBooking('wellhub', { sessionId: await w.externalSessionId('wellhub', sessionId), bookingNumber: `wh-${randomUUID()}`, member: { id: 'early-2' } });
    await settled([wellhubFirst.bookingNumber, wellhubSecond.bookingNumber]);
    expect(Date.now()).toBeLessThan(moment);
    const decided = await db
      .selectFrom('booking_requests')
      .select(['booking_number', 'decision', 'reason'])
      .where('booking_number', 'in', [wellhubFirst.bookingNumber, wellhubSecond.bookingNumber])
      .execute();
    // The sandbox sends the two webhooks on its own schedule, so either may be decided first: one takes the quota.
    expect(decided.map((r) => r.decision).sort()).toEqual(['reject', 'reserve']);
    expect(decided.find((r) => r.decision === 'reject')).toMatchObject({ reason: 'CLASS_IS_FULL' });

    // Across the moment: 8 more direct customers and 3 requests per aggregator, each sent at a random instant
    // within 1.5 s either side of it.
    await sleep(moment - 1_500 - Date.now());
    const numbers: string[] = [wellhubFirst.bookingNumber, wellhubSecond.bookingNumber];
    const jitter = () => sleep(Math.random() * 3_000);
    const aggregatorRequests = AGGREGATORS.flatMap((aggregator) =>
      [0, 1, 2].map(async (i) => {
        await jitter();
        const sent = await w.world.requestBooking(aggregator, {
          sessionId: await w.externalSessionId(aggregator, sessionId),
          bookingNumber: aggregator === 'wellhub' ? `wh-${randomUUID()}` : undefined,
          member: { id: `${aggregator}-race-${i}` },
        });
        numbers.push(sent.bookingNumber);
      }),
    );
    const directRequests = people.slice(6).map(async (c) => {
      await jitter();
      return directBooking(sessionId, c);
    });
    const [late] = await Promise.all([Promise.all(directRequests), Promise.all(aggregatorRequests)]);
    expect(late.every((r) => r.status === 201 || r.status === 409)).toBe(true);
    await settled(numbers);

    const held = await holding(sessionId);
    expect(held.total).toBeLessThanOrEqual(CAPACITY);
    // 14 direct customers and 17 aggregator requests for 10 places: once everything is open, every place is sold.
    expect(held.total).toBe(CAPACITY);
    // The timer fired at the moment (one push for the two options' common moment).
    const timers = client.workflow.getHandle(workflowIds.sessionTimers(sessionId));
    expect((await timers.query(sessionTimersStateQuery)).pushes).toBe(1);
    await countsFollow(sessionId, true);
  });
});
