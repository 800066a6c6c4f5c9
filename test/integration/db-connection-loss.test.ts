import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createDb, type Db } from '../../db/index.js';
import { createTestDatabase, eventually } from '../support/harness.js';

// PostgreSQL going away under a query in flight (a restart, a failover) is a normal event: the query fails, the
// process lives on, and the next query gets a new connection. Without a listener on every client, pg raises an
// unhandled 'error' event on the checked-out client, which kills the process (here: the test worker).

let url: string;
let drop: () => Promise<void>;
let admin: Db;
beforeAll(async () => {
  const created = await createTestDatabase();
  ({ url, drop } = created);
  admin = created.db;
});
afterAll(async () => {
  await drop?.();
});

describe('a lost PostgreSQL connection', () => {
  it('fails the query in flight, reports the loss, and leaves the process and the pool working', async () => {
    expect(inject('postgresUrl')).toBeTruthy();
    const lost: Error[] = [];
    const db = createDb(url, 2, (error) => lost.push(error));
    try {
      const pids = await Promise.all([0, 1].map(() => sql<{ pid: number }>`select pg_backend_pid() as pid`.execute(db)));
      expect(pids.length).toBe(2);
      // Two queries in flight on the two clients; the server ends both backends, as a restart would.
      const inFlight = [0, 1].map(() => sql`select pg_sleep(30)`.execute(db).then(() => 'finished', (error: unknown) => (error as Error).message));
      await new Promise((resolve) => setTimeout(resolve, 300));
      await sql`select pg_terminate_backend(pid) from pg_stat_activity where query = 'select pg_sleep(30)'`.execute(admin);
      const outcomes = await Promise.all(inFlight);
      expect(outcomes.every((o) => o !== 'finished')).toBe(true);
      // A client whose socket closes just after its query failed may serve one more query, which fails in turn (the
      // callers retry such failures); the pool then has only fresh connections.
      const after = await eventually(() => sql<{ one: number }>`select 1 as one`.execute(db).then((r) => r.rows[0]?.one, () => undefined), 5_000, 'a query to succeed again');
      expect(after).toBe(1);
      expect(lost.length).toBeGreaterThan(0);
    } finally {
      await db.destroy();
    }
  });
});
