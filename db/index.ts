import { Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';
import type { Database } from './schema.js';

export type Db = Kysely<Database>;

// Return int8 (bigint, count(*)) as numbers: every count here fits comfortably.
pg.types.setTypeParser(pg.types.builtins.INT8, (value) => Number.parseInt(value, 10));

export function createDb(connectionString: string, poolSize = 10, onConnectionError?: (error: Error) => void): Db {
  const pool = new pg.Pool({ connectionString, max: poolSize });
  // A client losing its server (a restart, a failover) must never crash the process. The pool listens on idle clients
  // only and takes its listener off a client while it is checked out, so a query in flight when the server goes away
  // would raise an 'error' event nobody hears: every client gets a listener of its own for its whole life. The query
  // itself fails (its caller retries: a Temporal activity, an API request answered 503), and the pool discards the
  // broken client and connects a new one.
  pool.on('error', (error) => onConnectionError?.(error));
  pool.on('connect', (client) => {
    client.on('error', (error) => onConnectionError?.(error));
  });
  return new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
}

/** Runs `select 1`; used by readiness checks. */
export async function pingDb(db: Db): Promise<void> {
  await db.selectNoFrom((eb) => eb.lit(1).as('ok')).execute();
}
