import { createActivityLifecycleActivities } from './activity-lifecycle.js';
import { createSyncActivities, type SyncDeps } from './activity-lifecycle-sync.js';
import { createBookingRequestActivities } from './booking-request.js';
import { createSessionCancellationActivities } from './session-cancellation.js';

/** What the activities need: the Kysely instance, the secrets key, where each connection's calls go, the adapters. */
export type ActivityDeps = SyncDeps;

/** Every activity the worker runs, built from its dependencies. */
export function createActivities(deps: ActivityDeps) {
  return {
    ...createActivityLifecycleActivities(deps.db),
    ...createSyncActivities(deps),
    ...createBookingRequestActivities(deps),
    ...createSessionCancellationActivities(deps),
  };
}
