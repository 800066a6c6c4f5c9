import type { RejectReason } from './reasons.js';

/**
 * What to answer an aggregator's booking request: a pure function of what the ledger says
 * about the session, the customer and the free spots at the moment of the decision. The booking flow takes the
 * ledger's row lock on the session, reads these facts, decides, and writes the outcome in the same transaction.
 */
export interface BookingFacts {
  /**
   * The connection that received the request, as the studio has set it: a `paused`, `disabled` or not yet linked
   * connection takes no new bookings (its member events about existing bookings still apply).
   */
  connectionStatus: 'requested' | 'active' | 'paused' | 'disabled';
  /** The aggregator reads the answer from the webhook response (Onefit): it cannot wait for a manual approval. */
  answersSynchronously: boolean;
  /** The session the request names, as the ledger has it; undefined when there is none (or not of this venue). */
  session?:
    | {
        status: 'scheduled' | 'cancelled';
        startsAt: Date;
        /** The activity is opted in to aggregator bookings. */
        offered: boolean;
        /** Minutes before the start when booking opens (null = as soon as published) and closes. */
        bookingOpensMinutesBefore: number | null;
        bookingClosesMinutesBefore: number;
        requiresManualApproval: boolean;
      }
    | undefined;
  /** The customer already holds a live booking (requested, reserved or attended) in the session. */
  alreadyBooked: boolean;
  /** Spots this aggregator may still take in the session (aggregatorOffer(...).free), not counting this request. */
  freeForAggregator: number;
  now: Date;
}

export type BookingDecision =
  | { outcome: 'reserve' }
  /** The spot is held while a backend service confirms or rejects the request (manual approval). */
  | { outcome: 'hold_for_approval' }
  | { outcome: 'reject'; reason: RejectReason; message: string };

const reject = (reason: RejectReason, message: string): BookingDecision => ({ outcome: 'reject', reason, message });

/** The checks in the order an aggregator's member would find most telling: the first that fails is the answer. */
export function decideBooking(facts: BookingFacts): BookingDecision {
  const { session, now } = facts;
  if (facts.connectionStatus !== 'active') {
    return reject('USAGE_RESTRICTION', `the studio's connection with this aggregator is ${facts.connectionStatus}: it takes no new bookings`);
  }
  if (!session) return reject('CLASS_NOT_FOUND', 'the session does not exist');
  if (session.status === 'cancelled') return reject('CLASS_HAS_BEEN_CANCELED', 'the session has been cancelled');
  if (!session.offered) return reject('USAGE_RESTRICTION', 'the activity is not offered to aggregators');
  const start = session.startsAt.getTime();
  const opensAt = session.bookingOpensMinutesBefore === null ? -Infinity : start - session.bookingOpensMinutesBefore * 60_000;
  const closesAt = start - session.bookingClosesMinutesBefore * 60_000;
  if (now.getTime() < opensAt || now.getTime() >= closesAt) {
    return reject('CHECK_IN_AND_CANCELATION_WINDOWS_CLOSED', 'the session is outside its booking window');
  }
  if (facts.alreadyBooked) return reject('USER_IS_ALREADY_BOOKED', 'the customer already holds a booking in this session');
  if (facts.freeForAggregator <= 0) return reject('CLASS_IS_FULL', 'no spot is free for this aggregator');
  if (!session.requiresManualApproval) return { outcome: 'reserve' };
  if (facts.answersSynchronously) {
    return reject('USAGE_RESTRICTION', 'the activity needs the studio to approve each booking, which this aggregator cannot wait for');
  }
  return { outcome: 'hold_for_approval' };
}
