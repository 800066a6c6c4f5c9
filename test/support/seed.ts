import type { RunningSandbox } from '../../aggregators/sandboxes.js';
import type { Db } from '../../db/index.js';
import { SecretBox } from '../../lib/secrets.js';
import { SECRETS_KEY } from './harness.js';

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

/** An active connection of the venue to a running sandbox, with the sandbox's own ids and credentials, written straight to the ledger. */
export async function insertSandboxConnection(db: Db, ids: { companyId: string; venueId: string }, sandbox: RunningSandbox): Promise<string> {
  const row = await db
    .insertInto('connections')
    .values({
      company_id: ids.companyId,
      venue_id: ids.venueId,
      aggregator: sandbox.aggregator,
      status: 'active',
      external_venue_id: sandbox.connection.externalVenueId,
      api_base_url: sandbox.url,
      settings: JSON.stringify(sandbox.connection.settings),
      credentials_sealed: new SecretBox(SECRETS_KEY).sealJson({ apiToken: sandbox.connection.apiToken, webhookSecret: sandbox.connection.webhookSecret }),
    })
    .returning('id')
    .executeTakeFirstOrThrow();
  return row.id;
}
