import type { Db } from '../../db/index.js';

/** A company with one venue and one activity, written straight to the ledger for tests below the API. */
export async function seedActivity(db: Db, options: { companyName?: string; optedIn?: boolean } = {}) {
  const company = await db.insertInto('companies').values({ name: options.companyName ?? 'Test studio' }).returning('id').executeTakeFirstOrThrow();
  const venue = await db
    .insertInto('venues')
    .values({ company_id: company.id, name: 'Hall', time_zone: 'Europe/Berlin' })
    .returning('id')
    .executeTakeFirstOrThrow();
  const activity = await db
    .insertInto('activities')
    .values({
      company_id: company.id,
      venue_id: venue.id,
      name: 'Yoga',
      description: '',
      category: null,
      max_participants: 10,
      aggregator_limit: null,
      booking_opens_minutes_before: null,
      allow_aggregator_bookings: options.optedIn ?? false,
    })
    .returning('id')
    .executeTakeFirstOrThrow();
  return { companyId: company.id, venueId: venue.id, activityId: activity.id };
}
