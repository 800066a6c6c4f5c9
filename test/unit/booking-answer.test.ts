import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { answerFor, requestedAtOf } from '../../domain/booking-answer.js';

describe('answerFor', () => {
  it('says RESERVED for a reservation and REJECTED with the reason for a rejection', () => {
    expect(answerFor({ decision: 'reserve', reason: null, message: null })).toEqual({ status: 'RESERVED' });
    expect(answerFor({ decision: 'reject', reason: 'CLASS_IS_FULL', message: 'full' })).toEqual({ status: 'REJECTED', reason: 'CLASS_IS_FULL', message: 'full' });
  });
  it('calls a rejection recorded without a reason a technical error', () => {
    expect(answerFor({ decision: 'reject', reason: null, message: null })).toMatchObject({ status: 'REJECTED', reason: 'TECHNICAL_ERROR' });
  });
  it('has no answer for a request waiting for approval', () => {
    expect(() => answerFor({ decision: 'awaiting_approval', reason: null, message: null })).toThrow(/approval/);
  });
});

describe('requestedAtOf', () => {
  const DEADLINE = 15 * 60_000;
  it('is never in the future and never older than the deadline, whatever the aggregator claims', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1_700_000_000_000, max: 1_900_000_000_000 }), fc.integer({ min: -10 * DEADLINE, max: 10 * DEADLINE }), (now, offset) => {
        const at = requestedAtOf(now, new Date(now + offset).toISOString(), DEADLINE);
        expect(at).toBeLessThanOrEqual(now);
        expect(at).toBeGreaterThanOrEqual(now - DEADLINE);
        if (offset <= 0 && offset >= -DEADLINE) expect(at).toBe(now + offset);
      }),
    );
  });
  it('takes an unreadable timestamp as now', () => {
    expect(requestedAtOf(1_800_000_000_000, 'not a date', DEADLINE)).toBe(1_800_000_000_000);
  });
});
