import { createPartnerAdapter, type PartnerAdapterOptions } from './adapter.js';
import type { PartnerProfile } from './profile.js';
import { createPartnerSandbox, startPartnerSandbox, type PartnerSandboxOptions } from './sandbox.js';

/** The adapter and sandbox factories of one aggregator on the generic contract, bound to its profile. */
export function partnerBindings(profile: PartnerProfile) {
  return {
    createAdapter: (options?: PartnerAdapterOptions) => createPartnerAdapter(profile, options),
    createSandbox: (options: PartnerSandboxOptions) => createPartnerSandbox(profile, options),
    startSandbox: (options: Parameters<typeof startPartnerSandbox>[1]) => startPartnerSandbox(profile, options),
  };
}
