import { z } from 'zod';
import { categorySchema } from './class-schemas.js';
import { metadataSchema, responseDateTime, wellhubId } from './schema-common.js';

/** GET /setup/v1/gyms/:gym_id/products */
export const productSchema = z.looseObject({
  product_id: wellhubId,
  name: z.string(),
  virtual: z.boolean(),
  updated_at: responseDateTime.nullish(),
});
export type WellhubProduct = z.infer<typeof productSchema>;

export const productsResponseSchema = z.looseObject({
  gym_id: wellhubId.optional(),
  products: z.array(productSchema),
});
export type WellhubProductsResponse = z.infer<typeof productsResponseSchema>;

/** GET /booking/v1/gyms/:gym_id/categories?locale= */
export const categoriesResponseSchema = z.looseObject({
  metadata: metadataSchema.optional(),
  results: z.array(categorySchema),
});
export type WellhubCategoriesResponse = z.infer<typeof categoriesResponseSchema>;

/** GET /booking/v1/health answers the plain text "ok". */
export const healthResponseSchema = z
  .string()
  .transform((text) => text.trim().replace(/^"|"$/g, ''))
  .refine((text) => text.toLowerCase() === 'ok', 'health answer must be "ok"');
