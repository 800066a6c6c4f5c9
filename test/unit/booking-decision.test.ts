import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decideBooking, type BookingFacts } from '../../domain/booking-decision.js';

const now = new Date('2026-12-01T10:00:00Z');
const hoursFromNow = (h: number) => new Date(now.getTime() + h * 3_600_000);
const session = (over: Partial<NonNullable<BookingFacts['session']>> = {}): NonNullable<BookingFacts['session']> => ({
  status: 'scheduled',
  startsAt: hoursFromNow(24),
  offered: true,
  bookingOpensMinutesBefore: null,
  bookingClosesMinutesBefore: 0,
  requiresManualApproval: false,
  ...over,
});
const facts = (over: Partial<BookingFacts> = {}): BookingFacts => ({
  connectionStatus: 'active',
  answersSynchronously: false,
  session: session(),
  alreadyBooked: false,
  freeForAggregator: 3,
  now,
  ...over,
});

describe('decideBooking', () => {
  it('reserves a free spot in an open, offered, scheduled session', () => {
    expect(decideBooking(facts())).toEqual({ outcome: 'reserve' });
  });

  it('holds the spot for approval when the activity requires it', () => {
    expect(decideBooking(facts({ session: session({ requiresManualApproval: true }) }))).toEqual({ outcome: 'hold_for_approval' });
  });

  it.each([
    ['no session', facts({ session: undefined }), 'CLASS_NOT_FOUND'],
    ['a cancelled session', facts({ session: session({ status: 'cancelled' }) }), 'CLASS_HAS_BEEN_CANCELED'],
    ['an activity not offered', facts({ session: session({ offered: false }) }), 'USAGE_RESTRICTION'],
    ['before booking opens', facts({ session: session({ bookingOpensMinutesBefore: 60 }) }), 'CHECK_IN_AND_CANCELATION_WINDOWS_CLOSED'],
    ['after booking closes', facts({ session: session({ startsAt: hoursFromNow(1), bookingClosesMinutesBefore: 120 }) }), 'CHECK_IN_AND_CANCELATION_WINDOWS_CLOSED'],
    ['a session that has started', facts({ session: session({ startsAt: hoursFromNow(-1) }) }), 'CHECK_IN_AND_CANCELATION_WINDOWS_CLOSED'],
    ['a customer already booked', facts({ alreadyBooked: true }), 'USER_IS_ALREADY_BOOKED'],
    ['no spot free', facts({ freeForAggregator: 0 }), 'CLASS_IS_FULL'],
    ['a paused connection', facts({ connectionStatus: 'paused' }), 'USAGE_RESTRICTION'],
    ['a disabled connection', facts({ connectionStatus: 'disabled' }), 'USAGE_RESTRICTION'],
    ['a connection not linked yet', facts({ connectionStatus: 'requested' }), 'USAGE_RESTRICTION'],
    ['manual approval for an aggregator that reads the answer from the webhook response', facts({ answersSynchronously: true, session: session({ requiresManualApproval: true }) }), 'USAGE_RESTRICTION'],
  ])('rejects %s', (_what, input, reason) => {
    expect(decideBooking(input)).toMatchObject({ outcome: 'reject', reason });
  });

  it('rejects every request on a connection that is not active, whatever the session holds', () => {
    fc.assert(
      fc.property(fc.constantFrom('requested', 'paused', 'disabled') as fc.Arbitrary<BookingFacts['connectionStatus']>, fc.integer({ min: -3, max: 5 }), fc.boolean(), (status, free, sync) => {
        expect(decideBooking(facts({ connectionStatus: status, freeForAggregator: free, answersSynchronously: sync }))).toMatchObject({ outcome: 'reject', reason: 'USAGE_RESTRICTION' });
      }),
    );
  });

  it('answers a cancelled session before a full one, and an already booked customer before a full session', () => {
    expect(decideBooking(facts({ session: session({ status: 'cancelled' }), freeForAggregator: 0 }))).toMatchObject({ reason: 'CLASS_HAS_BEEN_CANCELED' });
    expect(decideBooking(facts({ alreadyBooked: true, freeForAggregator: 0 }))).toMatchObject({ reason: 'USER_IS_ALREADY_BOOKED' });
  });

  it('never takes a spot that is not free, whatever else holds', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: -3, max: 5 }),
        fc.boolean(),
        fc.boolean(),
        fc.integer({ min: -48, max: 48 }),
        fc.option(fc.integer({ min: 0, max: 3000 }), { nil: null }),
        fc.integer({ min: 0, max: 3000 }),
        (free, alreadyBooked, approval, startsIn, opens, closes) => {
          const decision = decideBooking(
            facts({
              freeForAggregator: free,
              alreadyBooked,
              session: session({ startsAt: hoursFromNow(startsIn), bookingOpensMinutesBefore: opens, bookingClosesMinutesBefore: closes, requiresManualApproval: approval }),
            }),
          );
          if (decision.outcome !== 'reject') {
            expect(free).toBeGreaterThan(0);
            expect(alreadyBooked).toBe(false);
            expect(hoursFromNow(startsIn).getTime() - closes * 60_000).toBeGreaterThan(now.getTime());
          }
        },
      ),
    );
  });
});
