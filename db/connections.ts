import type { Db } from './index.js';

/** Connections as the webhook intake finds them: by the venue id an aggregator names, or by their id. */

/** The connection a webhook names by the aggregator's venue id. */
export function findWebhookConnection(db: Db, aggregator: string, externalVenueId: string) {
  return db
    .selectFrom('connections')
    .select(['id', 'company_id', 'venue_id', 'aggregator', 'status', 'credentials_sealed'])
    .where('aggregator', '=', aggregator)
    .where('external_venue_id', '=', externalVenueId)
    .executeTakeFirst();
}

/** What a booking workflow's input needs of a connection (the inbox dispatcher's hand-over). */
export function connectionForHandover(db: Db, connectionId: string) {
  return db.selectFrom('connections').select(['id', 'company_id', 'venue_id']).where('id', '=', connectionId).executeTakeFirst();
}
