/**
 * Why a booking request was rejected. Wellhub's list of reason categories is the richest the aggregators publish,
 * so it is our vocabulary; adapters of other aggregators map it to theirs.
 */
export const REJECT_REASONS = [
  'CLASS_IS_FULL',
  'USAGE_RESTRICTION',
  'USER_IS_ALREADY_BOOKED',
  'SPOT_NOT_AVAILABLE',
  'USER_DOES_NOT_EXIST',
  'CHECK_IN_AND_CANCELATION_WINDOWS_CLOSED',
  'CLASS_HAS_BEEN_CANCELED',
  'CLASS_NOT_FOUND',
  'USER_PROFILE_CMS',
  'PREREQUISITES',
  'GENERAL_ERROR',
  'TECHNICAL_ERROR',
] as const;
export type RejectReason = (typeof REJECT_REASONS)[number];
