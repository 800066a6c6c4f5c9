import { claimUnhandedDispatches, markHandedOver, postponeHandover, releaseStalledDispatches } from '../db/studio-events.js';
import type { Db } from '../db/index.js';
import { errorFields, type Logger } from '../lib/logger.js';
import { startPeriodic } from '../lib/periodic.js';
import type { EventDeliveryControl } from './clients/studio-events.js';

/**
 * The relay of events to the studio backend, in every API process, on the lifecycle relay's pattern
 * (`api/lifecycle-relay.ts`): events and their dispatches commit with the change (`db/studio-events.ts`), the relay
 * claims dispatches not handed over yet (SKIP LOCKED and a lease, so several processes share the work), wakes each
 * lane's delivery workflow once per claim (signal-with-start), and marks them handed over; while Temporal is down the
 * rows wait with backoff. Waking twice is harmless: the workflow reads its lane's pending events from the ledger.
 * Unlike the lifecycle outbox, nothing signals right after the commit: events are written by the worker as much as
 * by the API, so the relay polls every second instead, which bounds the added latency.
 */

const BACKOFF_MS = [1_000, 2_000, 5_000, 10_000, 30_000, 60_000];
/**
 * A pending dispatch with no attempt for this long has lost its workflow (a workflow waits at most 10 minutes between
 * attempts, and ends only with nothing pending): the sweep hands it over again.
 */
export const STALLED_AFTER_MS = 20 * 60_000;

export interface EventRelayOptions {
  db: Db;
  control: EventDeliveryControl;
  logger: Logger;
  /** How often the relay looks for dispatches to hand over (default 1 s). */
  intervalMs?: number;
  /** How often the sweep looks for stalled dispatches (default 60 s). */
  sweepIntervalMs?: number;
  stalledAfterMs?: number;
}

export function startEventRelay(options: EventRelayOptions): { tick: () => Promise<number>; sweep: () => Promise<number>; stop: () => Promise<void> } {
  const { db, control, logger, intervalMs = 1_000, sweepIntervalMs = 60_000, stalledAfterMs = STALLED_AFTER_MS } = options;
  let lastSweep = Date.now();

  async function tick(): Promise<number> {
    let handed = 0;
    for (;;) {
      const rows = await claimUnhandedDispatches(db, { limit: 100, leaseMs: 30_000 });
      if (rows.length === 0) break;
      const lanes = new Map<string, typeof rows>();
      for (const row of rows) {
        const key = `${row.endpoint_id}|${row.ordering_key}`;
        lanes.set(key, [...(lanes.get(key) ?? []), row]);
      }
      const pending = [...lanes.values()];
      let failed = false;
      for (const [index, lane] of pending.entries()) {
        const [first] = lane as [(typeof rows)[number]];
        try {
          await control.wake({ companyId: first.company_id, endpointId: first.endpoint_id, orderingKey: first.ordering_key });
          await markHandedOver(
            db,
            lane.map((r) => r.id),
          );
          handed += lane.length;
        } catch (error) {
          const rest = pending.slice(index).flat();
          const attempts = Math.max(...rest.map((r) => r.handover_attempts));
          await postponeHandover(
            db,
            rest.map((r) => r.id),
            BACKOFF_MS[Math.min(attempts, BACKOFF_MS.length) - 1] ?? 1_000,
            error instanceof Error ? error.message : String(error),
          );
          logger.warn({ endpointId: first.endpoint_id, orderingKey: first.ordering_key, attempts, ...errorFields(error) }, 'could not wake an event delivery; the dispatches wait');
          failed = true;
          break;
        }
      }
      if (failed) break;
    }
    if (handed > 0) logger.debug({ handed }, 'event dispatches handed to their delivery workflows');
    return handed;
  }

  async function sweep(): Promise<number> {
    const released = await releaseStalledDispatches(db, stalledAfterMs);
    if (released > 0) logger.warn({ dispatches: released }, 'event dispatches without a running delivery workflow: handing them over again');
    return released;
  }

  const periodic = startPeriodic(
    intervalMs,
    async () => {
      if (Date.now() - lastSweep >= sweepIntervalMs) {
        lastSweep = Date.now();
        await sweep();
      }
      await tick();
    },
    (error) => logger.warn(errorFields(error), 'event relay failed; retrying at the next interval'),
  );
  return { tick, sweep, stop: () => periodic.stop() };
}
