import { createPartnerAdapter, type PartnerAdapterOptions } from './adapter.js';
import type { PartnerProfile } from './profile.js';

/** The adapter factory of one aggregator on the generic contract, bound to its profile (its sandbox: ./sandbox/). */
export function partnerBindings(profile: PartnerProfile) {
  return {
    createAdapter: (options?: PartnerAdapterOptions) => createPartnerAdapter(profile, options),
  };
}
