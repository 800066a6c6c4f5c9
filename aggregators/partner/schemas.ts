import { z } from 'zod';
import { NO_ANSWER_REASON, PARTNER_REASON_CODES } from './reasons.js';

/**
 * Every body of the partner contract (CONTRACT.md). Request schemas are closed (unknown fields refused) and carry the
 * cross-field rules, so the adapter refuses before sending exactly what the sandbox refuses on arrival. Response and
 * webhook schemas tolerate extra fields: an aggregator adding one must not break us.
 */

export const ID_PATTERN = /^[A-Za-z0-9._:-]{1,128}$/;
export const idSchema = z.string().regex(ID_PATTERN, 'must be 1 to 128 letters, digits or . _ : -');
const timestamp = z.iso.datetime({ offset: true, error: 'must be an ISO 8601 timestamp with a UTC offset' });
const nullableTimestamp = timestamp.nullable().optional();
const message = z.string().min(1).max(500);

export const reasonCodeSchema = z.enum(PARTNER_REASON_CODES);

export const activityBodySchema = z.strictObject({
  name: z.string().min(1).max(200),
  description: z.string().max(4000),
  notes: z.string().max(2000).nullable().optional(),
  category: z.string().min(1).max(100).nullable(),
  bookable: z.boolean(),
  visible: z.boolean(),
});
export type ActivityBody = z.infer<typeof activityBodySchema>;

const instructorSchema = z.strictObject({ name: z.string().min(1).max(200), substitute: z.boolean() });

export const sessionBodySchema = z
  .strictObject({
    activity_reference: idSchema,
    starts_at: timestamp,
    duration_minutes: z.int().min(1).max(1440),
    room: z.string().min(1).max(200).nullable(),
    instructors: z.array(instructorSchema).max(20),
    capacity: z.int().min(0).max(10_000),
    booked: z.int().min(0),
    booking_opens_at: nullableTimestamp,
    booking_closes_at: nullableTimestamp,
    cancellable_until: nullableTimestamp,
    active: z.boolean(),
  })
  .superRefine((body, ctx) => {
    if (body.booked > body.capacity) ctx.addIssue({ code: 'custom', path: ['booked'], message: 'must not exceed capacity' });
    const end = Date.parse(body.starts_at) + body.duration_minutes * 60_000;
    const opens = body.booking_opens_at ? Date.parse(body.booking_opens_at) : undefined;
    const closes = body.booking_closes_at ? Date.parse(body.booking_closes_at) : undefined;
    if (opens !== undefined && closes !== undefined && opens >= closes) {
      ctx.addIssue({ code: 'custom', path: ['booking_opens_at'], message: 'must be before booking_closes_at' });
    }
    if (closes !== undefined && closes > end) {
      ctx.addIssue({ code: 'custom', path: ['booking_closes_at'], message: 'must not be after the end of the session' });
    }
    if (body.cancellable_until && Date.parse(body.cancellable_until) > end) {
      ctx.addIssue({ code: 'custom', path: ['cancellable_until'], message: 'must not be after the end of the session' });
    }
  });
export type SessionBody = z.infer<typeof sessionBodySchema>;

export const availabilityBodySchema = z
  .strictObject({ capacity: z.int().min(0).max(10_000).optional(), booked: z.int().min(0).optional() })
  .superRefine((body, ctx) => {
    if (body.capacity === undefined && body.booked === undefined) {
      ctx.addIssue({ code: 'custom', path: [], message: 'give capacity, booked or both' });
    }
    if (body.capacity !== undefined && body.booked !== undefined && body.booked > body.capacity) {
      ctx.addIssue({ code: 'custom', path: ['booked'], message: 'must not exceed capacity' });
    }
  });
export type AvailabilityBody = z.infer<typeof availabilityBodySchema>;

export const cancelSessionBodySchema = z.strictObject({ reason: message.optional() });
export type CancelSessionBody = z.infer<typeof cancelSessionBodySchema>;

/** Page size of GET /v1/venues/{venue_id}/sessions: `limit` defaults to this, and may not exceed the maximum. */
export const SESSION_PAGE_DEFAULT = 100;
export const SESSION_PAGE_MAX = 500;
const CURSOR_MAX = 512;

/**
 * The query of GET /v1/venues/{venue_id}/sessions, as it arrives (strings). Closed like the bodies: an unknown or
 * repeated parameter is refused. `from` and `to` are inclusive; either may be left out.
 */
export const listSessionsQuerySchema = z
  .strictObject({
    activity_reference: idSchema.optional(),
    from: timestamp.optional(),
    to: timestamp.optional(),
    limit: z
      .string()
      .regex(/^[1-9][0-9]{0,3}$/, `must be an integer from 1 to ${SESSION_PAGE_MAX}`)
      .transform(Number)
      .pipe(z.int().max(SESSION_PAGE_MAX, `must be an integer from 1 to ${SESSION_PAGE_MAX}`))
      .optional(),
    cursor: z.string().min(1).max(CURSOR_MAX).optional(),
  })
  .superRefine((query, ctx) => {
    if (query.from !== undefined && query.to !== undefined && Date.parse(query.from) > Date.parse(query.to)) {
      ctx.addIssue({ code: 'custom', path: ['to'], message: 'must not be before from' });
    }
  });
export type ListSessionsQuery = z.infer<typeof listSessionsQuerySchema>;

export const confirmBookingBodySchema = z.strictObject({ venue_id: idSchema });
export const rejectBookingBodySchema = z.strictObject({ venue_id: idSchema, reason_code: reasonCodeSchema, message: message.optional() });
export const cancelBookingBodySchema = z.strictObject({ venue_id: idSchema, message: message.optional() });
export type ConfirmBookingBody = z.infer<typeof confirmBookingBodySchema>;
export type RejectBookingBody = z.infer<typeof rejectBookingBodySchema>;
export type CancelBookingBody = z.infer<typeof cancelBookingBodySchema>;

// Responses.

export const activityResourceSchema = z.object({
  reference: idSchema,
  venue_id: idSchema,
  name: z.string(),
  description: z.string(),
  notes: z.string().nullable(),
  category: z.string().nullable(),
  bookable: z.boolean(),
  visible: z.boolean(),
  created_at: timestamp,
  updated_at: timestamp,
});
export type ActivityResource = z.infer<typeof activityResourceSchema>;

export const SESSION_STATUSES = ['scheduled', 'cancelled'] as const;

export const sessionResourceSchema = z.object({
  reference: idSchema,
  venue_id: idSchema,
  activity_reference: idSchema,
  starts_at: timestamp,
  duration_minutes: z.int(),
  room: z.string().nullable(),
  instructors: z.array(z.object({ name: z.string(), substitute: z.boolean() })),
  capacity: z.int(),
  booked: z.int(),
  available: z.int(),
  booking_opens_at: timestamp.nullable(),
  booking_closes_at: timestamp.nullable(),
  cancellable_until: timestamp.nullable(),
  active: z.boolean(),
  status: z.enum(SESSION_STATUSES),
  cancellation_reason: z.string().nullable(),
  created_at: timestamp,
  updated_at: timestamp,
});
export type SessionResource = z.infer<typeof sessionResourceSchema>;

/** One page of GET /v1/venues/{venue_id}/sessions: sessions ordered by starts_at, every status. */
export const sessionPageSchema = z.object({
  items: z.array(sessionResourceSchema),
  next_cursor: z.string().min(1).max(CURSOR_MAX).nullable(),
});
export type SessionPage = z.infer<typeof sessionPageSchema>;

export const BOOKING_STATUSES = [
  'pending',
  'confirmed',
  'rejected',
  'expired',
  'cancelled_by_member',
  'cancelled_by_venue',
  'checked_in',
] as const;
export type PartnerBookingStatus = (typeof BOOKING_STATUSES)[number];

export const memberSchema = z.object({
  id: idSchema,
  name: z.string().min(1).max(200).optional(),
  email: z.email().max(320).optional(),
});
export type Member = z.infer<typeof memberSchema>;

export const bookingResourceSchema = z.object({
  id: idSchema,
  venue_id: idSchema,
  session_reference: idSchema,
  activity_reference: idSchema,
  member: memberSchema,
  status: z.enum(BOOKING_STATUSES),
  reason_code: z.union([reasonCodeSchema, z.literal(NO_ANSWER_REASON)]).nullable(),
  message: z.string().nullable(),
  late: z.boolean().nullable(),
  requested_at: timestamp,
  respond_by: timestamp,
  updated_at: timestamp,
});
export type BookingResource = z.infer<typeof bookingResourceSchema>;

export const healthResourceSchema = z.object({ status: z.literal('ok'), time: timestamp });

export const errorBodySchema = z.object({
  error: z.object({
    code: z.string(),
    message: z.string(),
    fields: z.array(z.object({ field: z.string(), message: z.string() })).optional(),
  }),
});
export type PartnerErrorBody = z.infer<typeof errorBodySchema>;

// Webhooks.

export const WEBHOOK_EVENT_TYPES = ['booking.requested', 'booking.cancelled', 'booking.checked_in'] as const;
export type WebhookEventType = (typeof WEBHOOK_EVENT_TYPES)[number];

const eventData = z.object({
  venue_id: idSchema,
  booking_id: idSchema,
  session_reference: idSchema,
  activity_reference: idSchema,
  member: memberSchema,
});
const eventBase = { id: idSchema, created_at: timestamp };

export const webhookEventSchema = z.discriminatedUnion('type', [
  z.object({ ...eventBase, type: z.literal('booking.requested'), data: eventData.extend({ respond_by: timestamp }) }),
  z.object({ ...eventBase, type: z.literal('booking.cancelled'), data: eventData.extend({ late: z.boolean() }) }),
  z.object({ ...eventBase, type: z.literal('booking.checked_in'), data: eventData.extend({ checked_in_at: timestamp }) }),
]);
export type WebhookEvent = z.infer<typeof webhookEventSchema>;

/** Our answer to booking.requested for an aggregator that decides from the webhook response (Onefit). */
export const bookingAnswerSchema = z.discriminatedUnion('status', [
  z.strictObject({ status: z.literal('confirmed') }),
  z.strictObject({ status: z.literal('rejected'), reason_code: reasonCodeSchema, message: message.optional() }),
]);
export type BookingAnswer = z.infer<typeof bookingAnswerSchema>;

/** One failing field, as the contract's 400 lists them. */
export interface FieldError {
  field: string;
  message: string;
}

/** zod issues as contract fields; an unknown key becomes one entry per key so the caller sees which. */
export function fieldErrors(error: z.ZodError): FieldError[] {
  return error.issues.flatMap((issue) => {
    const base = issue.path.map(String).join('.');
    if (issue.code === 'unrecognized_keys') {
      return issue.keys.map((key) => ({ field: base ? `${base}.${key}` : key, message: 'unknown field' }));
    }
    return [{ field: base || '(body)', message: issue.message }];
  });
}

export function describeFields(fields: FieldError[]): string {
  return fields.map((field) => `${field.field}: ${field.message}`).join('; ');
}
