import { claimUnhandedDispatches, deleteExpiredEvents, markHandedOver, postponeHandover, releaseStalledDispatches } from '../db/studio-events.js';
import type { Db } from '../db/index.js';
import { errorFields, type Logger } from '../lib/logger.js';
import { deleteInBatches, deliverGroups, drainOutbox, startRelayTimer } from '../lib/outbox-relay.js';
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
  /** Events older than this are deleted by the sweep, with their dispatches and delivery log (default 30 days). */
  retentionMs?: number;
}

/** The default of EVENTS_RETENTION_DAYS. */
export const EVENT_RETENTION_MS = 30 * 86_400_000;


export function startEventRelay(options: EventRelayOptions): { tick: () => Promise<number>; sweep: () => Promise<number>; stop: () => Promise<void> } {
  const { db, control, logger, intervalMs = 1_000, sweepIntervalMs = 60_000, stalledAfterMs = STALLED_AFTER_MS, retentionMs = EVENT_RETENTION_MS } = options;

  async function tick(): Promise<number> {
    const handed = await drainOutbox(
      () => claimUnhandedDispatches(db, { limit: 100, leaseMs: 30_000 }),
      (rows) =>
        deliverGroups(rows, {
          key: (row) => `${row.endpoint_id}|${row.ordering_key}`,
          deliver: (first) => control.wake({ companyId: first.company_id, endpointId: first.endpoint_id, orderingKey: first.ordering_key }),
          done: (ids) => markHandedOver(db, ids),
          postpone: (ids, retryInMs, error) => postponeHandover(db, ids, retryInMs, error),
          attempts: (row) => row.handover_attempts,
          warn: (first, attempts, error) =>
            logger.warn({ endpointId: first.endpoint_id, orderingKey: first.ordering_key, attempts, ...errorFields(error) }, 'could not wake an event delivery; the dispatches wait'),
        }),
    );
    if (handed > 0) logger.debug({ handed }, 'event dispatches handed to their delivery workflows');
    return handed;
  }

  /** Hands over again what lost its workflow, then deletes what is past the retention; returns the dispatches handed over. */
  async function sweep(): Promise<number> {
    const released = await releaseStalledDispatches(db, stalledAfterMs);
    if (released > 0) logger.warn({ dispatches: released }, 'event dispatches without a running delivery workflow: handing them over again');
    const deleted = await deleteInBatches((limit) => deleteExpiredEvents(db, retentionMs, limit));
    if (deleted > 0) logger.info({ events: deleted }, 'events past their retention deleted');
    return released;
  }

  const periodic = startRelayTimer({ name: 'event relay', logger, intervalMs, tick, sweep: { run: sweep, everyMs: sweepIntervalMs, first: 'after-an-interval' } });
  return { tick, sweep, stop: () => periodic.stop() };
}
