import { DEFAULT_REASON_CODES, partnerBindings, type PartnerProfile } from '../partner/index.js';

/** Onefit waits about a second for the decision; we take the whole second as its timeout and our deadline. */
const ONEFIT_ANSWER_MS = 1_000;

/**
 * Onefit (part of Urban Sports Club) on the generic partner contract. Public (help-centre article): schedule push,
 * bookings and cancellations from Onefit, members matched by Onefit ID. Known from the product brief: a booking must be
 * answered synchronously within about 1 s and is not retried, so the decision travels in the webhook response
 * (adapter.bookingAnswer) and nothing is redelivered. The rest is our assumption to certify
 * (aggregators/partner/CONTRACT.md).
 */
export const onefitProfile: PartnerProfile = {
  aggregator: 'onefit',
  displayName: 'Onefit',
  defaultBaseUrl: 'https://partner-api.onefit.invalid',
  capabilities: {
    cancelsWholeSessions: false,
    answersBookingsSynchronously: true,
    bookingDeadlineMs: ONEFIT_ANSWER_MS,
  },
  reasonCodes: DEFAULT_REASON_CODES,
  webhooks: { timeoutMs: ONEFIT_ANSWER_MS, retryDelaysMs: [] },
};

export const { createAdapter: createOnefitAdapter } = partnerBindings(onefitProfile);
export const onefitAdapter = createOnefitAdapter();
