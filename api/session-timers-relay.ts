import type { Db } from '../db/index.js';
import { claimDueSessionTimers, deleteSessionTimers, postponeSessionTimers } from '../db/session-timers.js';
import { errorFields, type Logger } from '../lib/logger.js';
import { deliverGroups, drainOutbox, startRelayTimer } from '../lib/outbox-relay.js';
import type { SessionTimersControl } from './clients/session-timers.js';

/**
 * Hands created or changed sessions to their timer workflows. The session change and its outbox row commit together
 * (`db/session-timers.ts`), so a change can never miss its timers, even with Temporal down when it is written: this
 * relay, in every API process, signals the rows (signal-with-start, so a missing workflow is started) and deletes each
 * once Temporal took it, with backoff while Temporal does not answer. No API request waits on it: the timers' moments
 * are minutes to days away, and the relay delivers within seconds. Safe from several processes (claims skip each
 * other's rows) and safe twice (the workflow only reads the ledger again).
 */
export function startSessionTimersRelay(options: { db: Db; timers: SessionTimersControl; logger: Logger; intervalMs?: number }): {
  tick: () => Promise<number>;
  stop: () => Promise<void>;
} {
  const { db, timers, logger, intervalMs = 2_000 } = options;

  async function tick(): Promise<number> {
    const delivered = await drainOutbox(
      () => claimDueSessionTimers(db, { limit: 50, leaseMs: 30_000 }),
      (rows) =>
        deliverGroups(rows, {
          key: (row) => row.session_id,
          deliver: (row) => timers.sessionChanged({ companyId: row.company_id, sessionId: row.session_id }),
          done: (ids) => deleteSessionTimers(db, ids),
          postpone: (ids, retryInMs, error) => postponeSessionTimers(db, ids, retryInMs, error),
          attempts: (row) => row.attempts,
          warn: (row, attempts, error) => logger.warn({ sessionId: row.session_id, attempts, ...errorFields(error) }, 'could not signal the session timers; the outbox keeps the change'),
        }),
    );
    if (delivered > 0) logger.debug({ delivered }, 'session timers signalled from the outbox');
    return delivered;
  }

  const periodic = startRelayTimer({ name: 'session timers relay', logger, intervalMs, tick });
  return { tick, stop: () => periodic.stop() };
}
