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
 * ClassPass on the generic partner contract. Public (help-centre article): schedule push, bookings and cancellations
 * from ClassPass, members matched by ClassPass ID. Nothing about its API is published, so the asynchronous answer,
 * the 15-minute deadline and the redelivery schedule are our assumptions to certify (aggregators/partner/CONTRACT.md).
 */
export const classpassProfile: PartnerProfile = {
  aggregator: 'classpass',
  displayName: 'ClassPass',
  defaultBaseUrl: 'https://partner-api.classpass.invalid',
  capabilities: {
    cancelsWholeSessions: false,
    answersBookingsSynchronously: false,
    bookingDeadlineMs: STANDARD_BOOKING_DEADLINE_MS,
  },
  reasonCodes: DEFAULT_REASON_CODES,
  webhooks: { timeoutMs: STANDARD_WEBHOOK_TIMEOUT_MS, retryDelaysMs: STANDARD_RETRY_DELAYS_MS },
};

export const createClasspassAdapter = (options?: PartnerAdapterOptions) => createPartnerAdapter(classpassProfile, options);
export const classpassAdapter = createClasspassAdapter();

export const createClasspassSandbox = (options: PartnerSandboxOptions) => createPartnerSandbox(classpassProfile, options);
export const startClasspassSandbox = (options: Parameters<typeof startPartnerSandbox>[1]) => startPartnerSandbox(classpassProfile, options);
