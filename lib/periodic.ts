/**
 * Runs `run` every `intervalMs`, never two at once (a run that outlasts the interval skips the ticks it covers), and
 * never keeping the process alive by itself. A failed run is reported and the next tick tries again. `stop` ends the
 * ticks and waits for a run under way. For the work beside the API (inbox hand-over, outbox relay, sweeps).
 */
export function startPeriodic(intervalMs: number, run: () => Promise<unknown>, onError: (error: unknown) => void): { stop: () => Promise<void> } {
  let running: Promise<unknown> | undefined;
  let stopped = false;
  const timer = setInterval(() => {
    if (running || stopped) return;
    running = run()
      .catch(onError)
      .finally(() => {
        running = undefined;
      });
  }, intervalMs);
  timer.unref();
  return {
    stop: async () => {
      stopped = true;
      clearInterval(timer);
      await running;
    },
  };
}
