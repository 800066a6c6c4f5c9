import type { ActivityListing, SessionListing } from './listing.js';
import { listingFingerprint, remoteFingerprint } from './fingerprint.js';

export { listingFingerprint, remoteFingerprint } from './fingerprint.js';

/**
 * What one sync pass must send to one connection (the activity lifecycle's sync): the difference
 * between what the studio wants listed and what we last pushed (or, on a reconciliation, what the aggregator holds).
 * A pass with nothing changed plans nothing, so it makes no write call.
 */

export interface DesiredSession {
  sessionId: string;
  /** Counts already bounded for this aggregator (aggregatorOffer). */
  listing: SessionListing;
  startsAt: Date;
}

export interface DesiredState {
  /** offered = opted in to aggregators; when false the activity is hidden and none of its sessions are wanted. */
  activity: { listing: ActivityListing; offered: boolean };
  /** Scheduled sessions starting within the booking horizon. */
  sessions: readonly DesiredSession[];
}

export interface PublishedActivity {
  externalId: string | null;
  fingerprint: string | null;
  hidden: boolean;
}

export interface PublishedSession {
  sessionId: string;
  externalId: string | null;
  fingerprint: string | null;
  /** null = not recorded, which counts as different from any count. */
  totalCapacity: number | null;
  totalBooked: number | null;
  /** The session's start now (a session no longer wanted is left alone once this has passed). */
  startsAt: Date;
  removed: boolean;
}

export interface PublishedState {
  activity?: PublishedActivity | undefined;
  sessions: readonly PublishedSession[];
}

/** A session the aggregator really holds, its details fingerprinted with remoteFingerprint. */
export interface RemoteSession {
  externalId: string;
  fingerprint: string;
  totalCapacity: number;
  totalBooked: number;
  /** When known, a past remote session is left alone like a past one of ours. */
  startsAt?: Date | undefined;
}

export interface SyncOptions {
  now: Date;
  /**
   * What the aggregator holds for this activity, given on a periodic reconciliation. It must cover the start of
   * every wanted session (all pages): a wanted session missing from it is created again.
   */
  remote?: readonly RemoteSession[] | undefined;
}

/**
 * One aggregator call each. For the next plan to be empty, the caller records after each op: the activity's
 * externalId and fingerprint, with hidden = (kind === 'hide_activity'); a session's externalId, fingerprint and
 * the listing's counts (patch_counts: its counts only); delete_session marks the publication removed.
 * delete_session must count "not found" at the aggregator as done.
 */
export type SyncOp =
  | { kind: 'create_activity'; listing: ActivityListing; fingerprint: string }
  | { kind: 'update_activity'; externalId: string; listing: ActivityListing; fingerprint: string }
  | { kind: 'hide_activity'; externalId: string; listing: ActivityListing; fingerprint: string }
  | { kind: 'create_session'; sessionId: string; listing: SessionListing; fingerprint: string }
  | { kind: 'update_session'; sessionId: string; externalId: string; listing: SessionListing; fingerprint: string }
  | { kind: 'patch_counts'; sessionId: string; externalId: string; totalCapacity: number; totalBooked: number }
  /** sessionId is null for a session the aggregator holds that we have no record of. */
  | { kind: 'delete_session'; sessionId: string | null; externalId: string };

type Counts = { totalCapacity: number | null; totalBooked: number | null };

function countsDiffer(held: Counts, wanted: SessionListing): boolean {
  return held.totalCapacity !== wanted.totalCapacity || held.totalBooked !== wanted.totalBooked;
}

function byStart<T extends { startsAt: Date; sessionId: string }>(a: T, b: T): number {
  return a.startsAt.getTime() - b.startsAt.getTime() || (a.sessionId < b.sessionId ? -1 : a.sessionId > b.sessionId ? 1 : 0);
}

function planActivity(wanted: DesiredState['activity'], published: PublishedActivity | undefined): SyncOp[] {
  const externalId = published?.externalId;
  if (!wanted.offered) {
    // Never pushed: nothing to hide. A class cannot be deleted at Wellhub, so opting out hides it everywhere.
    if (!externalId || published.hidden) return [];
    const listing = { ...wanted.listing, visible: false, bookable: false };
    return [{ kind: 'hide_activity', externalId, listing, fingerprint: listingFingerprint(listing) }];
  }
  const fingerprint = listingFingerprint(wanted.listing);
  if (!externalId) return [{ kind: 'create_activity', listing: wanted.listing, fingerprint }];
  if (published.hidden || published.fingerprint !== fingerprint) {
    return [{ kind: 'update_activity', externalId, listing: wanted.listing, fingerprint }];
  }
  return [];
}

export function planSync(desired: DesiredState, published: PublishedState, options: SyncOptions): SyncOp[] {
  const isPast = (at: Date) => at.getTime() <= options.now.getTime();
  const activityOps = planActivity(desired.activity, published.activity);
  const wanted = desired.activity.offered ? desired.sessions.filter((s) => !isPast(s.startsAt)) : [];

  // Sessions hang off the activity's id at the aggregator: without one, nothing of ours can be there yet.
  if (!published.activity?.externalId) {
    if (!desired.activity.offered) return [];
    return [...activityOps, ...[...wanted].sort(byStart).map((s) => createSession(s))];
  }

  // A session that has started is history at the aggregator (and Wellhub refuses slots in the past): leave it
  // alone. Its wanted start wins over the published one, so a session put back to later is still updated.
  const pastIds = new Set(desired.sessions.filter((s) => isPast(s.startsAt)).map((s) => s.sessionId));
  const futureIds = new Set(desired.sessions.filter((s) => !isPast(s.startsAt)).map((s) => s.sessionId));
  for (const p of published.sessions) if (isPast(p.startsAt) && !futureIds.has(p.sessionId)) pastIds.add(p.sessionId);
  const untouchable = new Set<string>();
  const live = new Map<string, PublishedSession & { externalId: string }>();
  for (const p of published.sessions) {
    if (p.externalId === null) continue;
    if (pastIds.has(p.sessionId)) untouchable.add(p.externalId);
    else if (!p.removed) live.set(p.sessionId, { ...p, externalId: p.externalId });
  }
  const wantedIds = new Set(wanted.map((s) => s.sessionId));
  const remote = options.remote && new Map(options.remote.map((r) => [r.externalId, r]));
  const accounted = new Set<string>();
  const deletes: SyncOp[] = [];
  const upserts: SyncOp[] = [];

  for (const p of [...live.values()].sort(byStart)) {
    if (wantedIds.has(p.sessionId)) continue;
    accounted.add(p.externalId);
    deletes.push({ kind: 'delete_session', sessionId: p.sessionId, externalId: p.externalId });
  }

  for (const s of [...wanted].sort(byStart)) {
    const p = live.get(s.sessionId);
    if (!p) {
      upserts.push(createSession(s));
      continue;
    }
    accounted.add(p.externalId);
    const held = remote?.get(p.externalId);
    const fingerprint = listingFingerprint(s.listing);
    if (remote && !held) upserts.push(createSession(s, fingerprint));
    else if (p.fingerprint !== fingerprint || (held && held.fingerprint !== remoteFingerprint(s.listing))) {
      // The listing carries the counts, so a details update also brings them up to date.
      upserts.push({ kind: 'update_session', sessionId: s.sessionId, externalId: p.externalId, listing: s.listing, fingerprint });
    } else if (countsDiffer(p, s.listing) || (held && countsDiffer(held, s.listing))) {
      const { totalCapacity, totalBooked } = s.listing;
      upserts.push({ kind: 'patch_counts', sessionId: s.sessionId, externalId: p.externalId, totalCapacity, totalBooked });
    }
  }

  // Whatever else the aggregator holds in the horizon is not ours to list (a lost delete, a duplicate create).
  const sessionOf = new Map(published.sessions.map((p) => [p.externalId, p.sessionId]));
  for (const r of options.remote ?? []) {
    if (accounted.has(r.externalId) || untouchable.has(r.externalId) || (r.startsAt && isPast(r.startsAt))) continue;
    accounted.add(r.externalId);
    deletes.push({ kind: 'delete_session', sessionId: sessionOf.get(r.externalId) ?? null, externalId: r.externalId });
  }

  return [...activityOps, ...deletes, ...upserts];
}

function createSession(s: DesiredSession, fingerprint = listingFingerprint(s.listing)): SyncOp {
  return { kind: 'create_session', sessionId: s.sessionId, listing: s.listing, fingerprint };
}
