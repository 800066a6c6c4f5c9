import { z } from 'zod';
import { localeSchema, responseDateTime, wellhubId } from './schema-common.js';

/** Fields shared by class create and update (PUT): Wellhub's documented limits. */
const classFields = {
  name: z.string().min(1, 'is required').max(255, 'must be at most 255 characters'),
  description: z.string(),
  notes: z.string().optional(),
  bookable: z.boolean(),
  visible: z.boolean(),
  product_id: z.number().int().positive(),
  reference: z.string().optional(),
  categories: z.array(z.number().int().positive()).optional(),
};

export const classCreateItemSchema = z.strictObject({
  ...classFields,
  system_id: z.number().int().positive().optional(),
});
export type WellhubClassCreateItem = z.infer<typeof classCreateItemSchema>;

/** POST /booking/v1/gyms/:gym_id/classes */
export const classCreateRequestSchema = z.strictObject({
  classes: z.array(classCreateItemSchema).min(1, 'must hold at least one class'),
});
export type WellhubClassCreateRequest = z.infer<typeof classCreateRequestSchema>;

/** PUT /booking/v1/gyms/:gym_id/classes/:class_id (no system_id in the update contract). */
export const classUpdateRequestSchema = z.strictObject(classFields);
export type WellhubClassUpdateRequest = z.infer<typeof classUpdateRequestSchema>;

export const classCreateResponseSchema = z.looseObject({
  classes: z.array(
    z.looseObject({
      id: wellhubId,
      name: z.string().optional(),
      reference: z.string().nullish(),
      links: z.array(z.looseObject({ rel: z.string(), href: z.string() })).optional(),
    }),
  ),
});
export type WellhubClassCreateResponse = z.infer<typeof classCreateResponseSchema>;

export const categorySchema = z.looseObject({ id: wellhubId, name: z.string(), locale: z.union([localeSchema, z.string()]) });
export type WellhubCategory = z.infer<typeof categorySchema>;

/** A class as GET list and GET get answer it. */
export const classSchema = z.looseObject({
  id: wellhubId,
  name: z.string(),
  slug: z.string().nullish(),
  description: z.string().nullish(),
  notes: z.string().nullish(),
  bookable: z.boolean().optional(),
  visible: z.boolean().optional(),
  product_id: wellhubId.optional(),
  gym_id: wellhubId.optional(),
  reference: z.string().nullish(),
  created_at: responseDateTime.nullish(),
  categories: z.array(categorySchema).nullish(),
});
export type WellhubClass = z.infer<typeof classSchema>;

export const classListResponseSchema = z.looseObject({ classes: z.array(classSchema) });
export type WellhubClassListResponse = z.infer<typeof classListResponseSchema>;

/** GET .../classes/:class_id?show-deleted=true|false */
export const showDeletedQuerySchema = z.enum(['true', 'false']);
