import { z } from 'zod';
import { REJECT_REASONS, type RejectReason } from '../../domain/reasons.js';

export const WELLHUB_BOOKING_STATUSES = ['RESERVED', 'REJECTED', 'CANCELLED_BY_GYM'] as const;
export type WellhubBookingStatus = (typeof WELLHUB_BOOKING_STATUSES)[number];

/**
 * Wellhub's list of reason categories allowed with REJECTED: our reject reasons are this very list (domain/reasons.ts
 * says why), so it is written once, there.
 */
export const WELLHUB_REASON_CATEGORIES = REJECT_REASONS;
export type WellhubReasonCategory = (typeof WELLHUB_REASON_CATEGORIES)[number];

/** Our reject reasons are Wellhub's categories, one for one. */
export function toWellhubReasonCategory(reason: RejectReason): WellhubReasonCategory {
  return reason;
}

/** PATCH /booking/v2/gyms/:gym_id/bookings/:booking_number */
export const bookingPatchV2Schema = z
  .strictObject({
    status: z.enum(WELLHUB_BOOKING_STATUSES),
    reason: z.string().optional(),
    reason_category: z.enum(WELLHUB_REASON_CATEGORIES).optional(),
    virtual_class_url: z.string().optional(),
  })
  .superRefine((body, ctx) => {
    if (body.status === 'REJECTED' && body.reason_category === undefined) {
      ctx.addIssue({ code: 'custom', path: ['reason_category'], message: 'is required when status is REJECTED' });
    }
  });
export type WellhubBookingPatchV2 = z.infer<typeof bookingPatchV2Schema>;

/** The deprecated v1 statuses: 2 reserved, 3 rejected, 5 cancelled by the gym. */
export const WELLHUB_V1_STATUSES: Readonly<Record<2 | 3 | 5, WellhubBookingStatus>> = {
  2: 'RESERVED',
  3: 'REJECTED',
  5: 'CANCELLED_BY_GYM',
};

/** PATCH /booking/v1/gyms/:gym_id/bookings/:booking_number (deprecated, kept for completeness of the contract). */
export const bookingPatchV1Schema = z.strictObject({
  class_id: z.number().int().positive(),
  status: z.union([z.literal(2), z.literal(3), z.literal(5)], { message: 'must be 2 (reserved), 3 (rejected) or 5 (cancelled by the gym)' }),
  reason: z.string().optional(),
  virtual_class_url: z.string().optional(),
});
export type WellhubBookingPatchV1 = z.infer<typeof bookingPatchV1Schema>;

/** Wellhub's own wording of each category, sent as `reason` when the caller gives no message of its own. */
export const WELLHUB_REASON_DESCRIPTIONS: Readonly<Record<WellhubReasonCategory, string>> = {
  CLASS_IS_FULL: 'Booking declined because the class is full',
  USAGE_RESTRICTION: 'Booking declined because of usage limits',
  USER_IS_ALREADY_BOOKED: "Booking attempt declined because you've already booked this class",
  SPOT_NOT_AVAILABLE: 'Booking declined because there are no spots available',
  USER_DOES_NOT_EXIST: 'Booking declined because you need to visit the partner to register first',
  CHECK_IN_AND_CANCELATION_WINDOWS_CLOSED: 'Booking declined because you are not able to book this class right now',
  CLASS_HAS_BEEN_CANCELED: 'Booking declined because the class is no longer available',
  CLASS_NOT_FOUND: "Booking declined because the class wasn't found",
  USER_PROFILE_CMS: 'Booking declined because of a user profile error',
  PREREQUISITES: 'Booking declined because this class has prerequisites',
  GENERAL_ERROR: 'Booking declined because something went wrong',
  TECHNICAL_ERROR: 'Booking declined because of a technical error',
};
