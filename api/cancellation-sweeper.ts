import { claimOpenCancellations } from '../db/session-cancellations.js';
import type { Db } from '../db/index.js';
import { errorFields, type Logger } from '../lib/logger.js';
import type { CancellationControl } from './clients/session-cancellation.js';
import { startPeriodic } from '../lib/periodic.js';

export interface CancellationSweeperOptions {
  db: Db;
  cancellations: CancellationControl;
  logger: Logger;
  /** How often it looks (default 60 s). */
  intervalMs?: number;
  /** Cancellations younger than this are left to the request that is starting them (default 60 s). */
  graceMs?: number;
  /** A cancellation checked by a sweep is checked again after this long at the soonest (default 5 minutes). */
  recheckMs?: number;
  /** At most this many cancellations per look (default 100); the ones checked longest ago come first. */
  batch?: number;
}

/**
 * The other half of "final in the ledger at once": a cancellation committed but not completed whose fan-out workflow
 * is not running (it ended before its work was done, its start was lost, someone terminated it) is started again,
 * so every aggregator hears of it whatever happened to the first run. Every API process may run one: claims skip
 * rows another sweep holds, and a start joins a run already going (workflow id conflict policy USE_EXISTING).
 */
export function startCancellationSweeper(options: CancellationSweeperOptions): { tick: () => Promise<number>; stop: () => Promise<void> } {
  const { db, cancellations, logger, intervalMs = 60_000, graceMs = 60_000, recheckMs = 5 * 60_000, batch = 100 } = options;

  /** One look; returns how many fan-outs it started again. */
  async function tick(): Promise<number> {
    const now = Date.now();
    const open = await claimOpenCancellations(db, { requestedBefore: new Date(now - graceMs), sweptBefore: new Date(now - recheckMs), limit: batch });
    let restarted = 0;
    for (const c of open) {
      const started = await cancellations.restart({
        companyId: c.company_id,
        venueId: c.venue_id,
        activityId: c.activity_id,
        sessionId: c.session_id,
        reason: c.reason,
      });
      if (started) {
        restarted += 1;
        logger.warn({ sessionId: c.session_id }, 'cancellation fan-out was not running: started again');
      }
    }
    return restarted;
  }

  const periodic = startPeriodic(intervalMs, tick, (error) => logger.warn(errorFields(error), 'cancellation sweep failed; retrying at the next interval'));
  return {
    tick,
    stop: () => periodic.stop(),
  };
}
