import type { Db } from './index.js';

/**
 * Lookups of one row inside one company: every read the API makes on a company's behalf goes through a filter on
 * its id, so a foreign id reads as absent. `undefined` = not there, or not this company's.
 */

export function findVenue(db: Db, companyId: string, venueId: string) {
  return db.selectFrom('venues').selectAll().where('id', '=', venueId).where('company_id', '=', companyId).executeTakeFirst();
}

export function findActivity(db: Db, companyId: string, activityId: string, options: { forUpdate?: boolean } = {}) {
  let q = db.selectFrom('activities').selectAll().where('id', '=', activityId).where('company_id', '=', companyId);
  if (options.forUpdate) q = q.forUpdate();
  return q.executeTakeFirst();
}

export function findConnection(db: Db, companyId: string, connectionId: string) {
  return db.selectFrom('connections').selectAll().where('id', '=', connectionId).where('company_id', '=', companyId).executeTakeFirst();
}

/** A session with what its presentation and change signals need from its activity. */
export function findSession(db: Db, companyId: string, sessionId: string) {
  return db
    .selectFrom('sessions')
    .innerJoin('activities', 'activities.id', 'sessions.activity_id')
    .selectAll('sessions')
    .select(['activities.max_participants', 'activities.allow_aggregator_bookings'])
    .where('sessions.id', '=', sessionId)
    .where('sessions.company_id', '=', companyId)
    .executeTakeFirst();
}

export function findCustomer(db: Db, companyId: string, customerId: string) {
  return db.selectFrom('customers').selectAll().where('id', '=', customerId).where('company_id', '=', companyId).executeTakeFirst();
}
