import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { aggregatorOffer, directOffer, spotWindow, type DirectInput, type OfferInput } from '../../domain/free-spots.js';

const START = new Date('2026-12-01T17:00:00Z');
const MIN = 60_000;

describe('spotWindow', () => {
  it('holds back until the release moment and lifts the limits from the offer moment (instants, edges included)', () => {
    const options = { releaseAggregatorSpotsMinutesBefore: 60, offerDirectSpotsToAggregatorsMinutesBefore: 120 };
    expect(spotWindow(START, options, new Date(START.getTime() - 121 * MIN))).toEqual({ holdBack: true, limitsLifted: false });
    expect(spotWindow(START, options, new Date(START.getTime() - 120 * MIN))).toEqual({ holdBack: true, limitsLifted: true });
    expect(spotWindow(START, options, new Date(START.getTime() - 60 * MIN - 1))).toEqual({ holdBack: true, limitsLifted: true });
    expect(spotWindow(START, options, new Date(START.getTime() - 60 * MIN))).toEqual({ holdBack: false, limitsLifted: true });
  });

  it('holds nothing back and lifts nothing when the options are off', () => {
    const off = { releaseAggregatorSpotsMinutesBefore: null, offerDirectSpotsToAggregatorsMinutesBefore: null };
    expect(spotWindow(START, off, new Date(0))).toEqual({ holdBack: false, limitsLifted: false });
    expect(spotWindow(START, off, START)).toEqual({ holdBack: false, limitsLifted: false });
  });
});

const direct = (over: Partial<DirectInput>): DirectInput => ({
  maxParticipants: 12,
  capacityOverride: null,
  aggregatorLimit: 4,
  aggregatorLimitOverride: null,
  quotas: [],
  booked: { total: 0, aggregators: 0 },
  holdBack: false,
  ...over,
});

describe('directOffer (the README example: 12 places, aggregator limit 4)', () => {
  it('is bound by capacity alone without the release option, as before', () => {
    expect(directOffer(direct({ booked: { total: 5, aggregators: 1 } }))).toBe(7);
  });

  it("keeps the aggregators' unsold share from direct customers until the release, then frees it", () => {
    // 1 aggregator booking of 4: 3 unsold aggregator spots held back; 12 − 5 − 3 = 4 direct.
    expect(directOffer(direct({ booked: { total: 5, aggregators: 1 }, holdBack: true }))).toBe(4);
    expect(directOffer(direct({ booked: { total: 11, aggregators: 3 }, holdBack: true }))).toBe(0);
    expect(directOffer(direct({ booked: { total: 11, aggregators: 3 }, holdBack: false }))).toBe(1);
    // Aggregators took their whole share: nothing is held.
    expect(directOffer(direct({ booked: { total: 6, aggregators: 4 }, holdBack: true }))).toBe(6);
  });

  it('takes the sum of the quotas as the share when there is no limit, and the session override before the limit', () => {
    expect(directOffer(direct({ aggregatorLimit: null, quotas: [2, 3], holdBack: true }))).toBe(7);
    expect(directOffer(direct({ aggregatorLimit: null, quotas: [], holdBack: true }))).toBe(12);
    expect(directOffer(direct({ aggregatorLimitOverride: 1, holdBack: true }))).toBe(11);
  });
});

describe('aggregatorOffer with the limits lifted', () => {
  it('offers every free spot, up to capacity, once the offer moment has come', () => {
    const input: OfferInput = {
      maxParticipants: 12,
      capacityOverride: null,
      aggregatorLimit: 4,
      aggregatorLimitOverride: null,
      quota: 2,
      booked: { total: 9, aggregators: 4, thisAggregator: 2 },
    };
    expect(aggregatorOffer(input).free).toBe(0);
    expect(aggregatorOffer({ ...input, limitsLifted: true })).toEqual({ totalCapacity: 5, totalBooked: 2, free: 3 });
  });
});

/**
 * A session over time: bookings from the direct channel and two aggregators (one with a quota) arrive one by one, each
 * decided by the functions the ledger uses, while the clock crosses the offer and release moments in some order.
 */
describe('spot release and offer (properties)', () => {
  const studioArb = fc.record({
    capacity: fc.integer({ min: 1, max: 20 }),
    limit: fc.option(fc.integer({ min: 0, max: 20 }), { nil: null }),
    quotaA: fc.option(fc.integer({ min: 0, max: 20 }), { nil: undefined }),
    releaseAt: fc.option(fc.integer({ min: 0, max: 60 }), { nil: null }),
    offerAt: fc.option(fc.integer({ min: 0, max: 60 }), { nil: null }),
  });
  type Channel = 'direct' | 'a' | 'b';
  const stepsArb = fc.array(fc.constantFrom<Channel>('direct', 'a', 'b'), { maxLength: 60 });

  it('never overbooks, keeps limit and quota until the offer, holds the unsold share until the release, and shows what can be booked', () => {
    fc.assert(
      fc.property(studioArb, stepsArb, (studio, steps) => {
        const limit = studio.limit === null ? null : Math.min(studio.limit, studio.capacity);
        const quotaA = studio.quotaA === undefined ? undefined : Math.min(studio.quotaA, limit ?? studio.capacity);
        const held = { direct: 0, a: 0, b: 0 };
        const aggregators = () => held.a + held.b;
        const total = () => held.direct + aggregators();
        steps.forEach((channel, t) => {
          // Minute t of 60 before the start: the moments are "minutes before", i.e. at 60 − m.
          const holdBack = studio.releaseAt !== null && t < 60 - studio.releaseAt;
          const limitsLifted = studio.offerAt !== null && t >= 60 - studio.offerAt;
          const offerTo = (who: 'a' | 'b') =>
            aggregatorOffer({
              maxParticipants: studio.capacity,
              capacityOverride: null,
              aggregatorLimit: limit,
              aggregatorLimitOverride: null,
              quota: who === 'a' ? quotaA : undefined,
              booked: { total: total(), aggregators: aggregators(), thisAggregator: held[who] },
              limitsLifted,
            });
          const directFree = directOffer({
            maxParticipants: studio.capacity,
            capacityOverride: null,
            aggregatorLimit: limit,
            aggregatorLimitOverride: null,
            quotas: quotaA === undefined ? [] : [quotaA],
            booked: { total: total(), aggregators: aggregators() },
            holdBack,
          });
          const free = channel === 'direct' ? directFree : offerTo(channel).free;
          // Invariant 4: what an aggregator is shown is what it can book, and it shows spots whenever capacity has some
          // and its limits are lifted.
          if (limitsLifted) for (const who of ['a', 'b'] as const) expect(offerTo(who).free).toBe(studio.capacity - total());
          if (free > 0) held[channel] += 1;

          expect(total()).toBeLessThanOrEqual(studio.capacity);
          if (!limitsLifted && channel !== 'direct' && free > 0) {
            if (limit !== null) expect(aggregators()).toBeLessThanOrEqual(limit);
            if (channel === 'a' && quotaA !== undefined) expect(held.a).toBeLessThanOrEqual(quotaA);
          }
          // While held back, direct bookings never eat into the aggregators' unsold share.
          if (holdBack && channel === 'direct' && free > 0) {
            const share = Math.min(studio.capacity, limit ?? quotaA ?? 0);
            expect(studio.capacity - total()).toBeGreaterThanOrEqual(Math.max(0, share - aggregators()));
          }
          // Without the hold, a direct customer gets every spot capacity leaves.
          if (!holdBack && channel === 'direct') expect(directFree).toBe(studio.capacity - (total() - (free > 0 ? 1 : 0)));
        });
      }),
    );
  });
});
