import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { afterFailedConfirmation, mayHaveLanded, type AnswerFailure, type HeldThere } from '../../domain/confirmation-outcome.js';

const failure: fc.Arbitrary<AnswerFailure> = fc.oneof(
  fc.constant({ kind: 'refused' } as const),
  fc.constant({ kind: 'no_answer' } as const),
  fc.constant({ kind: 'abandoned' } as const),
  fc.integer({ min: 400, max: 599 }).map((status) => ({ kind: 'status', status }) as const),
);
const held: fc.Arbitrary<HeldThere> = fc.constantFrom('pending', 'reserved', 'rejected', 'cancelled', 'attended', undefined);

describe('mayHaveLanded', () => {
  it.each([
    [{ kind: 'no_answer' }, true],
    [{ kind: 'abandoned' }, true],
    [{ kind: 'status', status: 500 }, true],
    [{ kind: 'status', status: 502 }, true],
    [{ kind: 'status', status: 504 }, true],
    [{ kind: 'status', status: 503 }, false],
    [{ kind: 'status', status: 429 }, false],
    [{ kind: 'status', status: 408 }, false],
    [{ kind: 'refused' }, false],
  ] as Array<[AnswerFailure, boolean]>)('%o → %s', (f, expected) => {
    expect(mayHaveLanded(f)).toBe(expected);
  });
});

describe('afterFailedConfirmation', () => {
  it('keeps the reservation when the aggregator refuses the rejection that followed a failed confirmation', () => {
    expect(afterFailedConfirmation({ confirmation: { kind: 'no_answer' }, rejection: 'refused', held: undefined })).toEqual({ keep: 'reserved', known: true });
    expect(afterFailedConfirmation({ confirmation: { kind: 'status', status: 503 }, rejection: 'refused', held: undefined })).toEqual({ keep: 'reserved', known: true });
  });

  it('keeps an unknown reservation when the confirmation may have landed and the rejection never got through', () => {
    expect(afterFailedConfirmation({ confirmation: { kind: 'no_answer' }, rejection: 'unreachable', held: undefined })).toEqual({ keep: 'reserved', known: false });
  });

  it('frees the spot when the confirmation surely never landed and the rejection never got through (the aggregator rejects by itself)', () => {
    expect(afterFailedConfirmation({ confirmation: { kind: 'status', status: 503 }, rejection: 'unreachable', held: undefined })).toEqual({ keep: 'rejected' });
  });

  it('follows what the aggregator says it holds, whenever it can be read back', () => {
    fc.assert(
      fc.property(failure, fc.constantFrom<'refused' | 'unreachable'>('refused', 'unreachable'), held.filter((h) => h !== undefined), (confirmation, rejection, there) => {
        const outcome = afterFailedConfirmation({ confirmation, rejection, held: there });
        expect(outcome.keep).toBe(there === 'rejected' || there === 'pending' ? 'rejected' : 'reserved');
      }),
    );
  });

  it('never frees a spot the aggregator may hold: a rejection is kept only when it surely does not hold it', () => {
    fc.assert(
      fc.property(failure, fc.constantFrom<'refused' | 'unreachable'>('refused', 'unreachable'), held, (confirmation, rejection, there) => {
        const outcome = afterFailedConfirmation({ confirmation, rejection, held: there });
        if (outcome.keep === 'rejected') {
          const aggregatorSaysFree = there === 'rejected' || there === 'pending';
          const surelyNotHeld = there === undefined && rejection === 'unreachable' && !mayHaveLanded(confirmation);
          expect(aggregatorSaysFree || surelyNotHeld).toBe(true);
        }
      }),
    );
  });
});
