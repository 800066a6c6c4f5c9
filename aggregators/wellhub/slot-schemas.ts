import { z } from 'zod';
import { metadataSchema, parseWellhubDate, requestDateTime, responseDateTime, wellhubId } from './schema-common.js';

/**
 * How far in the past opens_at, closes_at and cancellable_until may lie. The reference says "should be within last
 * 60 days" (opens_at, closes_at) and "should be older than 60 days" (cancellable_until); the second read literally
 * would forbid every sensible value, so both are read as one rule: not more than 60 days before now. Dates in the
 * future are fine (they are bounded by occur_date anyway).
 */
export const PAST_LIMIT_MS = 60 * 24 * 60 * 60 * 1000;

const count = (what: string) =>
  z
    .number()
    .int(`${what} must be an integer`)
    .min(0, `${what} must be between 0 and 32000`)
    .max(32000, `${what} must be between 0 and 32000`);

export const instructorSchema = z.strictObject({
  name: z.string().min(1, 'must be 1 to 100 characters').max(100, 'must be 1 to 100 characters'),
  substitute: z.boolean(),
});

export const bookingWindowSchema = z.strictObject({
  opens_at: requestDateTime.optional(),
  closes_at: requestDateTime.optional(),
});

/** The body of slot POST and PUT, shape only; the rules relative to other fields and to now are in slotBodySchema. */
export const slotBodyShape = z.strictObject({
  occur_date: requestDateTime,
  room: z.string().min(2, 'must be 2 to 200 characters').max(200, 'must be 2 to 200 characters').optional(),
  status: z.union([z.literal(0), z.literal(1)], { message: 'must be 0 (inactive) or 1 (active)' }).optional(),
  length_in_minutes: z.number().int().min(1, 'must be between 1 and 200').max(200, 'must be between 1 and 200'),
  total_capacity: count('total_capacity'),
  total_booked: count('total_booked'),
  product_id: z.number().int().positive(),
  booking_window: bookingWindowSchema.optional(),
  instructors: z.array(instructorSchema).optional(),
  cancellable_until: requestDateTime.optional(),
  rating: z.number().min(0, 'must be between 0.0 and 5.0').max(5, 'must be between 0.0 and 5.0').optional(),
  virtual: z.boolean().optional(),
  virtual_class_url: z.string().optional(),
});
export type WellhubSlotBody = z.infer<typeof slotBodyShape>;

const notTooOld = (ctx: z.RefinementCtx, at: number, now: number, path: (string | number)[]) => {
  if (at < now - PAST_LIMIT_MS) ctx.addIssue({ code: 'custom', path, message: 'must not be more than 60 days in the past' });
};

/**
 * Slot POST and PUT bodies with every validation the reference lists (all answered 400 by Wellhub). `now` is a
 * parameter because "in the future" and "60 days" depend on it, and the sandbox runs on a clock tests can move.
 */
export function slotBodySchema(now: number) {
  return slotBodyShape.superRefine((slot, ctx) => {
    const occur = Date.parse(slot.occur_date);
    if (occur <= now) ctx.addIssue({ code: 'custom', path: ['occur_date'], message: 'must be in the future' });
    if (slot.total_booked > slot.total_capacity) {
      ctx.addIssue({ code: 'custom', path: ['total_booked'], message: 'must be less than or equal to total_capacity' });
    }
    const opensAt = slot.booking_window?.opens_at !== undefined ? Date.parse(slot.booking_window.opens_at) : undefined;
    const closesAt = slot.booking_window?.closes_at !== undefined ? Date.parse(slot.booking_window.closes_at) : undefined;
    if (opensAt !== undefined) {
      if (opensAt >= occur) ctx.addIssue({ code: 'custom', path: ['booking_window', 'opens_at'], message: 'must be before occur_date' });
      notTooOld(ctx, opensAt, now, ['booking_window', 'opens_at']);
    }
    if (closesAt !== undefined) {
      if (closesAt > occur) {
        ctx.addIssue({ code: 'custom', path: ['booking_window', 'closes_at'], message: 'must be before or at occur_date' });
      }
      if (opensAt !== undefined && closesAt <= opensAt) {
        ctx.addIssue({ code: 'custom', path: ['booking_window', 'closes_at'], message: 'must be after opens_at' });
      }
      notTooOld(ctx, closesAt, now, ['booking_window', 'closes_at']);
    }
    if (slot.cancellable_until !== undefined) {
      const until = Date.parse(slot.cancellable_until);
      if (until > occur) ctx.addIssue({ code: 'custom', path: ['cancellable_until'], message: 'must be before or at occur_date' });
      notTooOld(ctx, until, now, ['cancellable_until']);
    }
    // The reference validates the URL only for virtual slots.
    if (slot.virtual === true && slot.virtual_class_url !== undefined && !/^https?:\/\//i.test(slot.virtual_class_url)) {
      ctx.addIssue({ code: 'custom', path: ['virtual_class_url'], message: 'must start with http:// or https://' });
    }
  });
}

/**
 * PATCH of a slot: total_capacity and/or total_booked (one of them is required), and virtual_class_url. Whether
 * total_booked fits a total_capacity not sent in the same body only the holder of the slot can tell (the sandbox).
 */
export const slotPatchSchema = z
  .strictObject({
    total_capacity: count('total_capacity').optional(),
    total_booked: count('total_booked').optional(),
    virtual_class_url: z.string().optional(),
  })
  .superRefine((patch, ctx) => {
    if (patch.total_capacity === undefined && patch.total_booked === undefined) {
      ctx.addIssue({ code: 'custom', path: ['total_capacity'], message: 'total_capacity or total_booked is required' });
    }
    if (patch.total_capacity !== undefined && patch.total_booked !== undefined && patch.total_booked > patch.total_capacity) {
      ctx.addIssue({ code: 'custom', path: ['total_booked'], message: 'must be less than or equal to total_capacity' });
    }
  });
export type WellhubSlotPatch = z.infer<typeof slotPatchSchema>;

/** GET .../slots?from=&to= — both optional, each a valid date-time with an offset; other parameters are ignored. */
export const slotListQuerySchema = z.object({
  from: requestDateTime.optional(),
  to: requestDateTime.optional(),
});

/** A slot as Wellhub answers it (GET, and inside POST/PUT/list results). Tolerant of nulls and extra fields. */
export const slotSchema = z.looseObject({
  id: wellhubId,
  class_id: wellhubId.optional(),
  occur_date: responseDateTime,
  status: z.number().int().optional(),
  room: z.string().nullish(),
  length_in_minutes: z.number().int().nullish(),
  total_capacity: z.number().int(),
  total_booked: z.number().int(),
  product_id: wellhubId.nullish(),
  booking_window: z.looseObject({ opens_at: responseDateTime.nullish(), closes_at: responseDateTime.nullish() }).nullish(),
  cancellable_until: responseDateTime.nullish(),
  instructors: z.array(z.looseObject({ name: z.string(), substitute: z.boolean().optional() })).nullish(),
  rating: z.number().nullish(),
  virtual: z.boolean().nullish(),
  virtual_class_url: z.string().nullish(),
});
export type WellhubSlot = z.infer<typeof slotSchema>;

/** POST (201), PUT (200) and list (200) answer slots in this envelope. */
export const slotResultsResponseSchema = z.looseObject({
  metadata: metadataSchema.optional(),
  results: z.array(slotSchema),
});
export type WellhubSlotResults = z.infer<typeof slotResultsResponseSchema>;

/** Same instant, whatever offset or zone notation each side wrote it in. */
export function sameInstant(a: string, b: string): boolean {
  return parseWellhubDate(a) === parseWellhubDate(b);
}
