import { AGGREGATORS, BOOKING_STATUSES, CONNECTION_STATUSES, SESSION_STATUSES, type Aggregator } from '../domain/model.js';
import { REJECT_REASONS } from '../domain/reasons.js';
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
const timeZone = z.enum(TIME_ZONES).meta({ id: 'TimeZone', description: 'IANA time zone name, e.g. Europe/Berlin' });

const name = text({ max: 200 });
const timestamp = z.iso.datetime({ offset: true });

// --- companies ---------------------------------------------------------------------------------------------------

export const CreateCompanyBody = z.object({ name }).strict().meta({ id: 'CreateCompany' });
export const Company = z.object({ id: Uuid, name: z.string(), createdAt: timestamp }).meta({ id: 'Company' });
export const CreatedCompany = z
  .object({
    company: Company,
    apiKey: z.object({
      key: z.string().meta({ description: 'Shown once: store it now; only its hash is kept.' }),
      prefix: z.string(),
    }),
  })
  .meta({ id: 'CreatedCompany' });

// --- venues ------------------------------------------------------------------------------------------------------

export const CreateVenueBody = z.object({ name, timeZone }).strict().meta({ id: 'CreateVenue' });
export const UpdateVenueBody = z
  .object({ name: name.optional(), timeZone: timeZone.optional() })
  .strict()
  .refine((b) => Object.keys(b).length > 0, 'give at least one field to change')
  .meta({ id: 'UpdateVenue', minProperties: 1 });
export const Venue = z
  .object({ id: Uuid, companyId: Uuid, name: z.string(), timeZone: z.string(), createdAt: timestamp, updatedAt: timestamp })
  .meta({ id: 'Venue' });

// --- connections -------------------------------------------------------------------------------------------------

const credentials = z
  .object({
    apiToken: text({ max: 4096, trim: false }).optional(),
    webhookSecret: text({ min: 8, max: 4096, trim: false }).optional(),
    keepPreviousWebhookSecret: z
      .boolean()
      .optional()
      .meta({
        description:
          'With a new `webhookSecret`: true keeps the secret held until now as the previous one (both verify webhooks) ' +
          'until it is removed with DELETE /v1/connections/{connectionId}/previous-webhook-secret; without it a new ' +
          '`webhookSecret` replaces the current one and drops any previous one. Needs `webhookSecret`.',
      }),
  })
  .strict()
  .refine(
    (c) => c.keepPreviousWebhookSecret !== true || c.webhookSecret !== undefined,
    rule('keepPreviousWebhookSecret needs a new webhookSecret', ['keepPreviousWebhookSecret']),
  );
const externalVenueId = text({ max: 200 });
const settingKey = text({ min: 0, max: 100, trim: false });
const settings = z
  .record(settingKey, z.union([text({ min: 0, max: 2000, trim: false }), z.number(), z.boolean()]))
  .meta({
    description: 'Product mapping and other non-secret settings, e.g. { "productId": 1 } for Wellhub',
    // zod's records do not describe their keys in the document: the key schema's own JSON Schema does.
    propertyNames: (({ $schema: _schema, ...keySchema }) => keySchema)(z.toJSONSchema(settingKey, { io: 'input' })),
  });
const httpUrl = z
  .url({ protocol: /^https?$/ })
  .max(2000)
  .meta({
    description:
      "Base URL of the aggregator's API; default: the adapter's production URL. Refused with 422: a URL with " +
      'credentials (user:password@), or pointing at a link-local or cloud metadata address; in production also a ' +
      'URL that is not https or whose host resolves to a loopback, private or other non-public address, unless ' +
      'the host is listed in the AGGREGATOR_HOST_ALLOWLIST setting.',
  });

export const CreateConnectionBody = z
  .object({
    aggregator: AggregatorSchema,
    status: z.enum(CONNECTION_STATUSES).default('requested'),
    externalVenueId: externalVenueId.optional().meta({ description: "The aggregator's id for the venue (Wellhub gym_id)" }),
    apiBaseUrl: httpUrl.optional(),
    settings: settings.default({}),
    credentials: credentials.optional().meta({ description: 'Write-only: never returned' }),
  })
  .strict()
  .meta({ id: 'CreateConnection' });

export const UpdateConnectionBody = z
  .object({
    status: z.enum(CONNECTION_STATUSES).optional(),
    externalVenueId: externalVenueId.nullable().optional(),
    apiBaseUrl: httpUrl.nullable().optional(),
    settings: settings.optional(),
    credentials: credentials.optional(),
  })
  .strict()
  .refine((b) => Object.keys(b).length > 0, 'give at least one field to change')
  .meta({ id: 'UpdateConnection', minProperties: 1 });

export const Connection = z
  .object({
    id: Uuid,
    venueId: Uuid,
    aggregator: z.string(),
    status: z.enum(CONNECTION_STATUSES),
    externalVenueId: z.string().nullable(),
    apiBaseUrl: z.string().nullable(),
    effectiveApiBaseUrl: z
      .string()
      .meta({ description: 'Where calls for this connection go: its own URL, the configured one, the local sandbox, or production' }),
    settings: z.record(z.string(), z.unknown()),
    credentials: z
      .object({
        apiToken: z.boolean(),
        webhookSecret: z.boolean(),
        previousWebhookSecret: z.boolean().meta({ description: 'A webhook secret kept from a rotation, which still verifies webhooks' }),
      })
      .meta({ description: 'Which secrets are set; their values are never returned' }),
    createdAt: timestamp,
    updatedAt: timestamp,
  })
  .meta({ id: 'Connection' });

// --- activities --------------------------------------------------------------------------------------------------

const minutes = z.number().int().min(0).max(525_600);

const registrationRulesShape = {
  allowAggregatorBookings: z.boolean().meta({ description: 'Off by default: nothing is offered until a studio opts in' }),
  aggregatorLimit: z
    .number()
    .int()
    .min(0)
    .max(32000)
    .nullable()
    .meta({ description: 'Most spots of one session aggregators together may take; null = up to capacity' }),
  // An object of optional fields rather than a record, so the document says no other key is allowed.
  aggregatorQuotas: z
    .object(Object.fromEntries(AGGREGATORS.map((a) => [a, z.number().int().min(0).max(32000).optional()])) as Record<Aggregator, z.ZodOptional<z.ZodNumber>>)
    .strict()
    .meta({ description: 'Per-aggregator quotas within the aggregator limit' }),
  bookingOpensMinutesBefore: minutes.nullable().meta({ description: 'null = bookable as soon as published' }),
  bookingClosesMinutesBefore: minutes,
  cancellationCutoffMinutes: minutes,
  requiresManualApproval: z
    .boolean()
    .meta({ description: 'Aggregator requests wait for a backend service to confirm or reject them' }),
};

export const RegistrationRules = z.object(registrationRulesShape).meta({ id: 'RegistrationRules' });

const registrationRulesInput = z
  .object({
    allowAggregatorBookings: registrationRulesShape.allowAggregatorBookings.optional(),
    aggregatorLimit: registrationRulesShape.aggregatorLimit.optional(),
    aggregatorQuotas: registrationRulesShape.aggregatorQuotas.optional(),
    bookingOpensMinutesBefore: registrationRulesShape.bookingOpensMinutesBefore.optional(),
    bookingClosesMinutesBefore: registrationRulesShape.bookingClosesMinutesBefore.optional(),
    cancellationCutoffMinutes: registrationRulesShape.cancellationCutoffMinutes.optional(),
    requiresManualApproval: registrationRulesShape.requiresManualApproval.optional(),
  })
  .strict();

export const CreateActivityBody = z
  .object({
    venueId: Uuid,
    name: text({ max: 255 }),
    description: text({ min: 0, max: 5000 }).default(''),
    category: text({ max: 100 }).nullable().default(null),
    maxParticipants: z.number().int().min(1).max(32000),
    registrationRules: registrationRulesInput.default({}),
  })
  .strict()
  .meta({ id: 'CreateActivity' });

export const UpdateActivityBody = z
  .object({
    name: text({ max: 255 }).optional(),
    description: text({ min: 0, max: 5000 }).optional(),
    category: text({ max: 100 }).nullable().optional(),
    maxParticipants: z.number().int().min(1).max(32000).optional(),
    registrationRules: registrationRulesInput.optional(),
  })
  .strict()
  .refine((b) => Object.keys(b).length > 0, 'give at least one field to change')
  .meta({ id: 'UpdateActivity', minProperties: 1 });

export const Activity = z
  .object({
    id: Uuid,
    venueId: Uuid,
    name: z.string(),
    description: z.string(),
    category: z.string().nullable(),
    maxParticipants: z.number().int(),
    registrationRules: RegistrationRules,
    lifecycle: z
      .object({ workflowId: z.string(), status: z.enum(['running', 'stopped']).nullable() })
      .nullable()
      .meta({ description: 'The lifecycle workflow (Temporal) when the activity is or was opted in' }),
    createdAt: timestamp,
    updatedAt: timestamp,
  })
  .meta({ id: 'Activity' });

export const SyncStatus = z
  .object({
    activityId: Uuid,
    offered: z.boolean().meta({ description: 'Opted in to aggregators' }),
    lifecycle: z
      .object({
        workflowId: z.string(),
        phase: z.enum(['starting', 'running', 'stopping', 'stopped']),
        syncPasses: z.number().int(),
        lastSyncReason: z.enum(['start', 'change', 'periodic']).nullable(),
        nextHorizonEntryAt: timestamp.nullable().meta({ description: 'When a session next enters the booking horizon' }),
      })
      .nullable()
      .meta({ description: 'The lifecycle workflow; null when the activity was never opted in' }),
    connections: z.array(
      z.object({
        connectionId: Uuid,
        aggregator: z.string(),
        active: z.boolean(),
        pending: z.boolean().meta({ description: 'A change waits for the next pass to this connection' }),
        running: z.boolean().meta({ description: 'A pass runs now, or retries after an error (see lastError)' }),
        passes: z.number().int(),
        lastSuccessAt: timestamp.nullable(),
        lastError: z.object({ message: z.string(), at: timestamp }).nullable(),
        published: z.object({ activity: z.boolean(), sessions: z.number().int() }),
        lastPass: z
          .object({ writes: z.number().int(), reads: z.number().int(), ops: z.record(z.string(), z.number().int()) })
          .nullable()
          .meta({ description: 'Aggregator calls of the last pass: writes by kind, and reads' }),
      }),
    ),
  })
  .meta({ id: 'SyncStatus' });

// --- sessions ----------------------------------------------------------------------------------------------------

const instructor = z.object({ name: text({ max: 100 }), substitute: z.boolean().default(false) }).strict();

export const CreateSessionBody = z
  .object({
    startsAt: timestamp.meta({
      description: "Start in the venue's local time with its offset, e.g. 2026-12-01T18:00:00+01:00",
      example: '2026-12-01T18:00:00+01:00',
    }),
    durationMinutes: z.number().int().min(1).max(1440),
    room: text({ min: 2, max: 200 }).nullable().default(null),
    instructors: z.array(instructor).max(20).default([]),
    capacityOverride: z.number().int().min(0).max(32000).nullable().default(null),
    aggregatorLimitOverride: z.number().int().min(0).max(32000).nullable().default(null),
  })
  .strict()
  .meta({ id: 'CreateSession' });

export const UpdateSessionBody = z
  .object({
    startsAt: timestamp.optional(),
    durationMinutes: z.number().int().min(1).max(1440).optional(),
    room: text({ min: 2, max: 200 }).nullable().optional(),
    instructors: z.array(instructor).max(20).optional(),
    capacityOverride: z.number().int().min(0).max(32000).nullable().optional(),
    aggregatorLimitOverride: z.number().int().min(0).max(32000).nullable().optional(),
  })
  .strict()
  .refine((b) => Object.keys(b).length > 0, 'give at least one field to change')
  .meta({ id: 'UpdateSession', minProperties: 1 });

export const Session = z
  .object({
    id: Uuid,
    activityId: Uuid,
    venueId: Uuid,
    startsAt: timestamp.meta({ description: 'In the offset the session was created with' }),
    durationMinutes: z.number().int(),
    room: z.string().nullable(),
    instructors: z.array(z.object({ name: z.string(), substitute: z.boolean() })),
    status: z.enum(SESSION_STATUSES),
    capacity: z.number().int().meta({ description: 'Effective capacity (override or the activity maximum)' }),
    capacityOverride: z.number().int().nullable(),
    aggregatorLimitOverride: z.number().int().nullable(),
    createdAt: timestamp,
    updatedAt: timestamp,
  })
  .meta({ id: 'Session' });

export const SessionListQuery = z
  .object({
    from: timestamp.optional(),
    to: timestamp.optional(),
    limit: z.coerce.number().int().min(1).max(500).default(100),
  })
  .strict()
  .refine((q) => !q.from || !q.to || Date.parse(q.from) <= Date.parse(q.to), rule('from must not be after to', ['from']));

/**
 * A refinement the document cannot express (it relates two fields): failing it answers 422, not 400.
 * `validationError` reads the marker.
 */
export function rule(message: string, path: string[]) {
  return { message, path, params: { [CROSS_FIELD_RULE]: true } };
}

// --- customers ---------------------------------------------------------------------------------------------------

/** The aggregator's id for a member (Wellhub: unique_token). */
const externalMemberId = text({ max: 200, trim: false }).meta({ description: "The aggregator's id for the member" });
// An object of optional fields, so the document says exactly which keys are allowed.
const aggregatorIds = z
  .object(Object.fromEntries(AGGREGATORS.map((a) => [a, externalMemberId.optional()])) as Record<Aggregator, z.ZodOptional<typeof externalMemberId>>)
  .strict()
  .meta({ description: 'At most one id per aggregator; unique per aggregator within the company' });
// A plain shape check, spelled out so the document's pattern and the server's check are the same on every engine.
const email = z
  .string()
  .max(320)
  .regex(new RegExp(String.raw`^[^@\u0000-\u0020\u007f]+@[^@\u0000-\u0020\u007f]+$`), 'must be an e-mail address');

export const CreateCustomerBody = z
  .object({
    name: text({ max: 200 }).nullable().default(null),
    email: email.nullable().default(null),
    aggregatorIds: aggregatorIds.default({}),
  })
  .strict()
  .meta({ id: 'CreateCustomer' });

export const AggregatorIdBody = z.object({ externalId: externalMemberId }).strict().meta({ id: 'AggregatorIdBody' });

export const Customer = z
  .object({
    id: Uuid,
    name: z.string().nullable(),
    email: z.string().nullable(),
    aggregatorIds: z.record(z.string(), z.string()),
    erasedAt: timestamp.nullable().meta({ description: 'When the personal data (name, e-mail) was erased on request' }),
    createdAt: timestamp,
    updatedAt: timestamp,
  })
  .meta({ id: 'Customer' });

export const CustomerListQuery = z
  .object({
    aggregator: AggregatorSchema.optional(),
    externalId: externalMemberId.optional(),
    after: Uuid.optional().meta({ description: 'The last customer id of the previous page' }),
    limit: z.coerce.number().int().min(1).max(500).default(100),
  })
  .strict()
  .refine((q) => q.externalId === undefined || q.aggregator !== undefined, rule('externalId needs aggregator', ['externalId']));

export const CustomerList = z
  .object({ items: z.array(Customer), nextAfter: Uuid.nullable().meta({ description: 'Pass as `after` for the next page; null on the last' }) })
  .meta({ id: 'CustomerList' });

// --- bookings ----------------------------------------------------------------------------------------------------

export const CreateBookingBody = z.object({ customerId: Uuid }).strict().meta({ id: 'CreateBooking' });

export const CancelBookingBody = z
  .object({
    by: z.enum(['customer', 'gym']).default('customer').meta({ description: 'Who cancels: the customer (through the studio) or the studio' }),
    reason: text({ max: 500 }).optional(),
  })
  .strict()
  .meta({ id: 'CancelBooking' });

export const Booking = z
  .object({
    id: Uuid,
    sessionId: Uuid,
    customerId: Uuid,
    source: z.string().meta({ description: '`direct`, or the aggregator' }),
    bookingNumber: z.string().nullable().meta({ description: "The aggregator's booking number" }),
    status: z.enum(BOOKING_STATUSES),
    statusReason: z.string().nullable(),
    product: z.string().nullable(),
    paid: z.boolean(),
    history: z.array(
      z.object({ from: z.enum(BOOKING_STATUSES).nullable(), to: z.enum(BOOKING_STATUSES), reason: z.string().nullable(), actor: z.string(), at: timestamp }),
    ),
    createdAt: timestamp,
    updatedAt: timestamp,
  })
  .meta({ id: 'Booking' });

export const SignInList = z
  .object({
    sessionId: Uuid,
    items: z.array(
      z.object({
        bookingId: Uuid,
        customer: z.object({ id: Uuid, name: z.string().nullable() }),
        source: z.string(),
        product: z.string().nullable(),
        paid: z.boolean(),
        status: z.enum(BOOKING_STATUSES),
      }),
    ),
  })
  .meta({ id: 'SignInList' });

export const listOf = <T extends z.ZodType>(item: T, id: string) => z.object({ items: z.array(item) }).meta({ id });

// --- aggregator booking requests ---------------------------------------------------------------------------------

export const REQUEST_DECISIONS = ['awaiting_approval', 'reserve', 'reject'] as const;
export const REQUEST_ANSWERS = ['pending', 'sent', 'in_webhook_response', 'refused', 'unreachable', 'not_needed'] as const;

export const BookingRequest = z
  .object({
    aggregator: z.string(),
    bookingNumber: z.string(),
    bookingId: Uuid.nullable().meta({ description: 'null when the request named no session of ours' }),
    sessionId: Uuid.nullable(),
    customerId: Uuid.nullable(),
    decision: z.enum(REQUEST_DECISIONS),
    reason: z.enum(REJECT_REASONS).nullable(),
    message: z.string().nullable(),
    answer: z.enum(REQUEST_ANSWERS).meta({
      description:
        'What the aggregator was told: pending (not yet), sent (by its API), in_webhook_response (synchronous), refused ' +
        '(it refused our answer), unreachable (its own auto-reject at the deadline applies), not_needed (the member cancelled first)',
    }),
    requestedAt: timestamp,
    deadlineAt: timestamp.meta({ description: 'When the aggregator rejects the request on its own' }),
    answeredAt: timestamp.nullable(),
  })
  .meta({ id: 'BookingRequest' });

export const BookingRequestListQuery = z
  .object({
    decision: z.enum(REQUEST_DECISIONS).default('awaiting_approval'),
    sessionId: Uuid.optional(),
    limit: z.coerce.number().int().min(1).max(200).default(50),
  })
  .strict();

export const DeclineBookingBody = z
  .object({
    reason: z.enum(REJECT_REASONS).default('USAGE_RESTRICTION').meta({ description: 'The category the aggregator is told' }),
    message: text({ max: 500 }).optional(),
  })
  .strict()
  .meta({ id: 'DeclineBooking' });

// --- session cancellations ----------------------------------------------------------------------------------------

export const CancelSessionBody = z
  .object({ reason: text({ max: 500 }).meta({ description: 'Why the studio cancels: kept on the session and in every booking history' }) })
  .strict()
  .meta({ id: 'CancelSession' });

export const CancelActivitySessionsBody = z
  .object({
    reason: text({ max: 500 }),
    from: timestamp.optional().meta({ description: 'Cancel sessions starting at or after this (default: now)' }),
    to: timestamp.optional().meta({ description: 'Cancel sessions starting at or before this (default: every future one)' }),
  })
  .strict()
  .refine((b) => !b.from || !b.to || Date.parse(b.from) <= Date.parse(b.to), rule('from must not be after to', ['from']))
  .meta({ id: 'CancelActivitySessions' });

export const Cancellation = z
  .object({
    sessionId: Uuid,
    activityId: Uuid,
    venueId: Uuid,
    reason: z.string(),
    status: z.enum(['in_progress', 'done', 'failed']).meta({
      description: 'done: every aggregator has it; failed: one refused it for good (see its lastError); in_progress otherwise',
    }),
    bookingsCancelled: z.number().int().meta({ description: 'Bookings that were reserved and became cancelled_by_gym' }),
    requestedAt: timestamp,
    completedAt: timestamp.nullable(),
    aggregators: z.array(
      z.object({
        aggregator: z.string(),
        connectionId: Uuid,
        status: z.enum(['pending', 'retrying', 'done', 'failed']),
        attempts: z.number().int(),
        lastError: z.string().nullable(),
        lastErrorAt: timestamp.nullable(),
        doneAt: timestamp.nullable(),
      }),
    ),
  })
  .meta({ id: 'Cancellation' });

export const ActivityCancellations = z
  .object({ activityId: Uuid, cancellations: z.array(Cancellation) })
  .meta({ id: 'ActivityCancellations' });
