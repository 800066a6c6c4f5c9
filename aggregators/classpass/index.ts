import { asyncPartnerProfile, partnerBindings } from '../partner/index.js';

/**
 * ClassPass on the generic partner contract. Public (help-centre article): schedule push, bookings and cancellations
 * from ClassPass, members matched by ClassPass ID. Nothing about its API is published, so the asynchronous answer,
 * the 15-minute deadline and the redelivery schedule are our assumptions to certify (aggregators/partner/CONTRACT.md).
 */
export const classpassProfile = asyncPartnerProfile({
  aggregator: 'classpass',
  displayName: 'ClassPass',
  defaultBaseUrl: 'https://partner-api.classpass.invalid',
});

export const { createAdapter: createClasspassAdapter } = partnerBindings(classpassProfile);
export const classpassAdapter = createClasspassAdapter();
