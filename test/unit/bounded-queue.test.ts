import { describe, expect, it } from 'vitest';
import { boundedQueue } from '../../lib/bounded-queue.js';

describe('boundedQueue', () => {
  it('runs at most `limit` tasks at once, all of them in order, a failing one included', async () => {
    const queue = boundedQueue(3);
    let inFlight = 0;
    let most = 0;
    const started: number[] = [];
    const done = Array.from({ length: 20 }, (_, i) => new Promise<void>((resolve) => {
      queue.run(async () => {
        started.push(i);
        inFlight += 1;
        most = Math.max(most, inFlight);
        await new Promise((r) => setTimeout(r, 5));
        inFlight -= 1;
        resolve();
        if (i === 4) throw new Error('a task that fails holds back no other');
      });
    }));
    expect(queue.running).toBe(3);
    expect(queue.waiting).toBe(17);
    await Promise.all(done);
    expect(most).toBe(3);
    expect(started).toEqual(Array.from({ length: 20 }, (_, i) => i));
    await new Promise((r) => setTimeout(r, 10));
    expect(queue.running).toBe(0);
  });
});
