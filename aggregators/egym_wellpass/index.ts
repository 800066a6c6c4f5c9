import {
  DEFAULT_REASON_CODES,
  STANDARD_BOOKING_DEADLINE_MS,
  STANDARD_RETRY_DELAYS_MS,
  STANDARD_WEBHOOK_TIMEOUT_MS,
  createPartnerAdapter,
  createPartnerSandbox,
  startPartnerSandbox,
  type PartnerAdapterOptions,
  type PartnerProfile,
  type PartnerSandboxOptions,
} from '../partner/index.js';

/**
 * EGYM Wellpass on the generic partner contract. Public (help-centre article): schedule push, bookings and
 * cancellations from EGYM Wellpass, its bookings cannot be cancelled one by one, and a cancelled activity is reported to
 * it. Known from the product brief: it cancels whole slots (sessions), never single bookings, so the adapter refuses
 * cancelBookingByGym and the cancellation flow uses cancelSession. The rest is our assumption to certify
 * (aggregators/partner/CONTRACT.md).
 */
export const egymWellpassProfile: PartnerProfile = {
  aggregator: 'egym_wellpass',
  displayName: 'EGYM Wellpass',
  defaultBaseUrl: 'https://partner-api.egym-wellpass.invalid',
  capabilities: {
    cancelsWholeSessions: true,
    answersBookingsSynchronously: false,
    bookingDeadlineMs: STANDARD_BOOKING_DEADLINE_MS,
  },
  reasonCodes: DEFAULT_REASON_CODES,
  webhooks: { timeoutMs: STANDARD_WEBHOOK_TIMEOUT_MS, retryDelaysMs: STANDARD_RETRY_DELAYS_MS },
};

export const createEgymWellpassAdapter = (options?: PartnerAdapterOptions) => createPartnerAdapter(egymWellpassProfile, options);
export const egymWellpassAdapter = createEgymWellpassAdapter();

export const createEgymWellpassSandbox = (options: PartnerSandboxOptions) => createPartnerSandbox(egymWellpassProfile, options);
export const startEgymWellpassSandbox = (options: Parameters<typeof startPartnerSandbox>[1]) =>
  startPartnerSandbox(egymWellpassProfile, options);
