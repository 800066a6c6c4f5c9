import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { batcher } from '../../lib/batcher.js';

describe('batcher', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('writes the items added within the delay as one batch, and resolves each add once it is written', async () => {
    const written: number[][] = [];
    const marks = batcher((items: number[]) => Promise.resolve(void written.push(items)), { maxItems: 10, maxDelayMs: 50 });
    const done: number[] = [];
    const adds = [1, 2, 3].map((n) => marks.add(n).then(() => done.push(n)));
    await vi.advanceTimersByTimeAsync(49);
    expect(written).toEqual([]);
    expect(done).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    await Promise.all(adds);
    expect(written).toEqual([[1, 2, 3]]);
    expect(done).toEqual([1, 2, 3]);
  });

  it('writes a full batch at once, and the items after it in the next batch', async () => {
    const written: number[][] = [];
    const marks = batcher((items: number[]) => Promise.resolve(void written.push(items)), { maxItems: 2, maxDelayMs: 1_000 });
    const first = Promise.all([marks.add(1), marks.add(2)]);
    await first;
    expect(written).toEqual([[1, 2]]);
    const third = marks.add(3);
    await vi.advanceTimersByTimeAsync(1_000);
    await third;
    expect(written).toEqual([[1, 2], [3]]);
  });

  it('rejects every add of a batch whose write failed, and goes on with the next batch', async () => {
    let fail = true;
    const written: string[][] = [];
    const marks = batcher(
      (items: string[]) => {
        if (fail) return Promise.reject(new Error('database gone'));
        written.push(items);
        return Promise.resolve();
      },
      { maxItems: 2, maxDelayMs: 10 },
    );
    const failed = [marks.add('a'), marks.add('b')].map((p) => p.then(() => 'ok', (e: Error) => e.message));
    expect(await Promise.all(failed)).toEqual(['database gone', 'database gone']);
    fail = false;
    const next = marks.add('c');
    await vi.advanceTimersByTimeAsync(10);
    await next;
    expect(written).toEqual([['c']]);
  });
});
