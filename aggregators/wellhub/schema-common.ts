import { z } from 'zod';

/** One failing field of a request, as our client-side validation and the sandbox's 400 body both report it. */
export interface FieldIssue {
  field: string;
  message: string;
}

/** Zod issues as field issues; an unknown key is reported under its own name so the culprit is obvious. */
export function toFieldIssues(error: z.ZodError): FieldIssue[] {
  return error.issues.flatMap((issue) => {
    if (issue.code === 'unrecognized_keys') {
      const prefix = issue.path.length > 0 ? `${issue.path.join('.')}.` : '';
      return issue.keys.map((key) => ({ field: `${prefix}${key}`, message: 'unknown field' }));
    }
    return [{ field: issue.path.length > 0 ? issue.path.join('.') : '(body)', message: issue.message }];
  });
}

/** A date-time as Wellhub wants it in requests: ISO 8601 with seconds and an offset, e.g. 2019-07-30T10:00:00-05:00. */
export const requestDateTime = z.iso.datetime({ offset: true, message: 'must be an ISO 8601 date-time with an offset' });

/**
 * Wellhub answers some dates in Java's ZonedDateTime form, e.g. 2019-07-03T17:44:22Z[UTC]; the bracketed zone
 * adds nothing to the instant, so it is dropped before parsing.
 */
export function parseWellhubDate(value: string): number {
  return Date.parse(value.replace(/\[[^\]]*\]$/, ''));
}

/** The ZonedDateTime form Wellhub uses in lists, e.g. 2021-03-09T07:00:00Z[UTC]. */
export function formatZonedUtc(epochMs: number): string {
  return `${new Date(epochMs).toISOString().slice(0, 19)}Z[UTC]`;
}

/** Ids Wellhub generates are integers; tolerate them as digit strings in answers. */
export const wellhubId = z.union([z.number().int().nonnegative(), z.string().regex(/^\d+$/).transform(Number)]);

/** Tolerant date-time in answers: any string Date.parse understands once the bracketed zone is dropped. */
export const responseDateTime = z.string().refine((value) => !Number.isNaN(parseWellhubDate(value)), 'must be a date-time');

export const WELLHUB_LOCALES = [
  'de',
  'en',
  'en_GB',
  'es',
  'fr',
  'it',
  'nl',
  'pt',
  'pt_PT',
  'en_IE',
  'es_AR',
  'es_CL',
  'es_MX',
  'es_UY',
] as const;
export type WellhubLocale = (typeof WELLHUB_LOCALES)[number];
export const localeSchema = z.enum(WELLHUB_LOCALES);

/** Metadata of Wellhub's list answers; lists of slots add paging fields. */
export const metadataSchema = z.looseObject({
  total: z.number().int().optional(),
  errors: z.number().int().optional(),
  page: z.number().int().optional(),
  page_size: z.number().int().optional(),
  total_elements: z.number().int().optional(),
});
export type WellhubMetadata = z.infer<typeof metadataSchema>;
