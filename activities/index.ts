import { createActivityLifecycleActivities } from './activity-lifecycle.js';
import { createBookingRequestActivities } from './booking-request.js';
import type { ActivitiesDeps } from './deps.js';
import { createLifecycleSyncActivities } from './lifecycle-sync.js';
import { createSessionCancellationActivities } from './session-cancellation.js';
import { createSessionTimersActivities } from './session-timers.js';
import { createStudioEventActivities } from './studio-events.js';

export type { ActivitiesDeps };

/** Every activity the worker runs, built from its dependencies. */
export function createActivities(deps: ActivitiesDeps) {
  return {
    ...createActivityLifecycleActivities(deps.db),
    ...createLifecycleSyncActivities(deps),
    ...createBookingRequestActivities(deps),
    ...createSessionCancellationActivities(deps),
    ...createSessionTimersActivities(deps.db),
    ...createStudioEventActivities(deps),
  };
}
