import type { AggregatorEndpoints } from '../aggregators/registry.js';
import type { AggregatorAdapter } from '../aggregators/types.js';
import type { Db } from '../db/index.js';
import type { Aggregator } from '../domain/model.js';
import type { SecretBox } from '../lib/secrets.js';

/** What the activities need: the Kysely instance, the secrets key, where each connection's calls go, the adapters. */
export interface ActivitiesDeps {
  db: Db;
  secretBox: SecretBox;
  endpoints: AggregatorEndpoints;
  adapters: Readonly<Record<Aggregator, AggregatorAdapter>>;
  /** Sessions starting within this much of now are listed (BOOKING_HORIZON_DAYS). */
  horizonMs: number;
  now?: () => Date;
}
