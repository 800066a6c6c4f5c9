import { describe, expect, it } from 'vitest';
import { createSandboxClock } from '../../aggregators/sandbox-kit/index.js';
import { WellhubRequestInvalidError, readSettings, toClassBody, toSlotBody } from '../../aggregators/wellhub/index.js';
import { answerTransition } from '../../aggregators/wellhub/sandbox/booking-rules.js';
import { listRange } from '../../aggregators/wellhub/sandbox/slot-range.js';
import type { SandboxBookingState } from '../../aggregators/wellhub/sandbox/store.js';

describe('booking answers at Wellhub (sandbox rules)', () => {
  const ok = (changed: boolean) => ({ ok: true, changed });
  const table: [SandboxBookingState, boolean, 'RESERVED' | 'REJECTED' | 'CANCELLED_BY_GYM', ReturnType<typeof ok> | 'refused'][] = [
    ['PENDING', false, 'RESERVED', ok(true)],
    ['PENDING', false, 'REJECTED', ok(true)],
    ['PENDING', false, 'CANCELLED_BY_GYM', 'refused'],
    ['RESERVED', false, 'RESERVED', ok(false)],
    ['RESERVED', false, 'REJECTED', 'refused'],
    ['RESERVED', false, 'CANCELLED_BY_GYM', ok(true)],
    ['REJECTED', false, 'RESERVED', 'refused'],
    ['REJECTED', true, 'RESERVED', 'refused'],
    ['REJECTED', true, 'REJECTED', ok(false)],
    ['REJECTED', false, 'CANCELLED_BY_GYM', 'refused'],
    ['CANCELLED_BY_GYM', false, 'CANCELLED_BY_GYM', ok(false)],
    ['CANCELLED_BY_USER', false, 'CANCELLED_BY_GYM', ok(false)],
    ['LATE_CANCELLED', false, 'CANCELLED_BY_GYM', ok(false)],
    ['CANCELLED_BY_USER', false, 'RESERVED', 'refused'],
    ['CHECKED_IN', false, 'CANCELLED_BY_GYM', 'refused'],
    ['CHECKED_IN', false, 'RESERVED', 'refused'],
  ];
  it.each(table)('%s (auto-rejected: %s) answered %s', (state, auto, answer, expected) => {
    const result = answerTransition(state, auto, answer);
    if (expected === 'refused') expect(result).toMatchObject({ ok: false, message: expect.any(String) });
    else expect(result).toEqual(expected);
  });

  it('says why a late answer fails', () => {
    expect(answerTransition('REJECTED', true, 'RESERVED')).toEqual({
      ok: false,
      message: 'cannot reserve: the booking was already rejected by Wellhub: no answer came within 15 minutes',
    });
  });
});

describe('slot list range', () => {
  const now = Date.UTC(2030, 0, 15, 12, 0, 0);
  it('uses from and to as given', () => {
    expect(listRange('2030-01-16T00:00:00+03:00', '2030-01-16T23:59:59+03:00', now)).toEqual([
      Date.UTC(2030, 0, 15, 21, 0, 0),
      Date.UTC(2030, 0, 16, 20, 59, 59),
    ]);
  });
  it('without bounds: the current UTC day', () => {
    expect(listRange(undefined, undefined, now)).toEqual([Date.UTC(2030, 0, 15), Date.UTC(2030, 0, 16) - 1]);
  });
  it('with one bound: until the end or from the start of that bound day, in its offset', () => {
    expect(listRange('2030-01-16T10:00:00+03:00', undefined, now)).toEqual([Date.UTC(2030, 0, 16, 7), Date.UTC(2030, 0, 16, 21) - 1]);
    expect(listRange(undefined, '2030-01-16T10:00:00-05:00', now)).toEqual([Date.UTC(2030, 0, 16, 5), Date.UTC(2030, 0, 16, 15)]);
  });
});

describe('sandbox clock', () => {
  it('fires due timers in due order on advance, including timers they set that are already due', async () => {
    const clock = createSandboxClock({ start: 0, frozen: true });
    const fired: string[] = [];
    clock.setTimer(() => fired.push('b@20'), 20);
    clock.setTimer(() => {
      fired.push('a@10');
      clock.setTimer(() => fired.push('c@15'), 5);
    }, 10);
    clock.setTimer(() => fired.push('d@100'), 100);
    await clock.advance(50);
    expect(fired).toEqual(['a@10', 'c@15', 'b@20']);
    expect(clock.now()).toBe(50);
    expect(clock.pendingTimers()).toBe(1);
    clock.dispose();
    await clock.advance(100);
    expect(fired).toHaveLength(3);
  });

  it('awaits async timers and reports their failures instead of throwing', async () => {
    const errors: unknown[] = [];
    const clock = createSandboxClock({ start: 0, frozen: true, onError: (e) => errors.push(e) });
    let done = false;
    clock.setTimer(async () => {
      await Promise.resolve();
      done = true;
    }, 1);
    clock.setTimer(() => {
      throw new Error('boom');
    }, 2);
    await clock.advance(5);
    expect(done).toBe(true);
    expect(errors).toHaveLength(1);
    await expect(clock.advance(-1)).rejects.toThrow();
  });

  it('a cleared timer never fires; a frozen clock stands still', async () => {
    const clock = createSandboxClock({ start: 1_000, frozen: true });
    let fired = false;
    const handle = clock.setTimer(() => (fired = true), 10);
    clock.clearTimer(handle);
    await clock.advance(100);
    expect(fired).toBe(false);
    expect(clock.now()).toBe(1_100);
  });
});

describe('mapping to Wellhub', () => {
  it('reads productId from settings, coercing a numeric string, and refuses a connection without one', () => {
    expect(readSettings('op', { productId: '4' }).productId).toBe(4);
    expect(() => readSettings('op', {})).toThrow(WellhubRequestInvalidError);
    try {
      readSettings('op', { productId: 'yoga' });
    } catch (error) {
      expect((error as WellhubRequestInvalidError).issues[0]?.field).toBe('settings.productId');
      expect((error as WellhubRequestInvalidError).retryable).toBe(false);
    }
  });

  it('maps the category case-insensitively through categoryIds', () => {
    const settings = readSettings('op', { productId: 1, categoryIds: { yoga: 3, Pilates: [4, 5] } });
    const base = { activityId: 'a', name: 'n', description: 'd', bookable: true, visible: true };
    expect(toClassBody({ ...base, category: 'YOGA' }, settings).categories).toEqual([3]);
    expect(toClassBody({ ...base, category: 'pilates' }, settings).categories).toEqual([4, 5]);
    expect(toClassBody({ ...base, category: null }, settings)).not.toHaveProperty('categories');
  });

  it('keeps a future opening time and the closing time', () => {
    const now = Date.UTC(2030, 0, 1);
    const body = toSlotBody(
      {
        sessionId: 's',
        startsAt: '2030-01-03T10:00:00+01:00',
        durationMinutes: 60,
        room: null,
        instructors: [],
        totalCapacity: 5,
        totalBooked: 1,
        bookingOpensAt: '2030-01-02T10:00:00+01:00',
        bookingClosesAt: '2030-01-03T09:00:00+01:00',
        active: true,
      },
      readSettings('op', { productId: 1 }),
      now,
    );
    expect(body.booking_window).toEqual({ opens_at: '2030-01-02T10:00:00+01:00', closes_at: '2030-01-03T09:00:00+01:00' });
  });
});
