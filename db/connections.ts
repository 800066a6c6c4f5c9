import type { Db } from './index.js';

/** Connection lookups: the webhook intake's (by the venue id an aggregator names, or by id) and the activities' (by id). */

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

/** A connection with everything an aggregator call needs (sealed credentials, URL, settings): the activities' lookup. */
export function readConnection(db: Db, connectionId: string) {
  return db.selectFrom('connections').selectAll().where('id', '=', connectionId).executeTakeFirst();
}
