/**
 * Runs tasks with at most `limit` in flight; the rest wait their turn in order. For work that follows a response and
 * must not crowd out the requests themselves (a burst of hand-overs to Temporal would otherwise take the event loop).
 */
export function boundedQueue(limit: number): { run(task: () => Promise<void>): void; readonly waiting: number; readonly running: number } {
  const waiting: Array<() => Promise<void>> = [];
  let running = 0;
  const next = () => {
    while (running < limit && waiting.length > 0) {
      const task = waiting.shift() as () => Promise<void>;
      running += 1;
      void task()
        .catch(() => undefined)
        .finally(() => {
          running -= 1;
          next();
        });
    }
  };
  return {
    run(task) {
      waiting.push(task);
      next();
    },
    get waiting() {
      return waiting.length;
    },
    get running() {
      return running;
    },
  };
}
