import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Db } from '../../db/index.js';
import { migrateToLatest } from '../../db/migrate.js';
import { createTestDatabase } from '../support/harness.js';
import { seedActivity } from '../support/seed.js';

let db: Db;
let drop: () => Promise<void>;

beforeAll(async () => {
  ({ db, drop } = await createTestDatabase());
});
afterAll(async () => drop?.());

async function seed(companyName = 'C') {
  const { companyId, venueId, activityId } = await seedActivity(db, { companyName });
  const session = await db
    .insertInto('sessions')
    .values({
      company_id: companyId,
      venue_id: venueId,
      activity_id: activityId,
      starts_at: new Date('2030-01-01T10:00:00Z'),
      utc_offset: '+01:00',
      duration_minutes: 60,
      room: null,
      instructors: '[]',
      capacity_override: null,
      aggregator_limit_override: null,
    })
    .returning('id')
    .executeTakeFirstOrThrow();
  const customer = await db.insertInto('customers').values({ company_id: companyId, name: 'Mia', email: null }).returning('id').executeTakeFirstOrThrow();
  return { companyId, venueId, activityId, sessionId: session.id, customerId: customer.id };
}

const booking = (s: Awaited<ReturnType<typeof seed>>, overrides: Record<string, unknown> = {}) => ({
  company_id: s.companyId,
  session_id: s.sessionId,
  customer_id: s.customerId,
  source: 'wellhub' as const,
  aggregator_booking_number: 'WH-1',
  status: 'requested' as const,
  status_reason: null,
  product: 'Wellhub',
  ...overrides,
});

describe('schema constraints that protect the invariants', () => {
  it('re-running the migrations is a no-op', async () => {
    expect(await migrateToLatest(db)).toEqual([]);
  });

  it('one booking per booking number and connection: the same number at another connection is another booking', async () => {
    const s = await seed();
    const connection = (aggregator: 'wellhub' | 'classpass', venueId: string, companyId: string) =>
      db
        .insertInto('connections')
        .values({ company_id: companyId, venue_id: venueId, aggregator, status: 'active', external_venue_id: `${aggregator}-${venueId}`, api_base_url: null, settings: '{}', credentials_sealed: null })
        .returning('id')
        .executeTakeFirstOrThrow();
    const wellhub = await connection('wellhub', s.venueId, s.companyId);
    await db.insertInto('bookings').values(booking(s, { aggregator_booking_number: 'WH-100', connection_id: wellhub.id })).execute();
    const other = await db.insertInto('customers').values({ company_id: s.companyId, name: 'Ben', email: null }).returning('id').executeTakeFirstOrThrow();
    await expect(
      db.insertInto('bookings').values(booking(s, { aggregator_booking_number: 'WH-100', customer_id: other.id, connection_id: wellhub.id })).execute(),
    ).rejects.toMatchObject({ code: '23505', constraint: 'bookings_connection_number_uq' });
    // The same number received by another connection (another aggregator, or another company's) is another booking.
    const classpass = await connection('classpass', s.venueId, s.companyId);
    await db.insertInto('bookings').values(booking(s, { aggregator_booking_number: 'WH-100', source: 'classpass', customer_id: other.id, connection_id: classpass.id })).execute();
    const t = await seed('Other company');
    const theirs = await connection('wellhub', t.venueId, t.companyId);
    await db.insertInto('bookings').values(booking(t, { aggregator_booking_number: 'WH-100', connection_id: theirs.id })).execute();
  });

  it('one customer per aggregator id within a company, and one id per aggregator per customer', async () => {
    const s = await seed();
    const other = await db.insertInto('customers').values({ company_id: s.companyId, name: 'Ben', email: null }).returning('id').executeTakeFirstOrThrow();
    await db.insertInto('customer_aggregator_ids').values({ company_id: s.companyId, customer_id: s.customerId, aggregator: 'wellhub', external_id: 'tok-1' }).execute();
    await expect(
      db.insertInto('customer_aggregator_ids').values({ company_id: s.companyId, customer_id: other.id, aggregator: 'wellhub', external_id: 'tok-1' }).execute(),
    ).rejects.toMatchObject({ code: '23505' });
    await expect(
      db.insertInto('customer_aggregator_ids').values({ company_id: s.companyId, customer_id: s.customerId, aggregator: 'wellhub', external_id: 'tok-2' }).execute(),
    ).rejects.toMatchObject({ code: '23505' });
    // Another company may know the same member.
    const t = await seed('Other company');
    await db.insertInto('customer_aggregator_ids').values({ company_id: t.companyId, customer_id: t.customerId, aggregator: 'wellhub', external_id: 'tok-1' }).execute();
  });

  it('a customer holds at most one live place in a session, but may book again after a cancellation', async () => {
    const s = await seed();
    const first = await db.insertInto('bookings').values(booking(s, { source: 'direct', aggregator_booking_number: null, status: 'reserved' })).returning('id').executeTakeFirstOrThrow();
    await expect(
      db.insertInto('bookings').values(booking(s, { aggregator_booking_number: 'WH-2' })).execute(),
    ).rejects.toMatchObject({ code: '23505', constraint: 'bookings_live_customer_session_uq' });
    await db.updateTable('bookings').set({ status: 'cancelled_by_customer' }).where('id', '=', first.id).execute();
    await db.insertInto('bookings').values(booking(s, { aggregator_booking_number: 'WH-2' })).execute();
  });

  it('an aggregator booking has a booking number and a direct one has none', async () => {
    const s = await seed();
    await expect(db.insertInto('bookings').values(booking(s, { aggregator_booking_number: null })).execute()).rejects.toMatchObject({ code: '23514' });
    await expect(db.insertInto('bookings').values(booking(s, { source: 'direct' })).execute()).rejects.toMatchObject({ code: '23514' });
  });

  it('rows cannot cross companies: a session of company A cannot hold a booking of company B', async () => {
    const a = await seed('A');
    const b = await seed('B');
    await expect(
      db.insertInto('bookings').values(booking(a, { company_id: b.companyId, customer_id: b.customerId, aggregator_booking_number: 'X-1' })).execute(),
    ).rejects.toMatchObject({ code: '23503' });
    await expect(
      db
        .insertInto('activities')
        .values({ company_id: b.companyId, venue_id: a.venueId, name: 'Stolen', description: '', category: null, max_participants: 5, aggregator_limit: null, booking_opens_minutes_before: null })
        .execute(),
    ).rejects.toMatchObject({ code: '23503' });
  });

  it('refuses impossible registration rules and statuses', async () => {
    const s = await seed();
    await expect(db.updateTable('activities').set({ aggregator_limit: 11 }).where('id', '=', s.activityId).execute()).rejects.toMatchObject({ code: '23514' });
    await expect(
      db.insertInto('bookings').values(booking(s, { status: 'lost', aggregator_booking_number: 'WH-9' })).execute(),
    ).rejects.toMatchObject({ code: '23514' });
    await expect(db.updateTable('sessions').set({ status: 'cancelled' }).where('id', '=', s.sessionId).execute()).rejects.toMatchObject({ code: '23514' });
  });
});
