import { createHash } from 'node:crypto';
import type { ActivityListing, SessionListing } from './listing.js';
import { canonicalJson } from '../lib/canonical-json.js';

/**
 * Fingerprints of what we send an aggregator, stored beside each publication, so a sync can tell what changed
 * without asking the aggregator. node:crypto keeps this out of workflow code: call it from activities.
 */

/**
 * sha256 hex of a listing. A session's counts are left out: they change with every booking and go by a count-only
 * patch, so a booking never looks like a change of the session's details.
 */
export function listingFingerprint(listing: ActivityListing | SessionListing): string {
  let details: object = listing;
  if ('sessionId' in listing) {
    const { totalCapacity: _capacity, totalBooked: _booked, ...rest } = listing;
    details = rest;
  }
  return createHash('sha256').update(canonicalJson(details)).digest('hex');
}

/**
 * What a reconciliation compares with what an aggregator holds: the fields every contract gives back unchanged (the
 * start as an instant, the duration, the room). Everything else of a listing is compared with what we last pushed.
 */
export function remoteFingerprint(session: Pick<SessionListing, 'startsAt' | 'durationMinutes' | 'room'>): string {
  const details = { at: Date.parse(session.startsAt), durationMinutes: session.durationMinutes, room: session.room ?? null };
  return createHash('sha256').update(canonicalJson(details)).digest('hex');
}
