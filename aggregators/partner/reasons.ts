import type { RejectReason } from '../../domain/reasons.js';

/** Reject reasons of the partner contract (CONTRACT.md), the codes we send when we refuse a booking. */
export const PARTNER_REASON_CODES = [
  'session_full',
  'usage_limit_reached',
  'already_booked',
  'member_not_registered',
  'booking_window_closed',
  'session_cancelled',
  'session_not_found',
  'member_profile_error',
  'prerequisites_not_met',
  'general_error',
  'technical_error',
] as const;
export type PartnerReasonCode = (typeof PARTNER_REASON_CODES)[number];

/** What the aggregator itself records when nobody answered a booking request in time. */
export const NO_ANSWER_REASON = 'no_answer';

/**
 * Our categories (Wellhub's list, the richest published) on the contract's codes. A typed record, so a reason added
 * to domain/reasons.ts does not compile until every profile knows where it goes.
 */
export const DEFAULT_REASON_CODES: Readonly<Record<RejectReason, PartnerReasonCode>> = {
  CLASS_IS_FULL: 'session_full',
  SPOT_NOT_AVAILABLE: 'session_full',
  USAGE_RESTRICTION: 'usage_limit_reached',
  USER_IS_ALREADY_BOOKED: 'already_booked',
  USER_DOES_NOT_EXIST: 'member_not_registered',
  CHECK_IN_AND_CANCELATION_WINDOWS_CLOSED: 'booking_window_closed',
  CLASS_HAS_BEEN_CANCELED: 'session_cancelled',
  CLASS_NOT_FOUND: 'session_not_found',
  USER_PROFILE_CMS: 'member_profile_error',
  PREREQUISITES: 'prerequisites_not_met',
  GENERAL_ERROR: 'general_error',
  TECHNICAL_ERROR: 'technical_error',
};
