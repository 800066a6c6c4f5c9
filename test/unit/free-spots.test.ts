import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { aggregatorOffer, canAggregatorBook, canBookDirect, directFree, sessionCapacity, type OfferInput } from '../../domain/free-spots.js';

function input(over: Partial<Omit<OfferInput, 'booked'>> & { booked?: Partial<OfferInput['booked']> } = {}): OfferInput {
  return {
    maxParticipants: 10,
    capacityOverride: null,
    aggregatorLimit: null,
    aggregatorLimitOverride: null,
    quota: undefined,
    ...over,
    booked: { total: 0, aggregators: 0, thisAggregator: 0, ...over.booked },
  };
}

describe('aggregatorOffer', () => {
  it('offers what capacity leaves when there is no limit or quota, counting only its own bookings as taken', () => {
    expect(aggregatorOffer(input({ booked: { total: 3, aggregators: 2, thisAggregator: 1 } }))).toEqual({
      totalCapacity: 8,
      totalBooked: 1,
      free: 7,
    });
  });

  it("uses the session's capacity override instead of max participants", () => {
    expect(aggregatorOffer(input({ capacityOverride: 4, booked: { total: 1 } })).free).toBe(3);
    expect(aggregatorOffer(input({ maxParticipants: 2, capacityOverride: 12 })).free).toBe(12);
  });

  it('keeps all aggregators together within the aggregator limit', () => {
    const offer = aggregatorOffer(input({ aggregatorLimit: 4, booked: { total: 5, aggregators: 3, thisAggregator: 2 } }));
    expect(offer).toEqual({ totalCapacity: 3, totalBooked: 2, free: 1 });
  });

  it("lets the session's limit override replace the activity's, in either direction", () => {
    expect(aggregatorOffer(input({ aggregatorLimit: 2, aggregatorLimitOverride: 6 })).free).toBe(6);
    expect(aggregatorOffer(input({ aggregatorLimit: 6, aggregatorLimitOverride: 0 })).free).toBe(0);
  });

  it("keeps one aggregator within its quota", () => {
    const offer = aggregatorOffer(input({ aggregatorLimit: 6, quota: 3, booked: { total: 4, aggregators: 4, thisAggregator: 2 } }));
    expect(offer).toEqual({ totalCapacity: 3, totalBooked: 2, free: 1 });
    expect(aggregatorOffer(input({ quota: 0 })).free).toBe(0);
  });

  it('shows no free spot once direct bookings fill the session', () => {
    expect(aggregatorOffer(input({ booked: { total: 10, aggregators: 1, thisAggregator: 1 } }))).toEqual({
      totalCapacity: 1,
      totalBooked: 1,
      free: 0,
    });
  });

  it('never goes negative on inconsistent data', () => {
    expect(aggregatorOffer(input({ booked: { total: 14, aggregators: 3, thisAggregator: 3 } }))).toEqual({
      totalCapacity: 3,
      totalBooked: 3,
      free: 0,
    });
    expect(aggregatorOffer(input({ aggregatorLimit: 2, booked: { total: 5, aggregators: 5, thisAggregator: 5 } })).free).toBe(0);
    expect(aggregatorOffer(input({ maxParticipants: 0 })).free).toBe(0);
    expect(aggregatorOffer(input({ capacityOverride: -3 })).free).toBe(0);
    expect(aggregatorOffer(input({ booked: { total: -2, aggregators: -1, thisAggregator: -1 } }))).toEqual({
      totalCapacity: 10,
      totalBooked: 0,
      free: 10,
    });
  });

  it('reads contradicting counts in the way that shows fewer spots', () => {
    // This aggregator alone holds more than all aggregators are said to: its own count stands for the limit.
    expect(aggregatorOffer(input({ aggregatorLimit: 4, booked: { total: 3, aggregators: 1, thisAggregator: 3 } })).free).toBe(1);
    // More aggregator bookings than bookings in all: the aggregator count stands for capacity.
    expect(aggregatorOffer(input({ booked: { total: 2, aggregators: 9, thisAggregator: 0 } })).free).toBe(1);
  });
});

describe('booking checks', () => {
  it('lets one more aggregator booking in only while a spot is free for it', () => {
    expect(canAggregatorBook(input({ quota: 2, booked: { total: 1, aggregators: 1, thisAggregator: 1 } }))).toBe(true);
    expect(canAggregatorBook(input({ quota: 2, booked: { total: 2, aggregators: 2, thisAggregator: 2 } }))).toBe(false);
  });

  it('bounds direct bookings by capacity alone', () => {
    expect(sessionCapacity(10, null)).toBe(10);
    expect(sessionCapacity(10, 3)).toBe(3);
    expect(directFree(10, 7)).toBe(3);
    expect(directFree(10, 12)).toBe(0);
    expect(directFree(0, 0)).toBe(0);
    expect(canBookDirect(10, 9)).toBe(true);
    expect(canBookDirect(10, 10)).toBe(false);
  });
});

const bound = fc.integer({ min: 0, max: 40 });
const nullableBound = fc.option(bound, { nil: null });

/** Random inputs whose counts agree with each other: thisAggregator ≤ aggregators ≤ total. */
const consistentInput = fc
  .record({
    maxParticipants: bound,
    capacityOverride: nullableBound,
    aggregatorLimit: nullableBound,
    aggregatorLimitOverride: nullableBound,
    quota: fc.option(bound, { nil: undefined }),
    thisAggregator: bound,
    otherAggregators: bound,
    direct: bound,
  })
  .map(({ thisAggregator, otherAggregators, direct, ...rest }) => ({
    ...rest,
    booked: { thisAggregator, aggregators: thisAggregator + otherAggregators, total: thisAggregator + otherAggregators + direct },
  }));

/** Any counts at all, including ones that contradict each other or are negative. */
const anyInput = fc.record({
  maxParticipants: fc.integer({ min: -5, max: 40 }),
  capacityOverride: fc.option(fc.integer({ min: -5, max: 40 }), { nil: null }),
  aggregatorLimit: fc.option(fc.integer({ min: -5, max: 40 }), { nil: null }),
  aggregatorLimitOverride: fc.option(fc.integer({ min: -5, max: 40 }), { nil: null }),
  quota: fc.option(fc.integer({ min: -5, max: 40 }), { nil: undefined }),
  booked: fc.record({
    total: fc.integer({ min: -5, max: 60 }),
    aggregators: fc.integer({ min: -5, max: 60 }),
    thisAggregator: fc.integer({ min: -5, max: 60 }),
  }),
});

/** What is left under each bound that applies, straight from the definition. */
function remaining(i: OfferInput): number[] {
  const left = [(i.capacityOverride ?? i.maxParticipants) - i.booked.total];
  const limit = i.aggregatorLimitOverride ?? i.aggregatorLimit;
  if (limit !== null) left.push(limit - i.booked.aggregators);
  if (i.quota !== undefined) left.push(i.quota - i.booked.thisAggregator);
  return left;
}

describe('aggregatorOffer properties', () => {
  it('never offers more than any bound has left', () => {
    fc.assert(
      fc.property(fc.oneof(consistentInput, anyInput), (i) => {
        const { free } = aggregatorOffer(i);
        for (const left of remaining(i)) expect(free).toBeLessThanOrEqual(Math.max(0, left));
      }),
    );
  });

  it('offers a spot whenever every bound has room', () => {
    fc.assert(
      fc.property(consistentInput, (i) => {
        const left = remaining(i);
        expect(aggregatorOffer(i).free).toBe(Math.max(0, Math.min(...left)));
        if (left.every((n) => n > 0)) expect(aggregatorOffer(i).free).toBeGreaterThan(0);
      }),
    );
  });

  it('tells the aggregator whole, non-negative counts whose difference is the free spots', () => {
    fc.assert(
      fc.property(fc.oneof(consistentInput, anyInput), (i) => {
        const { totalCapacity, totalBooked, free } = aggregatorOffer(i);
        for (const n of [totalCapacity, totalBooked, free]) {
          expect(Number.isInteger(n)).toBe(true);
          expect(n).toBeGreaterThanOrEqual(0);
        }
        expect(totalCapacity - totalBooked).toBe(free);
      }),
    );
  });
});

const CHANNELS = 5;

interface Studio {
  capacity: number;
  limit: number | null;
  quotas: (number | undefined)[];
}

/** Spot-holding bookings per channel: index 0 is direct, 1..CHANNELS the aggregators. */
type Held = number[];

const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
const at = (xs: readonly (number | undefined)[], i: number) => xs[i] ?? 0;

function withinBounds(studio: Studio, held: Held): boolean {
  const aggregators = sum(held.slice(1));
  if (sum(held) > studio.capacity) return false;
  if (studio.limit !== null && aggregators > studio.limit) return false;
  return studio.quotas.every((q, a) => q === undefined || at(held, a + 1) <= q);
}

function offerInput(studio: Studio, held: Held, channel: number): OfferInput {
  return {
    maxParticipants: studio.capacity,
    capacityOverride: null,
    aggregatorLimit: studio.limit,
    aggregatorLimitOverride: null,
    quota: studio.quotas[channel - 1],
    booked: { total: sum(held), aggregators: sum(held.slice(1)), thisAggregator: at(held, channel) },
  };
}

function allowed(studio: Studio, held: Held, channel: number): boolean {
  return channel === 0 ? canBookDirect(studio.capacity, sum(held)) : canAggregatorBook(offerInput(studio, held, channel));
}

const studioArb = fc.record({
  capacity: fc.integer({ min: 0, max: 25 }),
  limit: fc.option(fc.integer({ min: 0, max: 25 }), { nil: null }),
  quotas: fc.array(fc.option(fc.integer({ min: 0, max: 10 }), { nil: undefined }), { minLength: CHANNELS, maxLength: CHANNELS }),
});
const channelArb = fc.integer({ min: 0, max: CHANNELS });
const stepArb = fc.record({ cancel: fc.boolean(), channel: channelArb });

describe('booking simulation', () => {
  it('booking only while the checks say there is room never breaks capacity, limit or any quota, and refuses no real spot', () => {
    fc.assert(
      fc.property(studioArb, fc.array(channelArb, { maxLength: 30 }), fc.array(stepArb, { maxLength: 80 }), (studio, seed, steps) => {
        // A random valid starting state, built without the functions under test.
        const held: Held = new Array<number>(CHANNELS + 1).fill(0);
        for (const c of seed) {
          held[c] = at(held, c) + 1;
          if (!withinBounds(studio, held)) held[c] = at(held, c) - 1;
        }
        for (const { cancel, channel } of steps) {
          if (cancel) {
            if (at(held, channel) > 0) held[channel] = at(held, channel) - 1;
            continue;
          }
          const ok = allowed(studio, held, channel);
          held[channel] = at(held, channel) + 1;
          const fits = withinBounds(studio, held);
          expect(ok).toBe(fits);
          if (!ok) held[channel] = at(held, channel) - 1;
          expect(withinBounds(studio, held)).toBe(true);
        }
      }),
    );
  });

  it("shows each aggregator exactly the spots it can then book one after another", () => {
    fc.assert(
      fc.property(studioArb, fc.array(channelArb, { maxLength: 40 }), fc.integer({ min: 1, max: CHANNELS }), (studio, seed, channel) => {
        const held: Held = new Array<number>(CHANNELS + 1).fill(0);
        for (const c of seed) if (allowed(studio, held, c)) held[c] = at(held, c) + 1;
        const { free } = aggregatorOffer(offerInput(studio, held, channel));
        for (let n = 0; n < free; n++) {
          expect(allowed(studio, held, channel)).toBe(true);
          held[channel] = at(held, channel) + 1;
        }
        expect(allowed(studio, held, channel)).toBe(false);
        expect(withinBounds(studio, held)).toBe(true);
      }),
    );
  });
});
