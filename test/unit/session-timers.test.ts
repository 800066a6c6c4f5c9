import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BOOKING_STATUSES, canTransition, SPOT_HOLDING_STATUSES } from '../../domain/model.js';
import { momentBefore, noShowAt, planSessionTimers, sessionEndsAt, spotMoments, type SessionTimerFacts } from '../../domain/session-timers.js';

const MIN = 60_000;
const START = Date.parse('2026-12-01T17:00:00Z');

function facts(over: Partial<SessionTimerFacts> = {}): SessionTimerFacts {
  return {
    status: 'scheduled',
    startsAt: START,
    durationMinutes: 60,
    noShowAfterMinutes: 120,
    releaseAggregatorSpotsMinutesBefore: null,
    offerDirectSpotsToAggregatorsMinutesBefore: null,
    ...over,
  };
}

describe('no_show in the booking status rules', () => {
  it('comes only from reserved, and a late check-in still makes it attended', () => {
    expect(canTransition('reserved', 'no_show')).toBe(true);
    expect(canTransition('no_show', 'attended')).toBe(true);
    for (const from of BOOKING_STATUSES.filter((s) => s !== 'reserved')) expect(canTransition(from, 'no_show'), from).toBe(false);
    // A no-show is not cancelled afterwards, and attended never goes back.
    for (const to of ['cancelled_by_customer', 'late_cancelled', 'cancelled_by_gym', 'reserved'] as const) expect(canTransition('no_show', to)).toBe(false);
    expect(canTransition('attended', 'no_show')).toBe(false);
  });

  it('holds a spot, like attended (a place that was sold and kept)', () => {
    expect(SPOT_HOLDING_STATUSES).toContain('no_show');
    expect(SPOT_HOLDING_STATUSES).toContain('attended');
  });
});

describe('session timer moments', () => {
  it('puts the no-show pass at the end plus the delay, and the spot moments before the start', () => {
    expect(sessionEndsAt(START, 60)).toBe(START + 60 * MIN);
    expect(noShowAt(facts())).toBe(START + 180 * MIN);
    expect(noShowAt(facts({ noShowAfterMinutes: 0 }))).toBe(START + 60 * MIN);
    expect(momentBefore(START, null)).toBeNull();
    expect(spotMoments(facts({ releaseAggregatorSpotsMinutesBefore: 60, offerDirectSpotsToAggregatorsMinutesBefore: 120 }))).toEqual([START - 120 * MIN, START - 60 * MIN]);
  });

  it('is exact instant arithmetic (property): no rounding, no dependence on a time zone', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 4_102_444_800_000 }),
        fc.integer({ min: 1, max: 1440 }),
        fc.integer({ min: 0, max: 10080 }),
        fc.integer({ min: 0, max: 525_600 }),
        (startsAt, duration, delay, before) => {
          const at = noShowAt({ startsAt, durationMinutes: duration, noShowAfterMinutes: delay });
          expect(at - startsAt).toBe((duration + delay) * MIN);
          expect(at).toBeGreaterThan(startsAt);
          expect(startsAt - (momentBefore(startsAt, before) as number)).toBe(before * MIN);
        },
      ),
    );
  });
});

describe('planSessionTimers', () => {
  it('ends at once for a session that is gone or cancelled', () => {
    expect(planSessionTimers(undefined, START, null)).toEqual({ due: [], nextAt: null, finished: true });
    expect(planSessionTimers(facts({ status: 'cancelled' }), START, null).finished).toBe(true);
  });

  it('waits for the no-show moment, then runs the pass', () => {
    expect(planSessionTimers(facts(), START - 10 * MIN, null)).toEqual({ due: [], nextAt: START + 180 * MIN, finished: false });
    expect(planSessionTimers(facts(), START + 180 * MIN, START)).toEqual({ due: ['no_show_pass'], nextAt: null, finished: false });
  });

  it('pushes the counts once per spot moment passed, only before the start', () => {
    const f = facts({ releaseAggregatorSpotsMinutesBefore: 60, offerDirectSpotsToAggregatorsMinutesBefore: 120 });
    expect(planSessionTimers(f, START - 200 * MIN, null)).toMatchObject({ due: [], nextAt: START - 120 * MIN });
    expect(planSessionTimers(f, START - 120 * MIN, START - 200 * MIN)).toMatchObject({ due: ['push_counts'], nextAt: START - 60 * MIN });
    // Handled already: nothing again until the next moment.
    expect(planSessionTimers(f, START - 90 * MIN, START - 120 * MIN)).toMatchObject({ due: [], nextAt: START - 60 * MIN });
    expect(planSessionTimers(f, START - 60 * MIN, START - 90 * MIN)).toMatchObject({ due: ['push_counts'], nextAt: START + 180 * MIN });
    // Woken late, after the start: nothing to push any more.
    expect(planSessionTimers(f, START + 5 * MIN, START - 200 * MIN).due).toEqual([]);
  });

  it('never sleeps past a moment it has not handled, and never plans one twice (property)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 600 }),
        fc.integer({ min: 0, max: 600 }),
        fc.option(fc.integer({ min: 0, max: 2000 }), { nil: null }),
        fc.option(fc.integer({ min: 0, max: 2000 }), { nil: null }),
        fc.array(fc.integer({ min: 1, max: 400 }), { minLength: 1, maxLength: 30 }),
        (duration, delay, release, offer, steps) => {
          const f = facts({ durationMinutes: duration, noShowAfterMinutes: delay, releaseAggregatorSpotsMinutesBefore: release, offerDirectSpotsToAggregatorsMinutesBefore: offer });
          // The workflow's loop: wake at nextAt (or earlier, on a change), do what is due, remember the time handled.
          let now = START - 2100 * MIN;
          let handled: number | null = null;
          let pushes = 0;
          let passAt: number | null = null;
          for (const step of steps) {
            const plan = planSessionTimers(f, now, handled);
            pushes += plan.due.filter((d) => d === 'push_counts').length;
            if (plan.due.includes('no_show_pass')) {
              passAt = now;
              break;
            }
            handled = now;
            if (plan.nextAt !== null) expect(plan.nextAt).toBeGreaterThan(now);
            now = plan.nextAt === null ? now + step * MIN : Math.min(plan.nextAt, now + step * MIN);
          }
          const moments = spotMoments(f).filter((m) => m < f.startsAt);
          expect(pushes).toBeLessThanOrEqual(moments.length);
          if (passAt !== null) {
            expect(passAt).toBeGreaterThanOrEqual(noShowAt(f));
            // Every moment before the start was reached on the way (each wake is at most the next moment).
            expect(pushes).toBe(new Set(moments).size);
          }
        },
      ),
    );
  });
});
