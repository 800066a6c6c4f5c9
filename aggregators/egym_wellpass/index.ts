import { asyncPartnerProfile, partnerBindings } from '../partner/index.js';

/**
 * EGYM Wellpass on the generic partner contract. Public (help-centre article): schedule push, bookings and
 * cancellations from EGYM Wellpass, its bookings cannot be cancelled one by one, and a cancelled activity is reported to
 * it. Known from the product brief: it cancels whole slots (sessions), never single bookings, so the adapter refuses
 * cancelBookingByGym and the cancellation flow uses cancelSession. The rest is our assumption to certify
 * (aggregators/partner/CONTRACT.md).
 */
export const egymWellpassProfile = asyncPartnerProfile({
  aggregator: 'egym_wellpass',
  displayName: 'EGYM Wellpass',
  defaultBaseUrl: 'https://partner-api.egym-wellpass.invalid',
  capabilities: { cancelsWholeSessions: true },
});

export const { createAdapter: createEgymWellpassAdapter } = partnerBindings(egymWellpassProfile);
export const egymWellpassAdapter = createEgymWellpassAdapter();
