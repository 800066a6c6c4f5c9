import { asyncPartnerProfile, partnerBindings } from '../partner/index.js';

/**
 * Workit on the generic partner contract. Public (help-centre article): schedule push, bookings and cancellations from
 * Workit, members matched by Workit ID, and a cancelled activity is reported to Workit. Nothing about its API is
 * published, so the asynchronous answer, the 15-minute deadline and the redelivery schedule are our assumptions to
 * certify (aggregators/partner/CONTRACT.md).
 */
export const workitProfile = asyncPartnerProfile({
  aggregator: 'workit',
  displayName: 'Workit',
  defaultBaseUrl: 'https://partner-api.workit.invalid',
});

export const { createAdapter: createWorkitAdapter } = partnerBindings(workitProfile);
export const workitAdapter = createWorkitAdapter();
