import { aggregatorOffer, spotWindow, type BookedCounts, type SpotOptions } from './free-spots.js';
import { formatInOffset } from './time.js';

/** What an aggregator is shown of an activity and its sessions, built from the ledger's rows. Pure. */

export interface Instructor {
  name: string;
  substitute: boolean;
}

export interface ActivityListing {
  /** Our activity id, sent as the aggregator's partner reference. */
  activityId: string;
  name: string;
  description: string;
  notes?: string | undefined;
  category: string | null;
  bookable: boolean;
  visible: boolean;
}

export interface SessionListing {
  /** Our session id. */
  sessionId: string;
  /** ISO 8601 in the venue's offset, e.g. 2026-12-01T18:00:00+01:00. */
  startsAt: string;
  durationMinutes: number;
  room: string | null;
  instructors: Instructor[];
  /** Spots this aggregator may show in all (already bounded by capacity, aggregator limit and quota). */
  totalCapacity: number;
  /** Spots counted as taken against totalCapacity. */
  totalBooked: number;
  /** ISO 8601 with offset; undefined = bookable as soon as published. */
  bookingOpensAt?: string | undefined;
  /** ISO 8601 with offset; undefined = until the start. */
  bookingClosesAt?: string | undefined;
  /** ISO 8601 with offset; after it a cancellation is late. */
  cancellableUntil?: string | undefined;
  active: boolean;
}

export interface ActivityFacts {
  id: string;
  name: string;
  description: string;
  category: string | null;
  maxParticipants: number;
  aggregatorLimit: number | null;
  bookingOpensMinutesBefore: number | null;
  bookingClosesMinutesBefore: number;
  cancellationCutoffMinutes: number;
  /** The spot options (domain/free-spots.ts): offering unsold direct spots lifts the limit and quotas. */
  spotOptions: SpotOptions;
}

export interface SessionFacts {
  id: string;
  startsAt: Date;
  /** The offset the session was scheduled with: times are sent back in it. */
  utcOffset: string;
  durationMinutes: number;
  room: string | null;
  instructors: Instructor[];
  capacityOverride: number | null;
  aggregatorLimitOverride: number | null;
}

export function activityListing(activity: ActivityFacts): ActivityListing {
  return {
    activityId: activity.id,
    name: activity.name,
    description: activity.description,
    category: activity.category,
    bookable: true,
    visible: true,
  };
}

/**
 * One session as one aggregator sees it at `now`: its free spots bounded by capacity, the aggregator limit and this
 * aggregator's quota (invariant 4; the limit and quota lifted once the activity offers its unsold direct spots), and
 * the activity's booking window and cancellation cutoff as times.
 */
export function sessionListing(
  activity: ActivityFacts,
  session: SessionFacts,
  quota: number | undefined,
  booked: BookedCounts,
  now: Date,
): SessionListing {
  const offer = aggregatorOffer({
    limitsLifted: spotWindow(session.startsAt, activity.spotOptions, now).limitsLifted,
    maxParticipants: activity.maxParticipants,
    capacityOverride: session.capacityOverride,
    aggregatorLimit: activity.aggregatorLimit,
    aggregatorLimitOverride: session.aggregatorLimitOverride,
    quota,
    booked,
  });
  const before = (minutes: number) => formatInOffset(new Date(session.startsAt.getTime() - minutes * 60_000), session.utcOffset);
  return {
    sessionId: session.id,
    startsAt: formatInOffset(session.startsAt, session.utcOffset),
    durationMinutes: session.durationMinutes,
    room: session.room,
    instructors: session.instructors.map(({ name, substitute }) => ({ name, substitute })),
    totalCapacity: offer.totalCapacity,
    totalBooked: offer.totalBooked,
    bookingOpensAt: activity.bookingOpensMinutesBefore === null ? undefined : before(activity.bookingOpensMinutesBefore),
    bookingClosesAt: before(activity.bookingClosesMinutesBefore),
    cancellableUntil: before(activity.cancellationCutoffMinutes),
    active: true,
  };
}

/** The first moment a session beyond the horizon enters it, so a lifecycle can wake then rather than later. */
export function nextHorizonEntry(startsBeyondHorizon: Date | undefined, horizonMs: number): Date | undefined {
  return startsBeyondHorizon === undefined ? undefined : new Date(startsBeyondHorizon.getTime() - horizonMs);
}
