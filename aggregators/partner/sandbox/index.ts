/**
 * The sandbox of the generic partner contract (a runnable in-memory fake of the partner API, for tests, `npm run
 * sandbox` and `npm start`), configured by an aggregator's profile. Sandbox-only: production code never imports it.
 */
import type { PartnerProfile } from '../profile.js';
import { createPartnerSandbox, startPartnerSandbox, type PartnerSandboxOptions } from './server.js';

export { createPartnerSandbox, startPartnerSandbox, type PartnerSandboxOptions } from './server.js';
export type { PartnerSandbox, PartnerSandboxApp, PartnerSandboxState, SentEvent } from './handle.js';
export type { Delivery, DeliveryAttempt } from './webhooks.js';
export type { BookingRequestInput } from './store.js';

/** The sandbox factories of one aggregator on the generic contract, bound to its profile. */
export function partnerSandboxBindings(profile: PartnerProfile) {
  return {
    createSandbox: (options: PartnerSandboxOptions) => createPartnerSandbox(profile, options),
    startSandbox: (options: Parameters<typeof startPartnerSandbox>[1]) => startPartnerSandbox(profile, options),
  };
}
