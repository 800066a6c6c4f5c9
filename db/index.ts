import { Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';
import type { Database } from './schema.js';

export type Db = Kysely<Database>;

// Return int8 (bigint, count(*)) as numbers: every count here fits comfortably.
pg.types.setTypeParser(pg.types.builtins.INT8, (value) => Number.parseInt(value, 10));

export function createDb(connectionString: string, poolSize = 10, onIdleError?: (error: Error) => void): Db {
  const pool = new pg.Pool({ connectionString, max: poolSize });
  // An idle client losing its server (restart, failover) must not crash the process; the next query reconnects.
  pool.on('error', (error) => onIdleError?.(error));
  return new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
}

/** Runs `select 1`; used by readiness checks. */
export async function pingDb(db: Db): Promise<void> {
  await db.selectNoFrom((eb) => eb.lit(1).as('ok')).execute();
}
