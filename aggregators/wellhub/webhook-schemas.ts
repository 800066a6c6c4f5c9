import { z } from 'zod';

/** The four events Wellhub sends, in the spelling its documentation uses. */
export const WELLHUB_EVENT_TYPES = ['booking-requested', 'booking-canceled', 'booking-late-canceled', 'checkin-booking-occurred'] as const;
export type WellhubEventType = (typeof WELLHUB_EVENT_TYPES)[number];

/**
 * Spellings seen in the wild or easy to get wrong on either side (British "cancelled", "occured", underscores,
 * upper case), all mapped to the documented name. Lookup happens after lower-casing and turning "_" into "-".
 */
const EVENT_TYPE_VARIANTS: Readonly<Record<string, WellhubEventType>> = {
  'booking-requested': 'booking-requested',
  'booking-request': 'booking-requested',
  'booking-canceled': 'booking-canceled',
  'booking-cancelled': 'booking-canceled',
  'booking-late-canceled': 'booking-late-canceled',
  'booking-late-cancelled': 'booking-late-canceled',
  'checkin-booking-occurred': 'checkin-booking-occurred',
  'checkin-booking-occured': 'checkin-booking-occurred',
  'check-in-booking-occurred': 'checkin-booking-occurred',
  'check-in-booking-occured': 'checkin-booking-occurred',
};

export function normalizeEventType(raw: string): WellhubEventType | undefined {
  return EVENT_TYPE_VARIANTS[raw.trim().toLowerCase().replace(/[_\s]+/g, '-')];
}

/**
 * Every id and text of a webhook has a maximum length: what is kept in the inbox and names a workflow (the booking
 * number is part of its id) stays small, and a body built to be huge is refused (400) before anything is written.
 */
export const WEBHOOK_ID_MAX = 128;
const NAME_MAX = 200;
const EMAIL_MAX = 320;

/** An id Wellhub may send as a number or a string; always a non-empty string for us. */
const looseId = z.union([z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER), z.string().trim().min(1).max(WEBHOOK_ID_MAX)]).transform(String);

/**
 * Epoch milliseconds per the contract, but seconds are tolerated: below 1e11 a value cannot be milliseconds of any
 * date after 1973, while as seconds it covers every date until the year 5138. ISO strings are tolerated too.
 */
export const SECONDS_THRESHOLD = 1e11;
const MAX_DATE_MS = 8.64e15;
export const webhookTimestampSchema = z
  .union([z.number().positive(), z.string().trim().min(1).max(40)])
  .transform((value, ctx) => {
    const numeric = typeof value === 'number' ? value : /^\d+(\.\d+)?$/.test(value) ? Number(value) : undefined;
    const ms = numeric !== undefined ? (numeric < SECONDS_THRESHOLD ? numeric * 1000 : numeric) : Date.parse(value as string);
    // A JavaScript date holds at most 8.64e15 ms either side of 1970: beyond it there is no date to keep.
    if (!Number.isFinite(ms) || ms <= 0 || ms > MAX_DATE_MS) {
      ctx.addIssue({ code: 'custom', message: 'must be epoch milliseconds, epoch seconds or an ISO date-time' });
      return z.NEVER;
    }
    return new Date(Math.round(ms));
  });

export const webhookBodySchema = z.looseObject({
  event_type: z.string().max(64).transform((value, ctx) => {
    const type = normalizeEventType(value);
    if (type === undefined) {
      ctx.addIssue({ code: 'custom', message: `unknown event_type "${value.slice(0, 60)}"` });
      return z.NEVER;
    }
    return type;
  }),
  event_data: z.looseObject({
    user: z.looseObject({
      unique_token: looseId,
      name: z.string().max(NAME_MAX).nullish(),
      email: z.string().max(EMAIL_MAX).nullish(),
    }),
    slot: z.looseObject({
      id: looseId,
      gym_id: looseId,
      class_id: looseId.nullish(),
      booking_number: looseId,
    }),
    timestamp: webhookTimestampSchema,
    event_id: looseId.nullish(),
  }),
});
export type WellhubWebhookBody = z.infer<typeof webhookBodySchema>;

/** The body as the sandbox sends it (and as the contract documents it): the strict form of the above. */
export interface WellhubWebhookPayload {
  event_type: WellhubEventType;
  event_data: {
    user: { unique_token: string; name: string; email: string };
    slot: { id: number; gym_id: number; class_id: number; booking_number: string };
    timestamp: number;
    event_id: string;
  };
}
