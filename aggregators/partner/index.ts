/**
 * The generic partner contract (CONTRACT.md) shared by ClassPass, EGYM Wellpass, Onefit and Workit: one adapter, one
 * webhook verifier and parser, each configured by the aggregator's profile. Its sandbox (a test fake, never loaded by
 * production code) is in ./sandbox/.
 */
export { createPartnerAdapter, partnerErrorCode, type PartnerAdapter, type PartnerAdapterOptions } from './adapter.js';
export { idempotencyKey, temporalActivityScope, type IdempotencyScope } from './idempotency.js';
export { partnerBindings } from './bindings.js';
export {
  asyncPartnerProfile,
  STANDARD_BOOKING_DEADLINE_MS,
  STANDARD_RETRY_DELAYS_MS,
  STANDARD_WEBHOOK_TIMEOUT_MS,
  type PartnerProfile,
} from './profile.js';
export { DEFAULT_REASON_CODES, NO_ANSWER_REASON, PARTNER_REASON_CODES, type PartnerReasonCode } from './reasons.js';
export {
  FUTURE_SKEW_SECONDS,
  REPLAY_WINDOW_SECONDS,
  SIGNATURE_HEADER,
  TIMESTAMP_HEADER,
  signWebhook,
  verifyPartnerSignature,
} from './signature.js';
export { bookingAnswerBody, parsePartnerWebhook, partnerWebhookVenueId, type BookingDecision } from './webhook.js';
export type { BookingAnswer, BookingResource, SessionResource, ActivityResource, WebhookEvent } from './schemas.js';
