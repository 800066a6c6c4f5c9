import { Migrator, type Migration, type MigrationProvider, type MigrationResultSet } from 'kysely';
import type { Db } from './index.js';
import * as m0001 from './migrations/0001_initial.js';
import * as m0002 from './migrations/0002_sync_state.js';
import * as m0003 from './migrations/0003_customer_erasure.js';
import * as m0004 from './migrations/0004_booking_requests.js';
import * as m0005 from './migrations/0005_session_cancellations.js';
import * as m0006 from './migrations/0006_connection_scoped_bookings.js';
import * as m0007 from './migrations/0007_cancellation_sweep.js';
import * as m0008 from './migrations/0008_lifecycle_outbox.js';
import * as m0009 from './migrations/0009_inbox_handover.js';
import * as m0010 from './migrations/0010_event_endpoints.js';
import * as m0011 from './migrations/0011_no_shows_and_spot_release.js';
import * as m0012 from './migrations/0012_metrics_indexes.js';
import * as m0013 from './migrations/0013_retention.js';

/**
 * Migrations are listed here rather than discovered on disk, so they work the same from TypeScript sources,
 * from the compiled build and inside the Docker image.
 */
const migrations: Record<string, Migration> = {
  '0001_initial': m0001,
  '0002_sync_state': m0002,
  '0003_customer_erasure': m0003,
  '0004_booking_requests': m0004,
  '0005_session_cancellations': m0005,
  '0006_connection_scoped_bookings': m0006,
  '0007_cancellation_sweep': m0007,
  '0008_lifecycle_outbox': m0008,
  '0009_inbox_handover': m0009,
  '0010_event_endpoints': m0010,
  '0011_no_shows_and_spot_release': m0011,
  '0012_metrics_indexes': m0012,
  '0013_retention': m0013,
};

const provider: MigrationProvider = { getMigrations: () => Promise.resolve(migrations) };

export async function migrateToLatest(db: Db): Promise<string[]> {
  const migrator = new Migrator({ db, provider });
  const result: MigrationResultSet = await migrator.migrateToLatest();
  if (result.error !== undefined) {
    const failed = result.results?.find((r) => r.status === 'Error');
    const cause = result.error instanceof Error ? result.error.message : JSON.stringify(result.error) ?? 'unknown error';
    throw new Error(`migration ${failed?.migrationName ?? '(unknown)'} failed: ${cause}`, { cause: result.error });
  }
  return (result.results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName);
}
