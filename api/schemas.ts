/**
 * The schemas every route shares: the error body, ids, aggregators, time zones, timestamps, lists and cross-field rules.
 *
 * Convention: each resource's request and response schemas, and its presenter (the pure function turning a ledger
 * row into the response), live beside its route in `api/routes/<resource>.schemas.ts`; only what more than one
 * resource uses is here. Enums the ledger also holds come from domain/model.ts, so each is written once.
 */
import { AGGREGATORS } from '../domain/model.js';
import { CROSS_FIELD_RULE } from './errors.js';
import { text } from './text.js';
import { z } from './zod.js';

export const ErrorSchema = z
  .object({
    error: z.object({
      code: z.string().meta({ example: 'validation_failed' }),
      message: z.string(),
      details: z.unknown().optional(),
      requestId: z.string().optional(),
    }),
  })
  .meta({ id: 'Error' });

export const Uuid = z.uuid();
export const AggregatorSchema = z.enum(AGGREGATORS).meta({ id: 'Aggregator' });

/** The IANA time zone names this runtime knows (its canonical list, plus UTC), so the document can list them. */
export const TIME_ZONES = [...new Set([...Intl.supportedValuesOf('timeZone'), 'UTC'])].sort() as [string, ...string[]];
export const timeZone = z.enum(TIME_ZONES).meta({ id: 'TimeZone', description: 'IANA time zone name, e.g. Europe/Berlin' });

/** A display name (of a company, a venue). */
export const name = text({ max: 200 });
export const timestamp = z.iso.datetime({ offset: true });

export const listOf = <T extends z.ZodType>(item: T, id: string) => z.object({ items: z.array(item) }).meta({ id });

/**
 * A refinement the document cannot express (it relates two fields): failing it answers 422, not 400.
 * `validationError` reads the marker.
 */
export function rule(message: string, path: string[]) {
  return { message, path, params: { [CROSS_FIELD_RULE]: true } };
}

/** A PATCH body: the fields it names change, the others stay; an empty one changes nothing and is refused. */
export function updateBody<T extends z.ZodRawShape>(shape: T, id: string) {
  return z
    .object(shape)
    .strict()
    .refine((b) => Object.keys(b).length > 0, 'give at least one field to change')
    .meta({ id, minProperties: 1 });
}

/** Timestamps in responses: ISO 8601 in UTC. */
export const iso = (d: Date) => d.toISOString();
