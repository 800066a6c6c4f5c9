import type { Db } from '../db/index.js';
import { createActivityLifecycleActivities } from './activity-lifecycle.js';

export interface ActivityDeps {
  db: Db;
}

/** Every activity the worker runs, built from its dependencies (the Kysely instance, and the HTTP clients to come). */
export function createActivities(deps: ActivityDeps) {
  return {
    ...createActivityLifecycleActivities(deps.db),
  };
}
