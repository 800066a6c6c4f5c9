import { errorFields, type Logger } from './logger.js';
import { startPeriodic } from './periodic.js';

/**
 * What the outbox relays beside the API share (`api/lifecycle-relay.ts`, `api/session-timers-relay.ts`,
 * `api/event-relay.ts`): each claims due rows of its outbox (`FOR UPDATE SKIP LOCKED` and a lease, so several
 * processes share the work), hands each group of rows to Temporal with one signal, marks a group done once Temporal
 * took it, and at the first failure (Temporal is most likely down) puts every row left back with backoff and stops.
 * Each relay keeps its own table, grouping and signal; the loop, the backoff and the timing live here once.
 */

/** The wait before a row is tried again, by the times it has been claimed: 1 s at the first failure, at most a minute. */
const BACKOFF_MS = [1_000, 2_000, 5_000, 10_000, 30_000, 60_000];

/** Every claim counts an attempt, so a row that failed has at least one. */
export function outboxBackoffMs(attempts: number): number {
  return BACKOFF_MS[Math.min(Math.max(attempts, 1), BACKOFF_MS.length) - 1] as number;
}

export interface GroupDelivery<Row extends { id: string | number }> {
  /** Rows with the same key are one signal (the workflow would coalesce them anyway). */
  key(row: Row): string;
  /** Signals the group, from its first row (the group's rows share the key). */
  deliver(first: Row): Promise<void>;
  /** The group was taken: its rows leave the outbox (deleted, or marked handed over). */
  done(ids: Array<Row['id']>): Promise<void>;
  /** Puts the rows back until `retryInMs` from now, with the failure's message. */
  postpone(ids: Array<Row['id']>, retryInMs: number, error: string): Promise<void>;
  attempts(row: Row): number;
  /** Reports the failure (after the rows are put back) with the highest attempt count of the rows put back. */
  warn(first: Row, attempts: number, error: unknown): void;
}

/**
 * Delivers the rows group by group, in the order of their first row; returns how many rows were delivered, fewer
 * than given when a delivery failed (the failed group and every later one are postponed). Throws only when the ledger
 * does (marking done or postponing): the rows then stay claimed until their lease ends.
 */
export async function deliverGroups<Row extends { id: string | number }>(rows: readonly Row[], delivery: GroupDelivery<Row>): Promise<number> {
  const groups = new Map<string, Row[]>();
  for (const row of rows) {
    const key = delivery.key(row);
    groups.set(key, [...(groups.get(key) ?? []), row]);
  }
  let delivered = 0;
  const pending = [...groups.values()];
  for (const [index, group] of pending.entries()) {
    const [first] = group as [Row];
    try {
      await delivery.deliver(first);
      await delivery.done(group.map((r) => r.id));
      delivered += group.length;
    } catch (error) {
      const rest = pending.slice(index).flat();
      const attempts = Math.max(...rest.map((r) => delivery.attempts(r)));
      await delivery.postpone(
        rest.map((r) => r.id),
        outboxBackoffMs(attempts),
        error instanceof Error ? error.message : String(error),
      );
      delivery.warn(first, attempts, error);
      break;
    }
  }
  return delivered;
}

/**
 * Claims and delivers batch after batch until the outbox has nothing due, or a delivery fell short (Temporal is most
 * likely down: the next tick tries again). Returns how many rows were delivered.
 */
export async function drainOutbox<Row>(claim: () => Promise<readonly Row[]>, deliver: (rows: readonly Row[]) => Promise<number>): Promise<number> {
  let delivered = 0;
  for (;;) {
    const rows = await claim();
    if (rows.length === 0) return delivered;
    const sent = await deliver(rows);
    delivered += sent;
    if (sent < rows.length) return delivered;
  }
}

export interface RelayTimingOptions {
  /** Names the relay in the warning a failed run logs (`<name> failed; retrying at the next interval`). */
  name: string;
  logger: Logger;
  intervalMs: number;
  tick: () => Promise<unknown>;
  /** A sweep run before the tick at most every `everyMs`: from the first tick (`at-start`), or an interval after. */
  sweep?: { run: () => Promise<unknown>; everyMs: number; first: 'at-start' | 'after-an-interval' };
}

/** Runs the relay's tick (and its sweep) on `lib/periodic.ts`'s timer; `stop` ends it and waits for a run under way. */
export function startRelayTimer(options: RelayTimingOptions): { stop: () => Promise<void> } {
  const { name, logger, intervalMs, tick, sweep } = options;
  let lastSweep = sweep?.first === 'at-start' ? 0 : Date.now();
  return startPeriodic(
    intervalMs,
    async () => {
      if (sweep && Date.now() - lastSweep >= sweep.everyMs) {
        lastSweep = Date.now();
        await sweep.run();
      }
      await tick();
    },
    (error) => logger.warn(errorFields(error), `${name} failed; retrying at the next interval`),
  );
}

/**
 * A retention sweep: runs `deleteBatch` (which deletes at most `batchSize` rows, oldest first, and says how many) until a
 * batch comes back short or `maxBatches` ran, so each statement is short and a large backlog is worked off over a
 * few sweeps. Returns how many rows were deleted.
 */
export async function deleteInBatches(deleteBatch: (limit: number) => Promise<number>, batchSize = 1_000, maxBatches = 10): Promise<number> {
  let deleted = 0;
  for (let batch = 0; batch < maxBatches; batch += 1) {
    const n = await deleteBatch(batchSize);
    deleted += n;
    if (n < batchSize) break;
  }
  return deleted;
}
