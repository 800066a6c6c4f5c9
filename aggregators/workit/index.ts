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
 * Workit on the generic partner contract. Public (help-centre article): schedule push, bookings and cancellations from
 * Workit, members matched by Workit ID, and a cancelled activity is reported to Workit. Nothing about its API is
 * published, so the asynchronous answer, the 15-minute deadline and the redelivery schedule are our assumptions to
 * certify (aggregators/partner/CONTRACT.md).
 */
export const workitProfile: PartnerProfile = {
  aggregator: 'workit',
  displayName: 'Workit',
  defaultBaseUrl: 'https://partner-api.workit.invalid',
  capabilities: {
    cancelsWholeSessions: false,
    answersBookingsSynchronously: false,
    bookingDeadlineMs: STANDARD_BOOKING_DEADLINE_MS,
  },
  reasonCodes: DEFAULT_REASON_CODES,
  webhooks: { timeoutMs: STANDARD_WEBHOOK_TIMEOUT_MS, retryDelaysMs: STANDARD_RETRY_DELAYS_MS },
};

export const createWorkitAdapter = (options?: PartnerAdapterOptions) => createPartnerAdapter(workitProfile, options);
export const workitAdapter = createWorkitAdapter();

export const createWorkitSandbox = (options: PartnerSandboxOptions) => createPartnerSandbox(workitProfile, options);
export const startWorkitSandbox = (options: Parameters<typeof startPartnerSandbox>[1]) => startPartnerSandbox(workitProfile, options);
