import { sql } from 'kysely';
import type { LedgerState } from '../lib/metrics.js';
import type { Db } from './index.js';

/**
 * What the metrics' state gauges show, read at scrape time in one read-only transaction of a few aggregate queries,
 * each on an index that holds only the open rows (0009's inbox indexes, 0012's), so a scrape costs the same whatever
 * the history. `statement_timeout` bounds every statement: a slow or locked database fails the read (the scrape then
 * says `ledger_read_up 0`) instead of holding a connection. Ages are computed by PostgreSQL against its own clock,
 * the one that wrote the timestamps. Counts only, across every company: no company's ids but its connections' appear.
 */
export async function readLedgerState(db: Db, timeoutMs: number): Promise<LedgerState> {
  const timeout = Math.max(1, Math.floor(timeoutMs));
  return db.transaction().execute(async (trx) => {
    await sql`SET TRANSACTION READ ONLY`.execute(trx);
    await sql.raw(`SET LOCAL statement_timeout = ${timeout}`).execute(trx);

    const requests = await sql<{ aggregator: string; stage: 'awaiting_approval' | 'answering'; waiting: number; oldest_age: number; nearest_deadline: number }>`
      SELECT aggregator,
             CASE WHEN decision = 'awaiting_approval' THEN 'awaiting_approval' ELSE 'answering' END AS stage,
             count(*)::int AS waiting,
             extract(epoch FROM now() - min(requested_at))::float8 AS oldest_age,
             extract(epoch FROM min(deadline_at) - now())::float8 AS nearest_deadline
        FROM booking_requests
       WHERE answer = 'pending'
       GROUP BY 1, 2`.execute(trx);

    const waiting = await sql<{ aggregator: string; waiting: number; oldest_age: number }>`
      SELECT aggregator, count(*)::int AS waiting, extract(epoch FROM now() - min(received_at))::float8 AS oldest_age
        FROM webhook_inbox
       WHERE dispatched_at IS NULL AND dead_at IS NULL
       GROUP BY 1`.execute(trx);
    const dead = await sql<{ aggregator: string; dead: number }>`
      SELECT aggregator, count(*)::int AS dead FROM webhook_inbox WHERE dead_at IS NOT NULL GROUP BY 1`.execute(trx);

    // Per active connection, over its activities' publications: the last pass of each either cleared last_error and
    // wrote last_synced_at, or left its error standing (retrying, or refused for good until the content changes).
    const connections = await sql<{ id: string; aggregator: string; errors: number; lag: number | null; last_error_at: number | null }>`
      SELECT c.id, c.aggregator,
             count(p.activity_id) FILTER (WHERE p.last_error IS NOT NULL)::int AS errors,
             extract(epoch FROM now() - min(p.last_synced_at) FILTER (WHERE NOT p.hidden))::float8 AS lag,
             extract(epoch FROM max(p.last_error_at) FILTER (WHERE p.last_error IS NOT NULL))::float8 AS last_error_at
        FROM connections c
        LEFT JOIN activity_publications p ON p.connection_id = c.id
       WHERE c.status = 'active'
       GROUP BY c.id, c.aggregator`.execute(trx);

    const branches = await sql<{ aggregator: string; status: 'pending' | 'retrying'; open: number; oldest_age: number }>`
      SELECT b.aggregator, b.status, count(*)::int AS open, extract(epoch FROM now() - min(sc.requested_at))::float8 AS oldest_age
        FROM session_cancellation_branches b
        JOIN session_cancellations sc ON sc.session_id = b.session_id
       WHERE b.status IN ('pending', 'retrying')
       GROUP BY 1, 2`.execute(trx);

    const outbox = await sql<{ waiting: number; oldest_age: number | null }>`
      SELECT count(*)::int AS waiting, extract(epoch FROM now() - min(created_at))::float8 AS oldest_age FROM lifecycle_outbox`.execute(trx);

    const deadBy = new Map(dead.rows.map((row) => [row.aggregator, row.dead]));
    const inboxAggregators = new Set([...waiting.rows.map((row) => row.aggregator), ...deadBy.keys()]);
    return {
      requests: requests.rows.map((row) => ({
        aggregator: row.aggregator,
        stage: row.stage,
        waiting: row.waiting,
        oldestAgeSeconds: row.oldest_age,
        nearestDeadlineSeconds: row.nearest_deadline,
      })),
      inbox: [...inboxAggregators].map((aggregator) => {
        const row = waiting.rows.find((r) => r.aggregator === aggregator);
        return { aggregator, waiting: row?.waiting ?? 0, oldestWaitingAgeSeconds: row?.oldest_age ?? null, dead: deadBy.get(aggregator) ?? 0 };
      }),
      connections: connections.rows.map((row) => ({
        connectionId: row.id,
        aggregator: row.aggregator,
        syncErrors: row.errors,
        syncLagSeconds: row.lag,
        lastErrorAtSeconds: row.last_error_at,
      })),
      cancellationBranches: branches.rows.map((row) => ({ aggregator: row.aggregator, status: row.status, open: row.open, oldestAgeSeconds: row.oldest_age })),
      lifecycleOutbox: { waiting: outbox.rows[0]?.waiting ?? 0, oldestAgeSeconds: outbox.rows[0]?.oldest_age ?? null },
    };
  });
}
