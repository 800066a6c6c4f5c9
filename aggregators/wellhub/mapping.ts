import { z } from 'zod';
import type { ActivityListing, SessionListing } from '../../domain/listing.js';
import { WellhubRequestInvalidError } from './errors.js';
import { toFieldIssues, type WellhubClassUpdateRequest, type WellhubSlotBody } from './schemas.js';

/**
 * The connection settings the Wellhub adapter reads: productId (Wellhub's product for the venue's classes) and,
 * optionally, categoryIds mapping our free-text activity category to Wellhub category ids
 * (e.g. { "Yoga": [12], "Pilates": 7 }). A category that is already a Wellhub id ("12") is used as it is.
 */
export const wellhubSettingsSchema = z.looseObject({
  productId: z.coerce.number().int().positive(),
  categoryIds: z.record(z.string(), z.union([z.number().int().positive(), z.array(z.number().int().positive())])).optional(),
});
export type WellhubSettings = z.infer<typeof wellhubSettingsSchema>;

export function readSettings(operation: string, settings: Record<string, unknown>): WellhubSettings {
  const parsed = wellhubSettingsSchema.safeParse(settings);
  if (parsed.success) return parsed.data;
  throw new WellhubRequestInvalidError(
    operation,
    toFieldIssues(parsed.error).map((issue) => ({ ...issue, field: `settings.${issue.field}` })),
  );
}

function categoriesFor(category: string | null, settings: WellhubSettings): number[] | undefined {
  if (category === null) return undefined;
  if (/^\d+$/.test(category.trim())) return [Number(category.trim())];
  const map = settings.categoryIds ?? {};
  const key = Object.keys(map).find((name) => name.trim().toLowerCase() === category.trim().toLowerCase());
  const ids = key !== undefined ? map[key] : undefined;
  if (ids === undefined) return undefined;
  return Array.isArray(ids) ? ids : [ids];
}

/** An activity as a Wellhub class; `reference` carries our activity id so the class can be found again. */
export function toClassBody(activity: ActivityListing, settings: WellhubSettings): WellhubClassUpdateRequest {
  const categories = categoriesFor(activity.category, settings);
  return {
    name: activity.name,
    description: activity.description,
    ...(activity.notes !== undefined ? { notes: activity.notes } : {}),
    bookable: activity.bookable,
    visible: activity.visible,
    product_id: settings.productId,
    reference: activity.activityId,
    ...(categories !== undefined ? { categories } : {}),
  };
}

/** A session as a Wellhub slot. */
export function toSlotBody(session: SessionListing, settings: WellhubSettings, now: number): WellhubSlotBody {
  // An opening time already past means "bookable now", which is what omitting it means to Wellhub; leaving it out
  // also keeps a session published long ago clear of the "not more than 60 days in the past" rule on every update.
  const opensAt =
    session.bookingOpensAt !== undefined && Date.parse(session.bookingOpensAt) > now ? session.bookingOpensAt : undefined;
  const bookingWindow = {
    ...(opensAt !== undefined ? { opens_at: opensAt } : {}),
    ...(session.bookingClosesAt !== undefined ? { closes_at: session.bookingClosesAt } : {}),
  };
  return {
    occur_date: session.startsAt,
    ...(session.room !== null ? { room: session.room } : {}),
    status: session.active ? 1 : 0,
    length_in_minutes: session.durationMinutes,
    total_capacity: session.totalCapacity,
    total_booked: session.totalBooked,
    product_id: settings.productId,
    ...(Object.keys(bookingWindow).length > 0 ? { booking_window: bookingWindow } : {}),
    instructors: session.instructors.map((instructor) => ({ name: instructor.name, substitute: instructor.substitute })),
    ...(session.cancellableUntil !== undefined ? { cancellable_until: session.cancellableUntil } : {}),
  };
}
