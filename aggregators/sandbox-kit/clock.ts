/**
 * A sandbox's sense of time. It follows the real clock (so a sandbox run by `npm start` auto-rejects after real
 * minutes) but can be moved forward with advance(), which fires every timer that became due, so tests can check
 * a 15-minute deadline without waiting 15 minutes. A frozen clock only moves when advanced.
 */
export interface SandboxClock {
  now(): number;
  /** Runs callback once the clock reaches now() + delayMs; returns a handle for clearTimer. */
  setTimer(callback: () => unknown, delayMs: number): number;
  clearTimer(handle: number): void;
  /** Moves the clock forward and resolves once every timer that became due has run (async ones awaited). */
  advance(ms: number): Promise<void>;
  /** Timers not yet fired. */
  pendingTimers(): number;
  /** Cancels every timer; the clock stays usable. */
  dispose(): void;
}

export interface SandboxClockOptions {
  /** Epoch ms the clock starts at; default the real time. */
  start?: number;
  /** When true the clock only moves with advance(). */
  frozen?: boolean;
  /** A timer callback that throws or rejects; default a process warning (a sandbox must not crash its host). */
  onError?: (error: unknown) => void;
}

interface Timer {
  due: number;
  seq: number;
  callback: () => unknown;
  real?: NodeJS.Timeout | undefined;
}

export function createSandboxClock(options: SandboxClockOptions = {}): SandboxClock {
  const frozen = options.frozen ?? false;
  const realStart = Date.now();
  const start = options.start ?? realStart;
  const onError =
    options.onError ??
    ((error: unknown) => process.emitWarning(`sandbox timer failed: ${error instanceof Error ? error.message : String(error)}`));
  let offset = 0;
  let nextHandle = 1;
  const timers = new Map<number, Timer>();

  const base = () => (frozen ? start : start + (Date.now() - realStart));
  const now = () => base() + offset;

  async function run(handle: number): Promise<void> {
    const timer = timers.get(handle);
    if (!timer) return;
    timers.delete(handle);
    if (timer.real) clearTimeout(timer.real);
    try {
      await timer.callback();
    } catch (error) {
      onError(error);
    }
  }

  function arm(handle: number, timer: Timer): void {
    if (frozen) return;
    if (timer.real) clearTimeout(timer.real);
    timer.real = setTimeout(() => void run(handle), Math.max(0, timer.due - now()));
    // A sandbox timer must never keep a test process or a stopped server alive.
    timer.real.unref();
  }

  return {
    now,
    setTimer(callback, delayMs) {
      const handle = nextHandle++;
      const timer: Timer = { due: now() + Math.max(0, delayMs), seq: handle, callback };
      timers.set(handle, timer);
      arm(handle, timer);
      return handle;
    },
    clearTimer(handle) {
      const timer = timers.get(handle);
      if (timer?.real) clearTimeout(timer.real);
      timers.delete(handle);
    },
    async advance(ms) {
      if (!Number.isFinite(ms) || ms < 0) throw new Error(`cannot advance the clock by ${ms} ms`);
      const target = now() + ms;
      // Step from one due timer to the next, so each callback sees the clock at its own due time and a timer it
      // sets that falls before the target also runs in this advance, in order.
      for (;;) {
        let next: [number, Timer] | undefined;
        for (const entry of timers) {
          const [, timer] = entry;
          if (timer.due > target) continue;
          if (!next || timer.due < next[1].due || (timer.due === next[1].due && timer.seq < next[1].seq)) next = entry;
        }
        if (!next) break;
        if (next[1].due > now()) offset = next[1].due - base();
        await run(next[0]);
      }
      if (target > now()) offset = target - base();
      for (const [handle, timer] of timers) arm(handle, timer);
    },
    pendingTimers: () => timers.size,
    dispose() {
      for (const timer of timers.values()) if (timer.real) clearTimeout(timer.real);
      timers.clear();
    },
  };
}
