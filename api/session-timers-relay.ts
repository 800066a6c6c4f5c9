import type { Db } from '../db/index.js';
import { claimDueSessionTimers, deleteSessionTimers, postponeSessionTimers, type SessionTimersRow } from '../db/session-timers.js';
import { errorFields, type Logger } from '../lib/logger.js';
import { startPeriodic } from '../lib/periodic.js';
import type { SessionTimersControl } from './clients/session-timers.js';

/**
 * Hands created or changed sessions to their timer workflows. The session change and its outbox row commit together
 * (`db/session-timers.ts`), so a change can never miss its timers, even with Temporal down when it is written: this
 * relay, in every API process, signals the rows (signal-with-start, so a missing workflow is started) and deletes each
 * once Temporal took it, with backoff while Temporal does not answer. No API request waits on it: the timers' moments
 * are minutes to days away, and the relay delivers within seconds. Safe from several processes (claims skip each
 * other's rows) and safe twice (the workflow only reads the ledger again).
 */
const BACKOFF_MS = [1_000, 2_000, 5_000, 10_000, 30_000, 60_000];

export function startSessionTimersRelay(options: { db: Db; timers: SessionTimersControl; logger: Logger; intervalMs?: number }): {
  tick: () => Promise<number>;
  stop: () => Promise<void>;
} {
  const { db, timers, logger, intervalMs = 2_000 } = options;

  async function deliver(rows: readonly SessionTimersRow[]): Promise<number> {
    const groups = new Map<string, SessionTimersRow[]>();
    for (const row of rows) groups.set(row.session_id, [...(groups.get(row.session_id) ?? []), row]);
    let delivered = 0;
    const pending = [...groups.values()];
    for (const [index, group] of pending.entries()) {
      const [row] = group as [SessionTimersRow];
      try {
        await timers.sessionChanged({ companyId: row.company_id, sessionId: row.session_id });
        await deleteSessionTimers(db, group.map((r) => r.id));
        delivered += group.length;
      } catch (error) {
        const rest = pending.slice(index).flat();
        const attempts = Math.max(...rest.map((r) => r.attempts));
        await postponeSessionTimers(db, rest.map((r) => r.id), BACKOFF_MS[Math.min(attempts, BACKOFF_MS.length - 1)] as number, error instanceof Error ? error.message : String(error));
        logger.warn({ sessionId: row.session_id, attempts, ...errorFields(error) }, 'could not signal the session timers; the outbox keeps the change');
        break;
      }
    }
    return delivered;
  }

  async function tick(): Promise<number> {
    let delivered = 0;
    for (;;) {
      const rows = await claimDueSessionTimers(db, { limit: 50, leaseMs: 30_000 });
      if (rows.length === 0) break;
      const sent = await deliver(rows);
      delivered += sent;
      if (sent < rows.length) break;
    }
    if (delivered > 0) logger.debug({ delivered }, 'session timers signalled from the outbox');
    return delivered;
  }

  const periodic = startPeriodic(intervalMs, tick, (error) => logger.warn(errorFields(error), 'session timers relay failed; retrying at the next interval'));
  return { tick, stop: () => periodic.stop() };
}
