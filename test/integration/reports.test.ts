import type { Express } from 'express';
import request from 'supertest';
import { beforeAll, describe, expect, it } from 'vitest';
import type { Db } from '../../db/index.js';
import type { BookingSource, BookingStatus } from '../../domain/model.js';
import { apiFixtures, bearer } from '../support/api-fixtures.js';
import { useApiHarness } from '../support/harness.js';

let db: Db;
let app: Express;
useApiHarness((h) => ({ db, app } = h));
const { newCompany } = apiFixtures(() => app);

/**
 * The ledger a month of aggregator bookings leaves behind, written straight to the tables the report reads (how each
 * status is reached is the booking flows' tests' business). The venue is in Berlin: a session at 00:30 on 2 March
 * Berlin time starts on 1 March in UTC, and is a visit of 2 March.
 */
async function seedCompany(key: string, companyId: string) {
  const venue = await request(app).post('/v1/venues').set(bearer(key)).send({ name: 'Hall', timeZone: 'Europe/Berlin' });
  const venueId = venue.body.id as string;
  const activity = async (name: string) =>
    (
      await db
        .insertInto('activities')
        .values({ company_id: companyId, venue_id: venueId, name, description: '', category: null, max_participants: 20, aggregator_limit: null, booking_opens_minutes_before: null, allow_aggregator_bookings: true })
        .returning('id')
        .executeTakeFirstOrThrow()
    ).id;
  const session = async (activityId: string, startsAt: string) =>
    (
      await db
        .insertInto('sessions')
        .values({ company_id: companyId, venue_id: venueId, activity_id: activityId, starts_at: new Date(startsAt), utc_offset: '+01:00', duration_minutes: 60, room: null, instructors: JSON.stringify([]), capacity_override: null, aggregator_limit_override: null, cancelled_at: null, cancellation_reason: null })
        .returning('id')
        .executeTakeFirstOrThrow()
    ).id;
  let n = 0;
  const booking = async (sessionId: string, source: BookingSource, status: BookingStatus) => {
    n += 1;
    const customer = (await db.insertInto('customers').values({ company_id: companyId, name: `Member ${n}`, email: null }).returning('id').executeTakeFirstOrThrow()).id;
    const row = await db
      .insertInto('bookings')
      .values({ company_id: companyId, session_id: sessionId, customer_id: customer, source, aggregator_booking_number: source === 'direct' ? null : `${companyId.slice(0, 4)}-${n}`, status, status_reason: null, product: source, paid: source !== 'direct' })
      .returning('id')
      .executeTakeFirstOrThrow();
    await db.insertInto('booking_status_history').values({ booking_id: row.id, from_status: null, to_status: status, reason: null, actor: 'test' }).execute();
    return row.id;
  };
  return { venueId, activity, session, booking };
}

describe('GET /v1/reports/aggregator-visits', () => {
  let key: string;
  let venueId: string;
  let yoga: string;
  let spin: string;

  beforeAll(async () => {
    const company = await newCompany('Payout studio');
    key = company.key;
    const world = await seedCompany(key, company.id);
    venueId = world.venueId;
    yoga = await world.activity('Yoga');
    spin = await world.activity('=HYPERLINK("x")');
    const yogaFirst = await world.session(yoga, '2026-03-01T09:00:00Z');
    // 00:30 in Berlin on 2 March: still 1 March in UTC.
    const yogaLate = await world.session(yoga, '2026-03-01T23:30:00Z');
    const spinFirst = await world.session(spin, '2026-03-01T17:00:00Z');
    const outside = await world.session(yoga, '2026-03-05T09:00:00Z');
    for (const status of ['attended', 'attended', 'no_show', 'reserved', 'late_cancelled', 'cancelled_by_customer', 'cancelled_by_gym', 'requested', 'rejected'] as const) {
      await world.booking(yogaFirst, 'wellhub', status);
    }
    await world.booking(yogaFirst, 'classpass', 'attended');
    await world.booking(yogaFirst, 'direct', 'attended');
    await world.booking(yogaLate, 'wellhub', 'attended');
    await world.booking(spinFirst, 'egym_wellpass', 'cancelled_by_gym');
    await world.booking(outside, 'wellhub', 'attended');

    // Another company's visits on the same days: none of them may show.
    const other = await newCompany('Other studio');
    const theirs = await seedCompany(other.key, other.id);
    const theirYoga = await theirs.activity('Yoga');
    await theirs.booking(await theirs.session(theirYoga, '2026-03-01T09:00:00Z'), 'wellhub', 'attended');
  });

  const report = (query: Record<string, string>, accept = 'application/json') =>
    request(app).get('/v1/reports/aggregator-visits').query(query).set(bearer(key)).set('Accept', accept);

  it('counts each aggregator visit once per local day, activity and aggregator, and no direct booking, request or rejection', async () => {
    const res = await report({ from: '2026-03-01', to: '2026-03-02' });
    expect(res.status).toBe(200);
    const zero = { reserved: 0, attended: 0, noShow: 0, lateCancelled: 0, cancelledByCustomer: 0, cancelledByGym: 0, open: 0 };
    expect(res.body.rows).toEqual([
      { date: '2026-03-01', aggregator: 'egym_wellpass', venueId, activityId: spin, activityName: '=HYPERLINK("x")', ...zero, reserved: 1, cancelledByGym: 1 },
      { date: '2026-03-01', aggregator: 'classpass', venueId, activityId: yoga, activityName: 'Yoga', ...zero, reserved: 1, attended: 1 },
      { date: '2026-03-01', aggregator: 'wellhub', venueId, activityId: yoga, activityName: 'Yoga', reserved: 7, attended: 2, noShow: 1, lateCancelled: 1, cancelledByCustomer: 1, cancelledByGym: 1, open: 1 },
      { date: '2026-03-02', aggregator: 'wellhub', venueId, activityId: yoga, activityName: 'Yoga', ...zero, reserved: 1, attended: 1 },
    ]);
    expect(res.body.totals).toEqual(
      expect.arrayContaining([
        { aggregator: 'wellhub', reserved: 8, attended: 3, noShow: 1, lateCancelled: 1, cancelledByCustomer: 1, cancelledByGym: 1, open: 1 },
        { aggregator: 'classpass', ...zero, reserved: 1, attended: 1 },
        { aggregator: 'egym_wellpass', ...zero, reserved: 1, cancelledByGym: 1 },
      ]),
    );
    expect(res.body.totals).toHaveLength(3);
    expect(res.body.bookings).toBeUndefined();
  });

  it('filters by aggregator and venue, and lists each visit on request', async () => {
    const res = await report({ from: '2026-03-02', to: '2026-03-02', aggregator: 'wellhub', venueId, include: 'bookings' });
    expect(res.status).toBe(200);
    expect(res.body.rows).toHaveLength(1);
    expect(res.body.bookings).toEqual([
      expect.objectContaining({ date: '2026-03-02', aggregator: 'wellhub', activityId: yoga, status: 'attended', sessionStartsAt: '2026-03-02T00:30:00+01:00' }),
    ]);
    const none = await report({ from: '2026-03-01', to: '2026-03-31', aggregator: 'workit' });
    expect(none.body).toMatchObject({ rows: [], totals: [] });
  });

  it('answers CSV to Accept: text/csv, with a formula-looking name made harmless', async () => {
    const res = await report({ from: '2026-03-01', to: '2026-03-01' }, 'text/csv');
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/csv/);
    expect(res.headers['content-disposition']).toBe('attachment; filename="aggregator-visits-2026-03-01-to-2026-03-01.csv"');
    const lines = res.text.split('\r\n');
    expect(lines[0]).toBe('date,venue_id,activity_id,activity,aggregator,reserved,attended,no_show,late_cancelled,cancelled_by_customer,cancelled_by_gym,open');
    expect(lines[1]).toBe(`2026-03-01,${venueId},${spin},"'=HYPERLINK(""x"")",egym_wellpass,1,0,0,0,0,1,0`);
    expect(lines[3]).toBe(`2026-03-01,${venueId},${yoga},Yoga,wellhub,7,2,1,1,1,1,1`);
    expect(lines).toHaveLength(5);
    const listed = await report({ from: '2026-03-01', to: '2026-03-01', include: 'bookings' }, 'text/csv');
    expect(listed.text.split('\r\n')[0]).toBe('date,aggregator,booking_number,booking_id,venue_id,activity_id,activity,session_id,session_starts_at,customer_id,status,status_at');
    expect(listed.text.trim().split('\r\n')).toHaveLength(1 + 9);
  });

  it('refuses what it cannot answer: 406, 400, 422, and 404 for another company’s venue', async () => {
    expect((await report({ from: '2026-03-01', to: '2026-03-01' }, 'image/png')).status).toBe(406);
    expect((await report({ from: '2026-03-01' })).status).toBe(400);
    expect((await report({ from: '2026-02-30', to: '2026-03-01' })).status).toBe(400);
    expect((await report({ from: '0000-01-01', to: '0000-12-31' })).status).toBe(422);
    expect((await report({ from: '2026-03-01', to: '2026-03-01', aggregator: 'gympass' })).status).toBe(400);
    const backwards = await report({ from: '2026-03-02', to: '2026-03-01' });
    expect(backwards.status).toBe(422);
    expect(backwards.body.error.details[0]).toMatchObject({ location: 'query', path: 'to' });
    expect((await report({ from: '2026-01-01', to: '2027-01-02' })).status).toBe(422);
    expect((await report({ from: '2026-01-01', to: '2027-01-01' })).status).toBe(200);
    expect((await report({ from: '2026-01-01', to: '2026-12-31' })).status).toBe(200);
    const other = await newCompany('Third studio');
    const theirVenue = await request(app).post('/v1/venues').set(bearer(other.key)).send({ name: 'Theirs', timeZone: 'Europe/Berlin' });
    expect((await report({ from: '2026-03-01', to: '2026-03-01', venueId: theirVenue.body.id as string })).status).toBe(404);
    expect((await request(app).get('/v1/reports/aggregator-visits').query({ from: '2026-03-01', to: '2026-03-01' })).status).toBe(401);
  });
});
