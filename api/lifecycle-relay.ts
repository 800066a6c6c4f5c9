import {
  claimDueChanges,
  deleteChanges,
  offeredActivities,
  postponeChanges,
  recordChange,
  recordOrphanedLifecycles,
  type LifecycleKey,
  type OutboxRow,
} from '../db/lifecycle-outbox.js';
import type { Db } from '../db/index.js';
import { errorFields, type Logger } from '../lib/logger.js';
import type { ActivityChange } from '../workflows/activity-lifecycle/contract.js';
import type { LifecycleControl } from './clients/activity-lifecycle.js';
import { deliverGroups, drainOutbox, startRelayTimer } from '../lib/outbox-relay.js';

/**
 * How a change reaches the activity lifecycle, the way a payments-grade webhook platform delivers an event: the
 * change and its outbox row commit together (`db/lifecycle-outbox.ts`), the request signals right after its commit
 * (latency), and a relay signals whatever is left, with backoff, until Temporal has taken it. Temporal being slow or
 * down then costs latency, never a lost change: no aggregator keeps showing a spot the ledger no longer has, and no
 * opted-in activity stays without its lifecycle. Signals are idempotent (signal-with-start on the activity's
 * workflow id; the workflow coalesces changes), so delivering one twice is harmless.
 */
export interface LifecycleSignals {
  /** Signals these rows now and deletes the ones Temporal took; a failure leaves the row to the relay. Never throws. */
  deliver(rows: ReadonlyArray<OutboxRow | undefined>): Promise<void>;
  /** For a change made outside a transaction: records it, then delivers it. Never throws once recorded. */
  notifyChange(activity: LifecycleKey, change: ActivityChange): Promise<void>;
}

export function lifecycleSignals(options: { db: Db; lifecycle: LifecycleControl; logger: Logger }): LifecycleSignals & {
  /** Delivers rows; returns how many were delivered and stops at the first failure (Temporal is most likely down). */
  deliverAll(rows: readonly OutboxRow[]): Promise<number>;
} {
  const { db, lifecycle, logger } = options;

  async function deliverAll(rows: readonly OutboxRow[]): Promise<number> {
    if (rows.length === 0) return 0;
    const offered = await offeredActivities(
      db,
      rows.map((r) => r.activity_id),
    );
    return deliverGroups(rows, {
      // One signal per distinct change: the workflow would coalesce the copies anyway.
      key: (row) => `${row.activity_id}|${row.change_kind}|${row.change_id}`,
      // The ledger decides, as the workflow does: an activity no longer offered is told to stop, not started.
      deliver: (row) =>
        offered.has(row.activity_id)
          ? lifecycle.signalChange({ companyId: row.company_id, venueId: row.venue_id, activityId: row.activity_id }, { kind: row.change_kind, id: row.change_id })
          : lifecycle.optOut(row.activity_id),
      done: (ids) => deleteChanges(db, ids),
      postpone: (ids, retryInMs, error) => postponeChanges(db, ids, retryInMs, error),
      attempts: (row) => row.attempts,
      warn: (row, attempts, error) =>
        logger.warn({ activityId: row.activity_id, change: { kind: row.change_kind, id: row.change_id }, attempts, ...errorFields(error) }, 'could not signal the activity lifecycle; the outbox keeps the change'),
    });
  }

  async function deliver(rows: ReadonlyArray<OutboxRow | undefined>): Promise<void> {
    try {
      await deliverAll(rows.filter((r): r is OutboxRow => r !== undefined));
    } catch (error) {
      // Only the ledger itself failing gets here: the rows stay, and the relay takes them.
      logger.warn(errorFields(error), 'lifecycle signal left to the relay');
    }
  }

  return {
    deliverAll,
    deliver,
    async notifyChange(activity, change) {
      await deliver([await recordChange(db, activity, change)]);
    },
  };
}

export interface LifecycleRelayOptions {
  db: Db;
  lifecycle: LifecycleControl;
  logger: Logger;
  /** The lifecycle's periodic reconciliation interval: a lifecycle silent for twice as long (plus 5 minutes) is restarted. */
  syncIntervalMs: number;
  /** How often the relay looks for due rows (default 2 s). */
  intervalMs?: number;
  /** Rows younger than this are left to the request that wrote them (default 3 s). */
  graceMs?: number;
  /** How often the sweep looks for offered activities without a running lifecycle (default 60 s). */
  sweepIntervalMs?: number;
}

/**
 * The relay and the sweep, in every API process (several may run: claims skip each other's rows). The relay signals
 * the outbox's due rows; the sweep writes a row for every offered activity whose lifecycle is not known to run (an
 * opt-in from before the outbox, a workflow terminated by hand), so the relay starts it.
 */
export function startLifecycleRelay(options: LifecycleRelayOptions): {
  tick: () => Promise<number>;
  sweep: () => Promise<number>;
  stop: () => Promise<void>;
} {
  const { db, logger, intervalMs = 2_000, graceMs = 3_000, sweepIntervalMs = 60_000 } = options;
  const signals = lifecycleSignals(options);
  const staleAfterMs = 2 * options.syncIntervalMs + 5 * 60_000;

  async function tick(): Promise<number> {
    const delivered = await drainOutbox(() => claimDueChanges(db, { limit: 50, leaseMs: 30_000, graceMs }), (rows) => signals.deliverAll(rows));
    if (delivered > 0) logger.info({ delivered }, 'lifecycle changes signalled from the outbox');
    return delivered;
  }

  async function sweep(): Promise<number> {
    const found = await recordOrphanedLifecycles(db, new Date(Date.now() - staleAfterMs));
    if (found > 0) logger.warn({ activities: found }, 'offered activities without a running lifecycle: starting them');
    return found;
  }

  const periodic = startRelayTimer({ name: 'lifecycle relay', logger, intervalMs, tick, sweep: { run: sweep, everyMs: sweepIntervalMs, first: 'at-start' } });
  return {
    tick,
    sweep,
    stop: () => periodic.stop(),
  };
}
