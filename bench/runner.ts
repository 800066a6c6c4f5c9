/**
 * How every benchmark script runs: its stacks stopped on Ctrl-C, SIGTERM or SIGHUP (exit 130, 143, 129), its report
 * printed to stdout at the end, even a partial one when it fails (exit 1).
 */
import { progress, secs, sinceStart } from './report.js';
import { stopAllStacks } from './stack.js';

let interrupted = false;

/** True once a signal asked the benchmark to stop: a failure after that is the stop, not news. */
export const isInterrupted = () => interrupted;

/**
 * Runs `run` (true: every step passed) and prints `report`; `cleanup` releases what the script holds besides its
 * stacks (a worker of its own, connections).
 */
export function runBenchmark(run: () => Promise<boolean>, report: string[], cleanup: () => Promise<unknown> = () => Promise.resolve()): void {
  for (const [signal, code] of [
    ['SIGINT', 130],
    ['SIGTERM', 143],
    ['SIGHUP', 129],
  ] as const) {
    process.on(signal, () => {
      if (interrupted) return;
      interrupted = true;
      progress(`${signal}: stopping the stack`);
      void Promise.allSettled([cleanup(), stopAllStacks()]).finally(() => process.exit(code));
    });
  }
  run().then(
    (ok) => {
      report.push('', `Run took ${secs(sinceStart())} end to end (stack start and stop included).`);
      process.stdout.write(`${report.join('\n')}\n`);
      process.exit(ok ? 0 : 1);
    },
    async (error: unknown) => {
      if (interrupted) return;
      if (report.length > 0) process.stdout.write(`${report.join('\n')}\n`);
      progress(`benchmark failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
      await Promise.allSettled([cleanup(), stopAllStacks()]);
      process.exit(1);
    },
  );
}
