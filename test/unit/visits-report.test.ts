import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BOOKING_STATUSES } from '../../domain/model.js';
import { addCounts, countVisit, emptyCounts, OUTCOME_STATUS, VISIT_OUTCOMES, VISIT_STATUSES, visitOutcome } from '../../domain/visits.js';
import { csvField, toCsv } from '../../lib/csv.js';
import { VisitsQuery } from '../../api/routes/reports.schemas.js';

/** An RFC 4180 reader written for this test: fields, quotes doubled inside quoted fields, CRLF between records. */
function readCsv(text: string): string[][] {
  const records: string[][] = [];
  let field = '';
  let record: string[] = [];
  let quoted = false;
  const endField = () => {
    record.push(field);
    field = '';
  };
  for (let i = 0; i < text.length; i += 1) {
    const c = text[i]!;
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        field += '"';
        i += 1;
      } else if (c === '"') quoted = false;
      else field += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') endField();
    else if (c === '\r' && text[i + 1] === '\n') {
      endField();
      records.push(record);
      record = [];
      i += 1;
    } else field += c;
  }
  return records;
}

const statuses = [...BOOKING_STATUSES];

describe('aggregator visits', () => {
  it('puts every status a reserved booking can reach in exactly one column, and requests and rejections in none', () => {
    expect(new Set(VISIT_STATUSES).size).toBe(VISIT_OUTCOMES.length);
    expect(visitOutcome('requested')).toBeUndefined();
    expect(visitOutcome('rejected')).toBeUndefined();
    for (const outcome of VISIT_OUTCOMES) expect(visitOutcome(OUTCOME_STATUS[outcome])).toBe(outcome);
    // Every status but the two that never were a visit is counted.
    expect(statuses.filter((s) => visitOutcome(s) === undefined).sort()).toEqual(['rejected', 'requested']);
  });

  it('counts reserved as the sum of the columns, whatever the bookings (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.constantFrom(...statuses)), fc.array(fc.constantFrom(...statuses)), (a, b) => {
        const left = a.reduce(countVisit, emptyCounts());
        const right = b.reduce(countVisit, emptyCounts());
        const both = [...a, ...b].reduce(countVisit, emptyCounts());
        expect(addCounts(left, right)).toEqual(both);
        expect(VISIT_OUTCOMES.reduce((sum, o) => sum + both[o], 0)).toBe(both.reserved);
        expect(both.reserved).toBe([...a, ...b].filter((s) => s !== 'requested' && s !== 'rejected').length);
      }),
    );
  });
});

describe('CSV', () => {
  it('reads back as written, a formula-looking text prefixed with an apostrophe (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.array(fc.oneof(fc.string(), fc.integer()), { minLength: 3, maxLength: 3 }), { maxLength: 20 }), (rows) => {
        const read = readCsv(toCsv(['a', 'b', 'c'], rows));
        expect(read[0]).toEqual(['a', 'b', 'c']);
        expect(read.slice(1)).toEqual(rows.map((row) => row.map((v) => (typeof v === 'number' ? String(v) : /^[=+\-@\t\r]/.test(v) ? `'${v}` : v))));
      }),
    );
  });

  it('quotes only where RFC 4180 needs it, and leaves null empty', () => {
    expect(csvField('Yoga')).toBe('Yoga');
    expect(csvField('Yoga, hot')).toBe('"Yoga, hot"');
    expect(csvField('say "om"')).toBe('"say ""om"""');
    expect(csvField('=1+1')).toBe("'=1+1");
    expect(csvField('@SUM(A1)')).toBe("'@SUM(A1)");
    expect(csvField(null)).toBe('');
    expect(csvField(-3)).toBe('-3');
  });
});

describe('the report query', () => {
  const parse = (q: Record<string, string>) => VisitsQuery.safeParse(q);
  it('takes local dates, a period of at most 366 days, from before to', () => {
    expect(parse({ from: '2028-01-01', to: '2028-12-31' }).success).toBe(true); // a leap year, 366 days
    expect(parse({ from: '2028-01-01', to: '2029-01-01' }).success).toBe(false);
    expect(parse({ from: '2026-03-02', to: '2026-03-01' }).success).toBe(false);
    expect(parse({ from: '2026-03-01T00:00:00Z', to: '2026-03-02' }).success).toBe(false);
    expect(parse({ from: '2026-03-01', to: '2026-03-01', include: 'everything' }).success).toBe(false);
  });
});
