import { describe, expect, it } from 'vitest';
import { deleteInBatches, deliverGroups, drainOutbox, outboxBackoffMs } from '../../lib/outbox-relay.js';

interface Row {
  id: number;
  key: string;
  attempts: number;
}

/** An outbox in memory: what was signalled, marked done and postponed. */
function outbox(failOn: ReadonlySet<string>) {
  const signalled: string[] = [];
  const done: number[][] = [];
  const postponed: Array<{ ids: number[]; retryInMs: number; error: string }> = [];
  const warned: Array<{ key: string; attempts: number }> = [];
  const deliver = (rows: readonly Row[]) =>
    deliverGroups(rows, {
      key: (row) => row.key,
      deliver: (first) => {
        signalled.push(first.key);
        return failOn.has(first.key) ? Promise.reject(new Error(`no answer for ${first.key}`)) : Promise.resolve();
      },
      done: (ids) => {
        done.push(ids);
        return Promise.resolve();
      },
      postpone: (ids, retryInMs, error) => {
        postponed.push({ ids, retryInMs, error });
        return Promise.resolve();
      },
      attempts: (row) => row.attempts,
      warn: (first, attempts) => warned.push({ key: first.key, attempts }),
    });
  return { signalled, done, postponed, warned, deliver };
}

describe('outbox relay', () => {
  it('waits 1 s after the first failed claim, longer after each, at most a minute', () => {
    expect([1, 2, 3, 4, 5, 6, 7, 50].map(outboxBackoffMs)).toEqual([1_000, 2_000, 5_000, 10_000, 30_000, 60_000, 60_000, 60_000]);
    expect(outboxBackoffMs(0)).toBe(1_000);
  });

  it('signals each key once, and at the first failure postpones that group and every later one by the highest attempt count', async () => {
    const o = outbox(new Set(['b']));
    const rows: Row[] = [
      { id: 1, key: 'a', attempts: 1 },
      { id: 2, key: 'b', attempts: 1 },
      { id: 3, key: 'a', attempts: 1 },
      { id: 4, key: 'c', attempts: 3 },
      { id: 5, key: 'b', attempts: 2 },
    ];
    expect(await o.deliver(rows)).toBe(2);
    expect(o.signalled).toEqual(['a', 'b']);
    expect(o.done).toEqual([[1, 3]]);
    expect(o.postponed).toEqual([{ ids: [2, 5, 4], retryInMs: 5_000, error: 'no answer for b' }]);
    expect(o.warned).toEqual([{ key: 'b', attempts: 3 }]);
  });

  it('claims batch after batch until none is due, and stops at a batch that fell short', async () => {
    const batches: Row[][] = [[{ id: 1, key: 'a', attempts: 1 }], [{ id: 2, key: 'b', attempts: 1 }, { id: 3, key: 'c', attempts: 1 }], [{ id: 4, key: 'd', attempts: 1 }]];
    const all = outbox(new Set());
    let claims = 0;
    expect(await drainOutbox(() => Promise.resolve(batches[claims++] ?? []), all.deliver)).toBe(4);
    expect(claims).toBe(4);

    const failing = outbox(new Set(['c']));
    claims = 0;
    expect(await drainOutbox(() => Promise.resolve(batches[claims++] ?? []), failing.deliver)).toBe(2);
    expect(claims).toBe(2);
    expect(failing.signalled).toEqual(['a', 'b', 'c']);
  });

  it('deletes in batches until one comes back short, and at most the given number of batches per sweep', async () => {
    let backlog = 2_500;
    const deleteBatch = (limit: number) => {
      const n = Math.min(limit, backlog);
      backlog -= n;
      return Promise.resolve(n);
    };
    expect(await deleteInBatches(deleteBatch, 1_000, 10)).toBe(2_500);
    expect(backlog).toBe(0);
    backlog = 5_000;
    expect(await deleteInBatches(deleteBatch, 1_000, 3)).toBe(3_000);
    expect(backlog).toBe(2_000);
  });
});

