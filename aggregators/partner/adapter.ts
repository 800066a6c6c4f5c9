import { z } from 'zod';
import type { ActivityListing, SessionListing } from '../../domain/listing.js';
import { AggregatorHttpError, JsonHttpClient, type HttpRequest } from '../http.js';
import type {
  AggregatorAdapter,
  BookingRef,
  ConnectionContext,
  HeldBookingStatus,
  HeldSession,
  SessionCounts,
  SessionRef,
} from '../types.js';
import { idempotencyKey, temporalActivityScope, type IdempotencyScope } from './idempotency.js';
import type { PartnerProfile } from './profile.js';
import {
  ID_PATTERN,
  activityBodySchema,
  activityResourceSchema,
  availabilityBodySchema,
  bookingResourceSchema,
  cancelBookingBodySchema,
  cancelSessionBodySchema,
  confirmBookingBodySchema,
  describeFields,
  errorBodySchema,
  fieldErrors,
  healthResourceSchema,
  listSessionsQuerySchema,
  rejectBookingBodySchema,
  SESSION_PAGE_MAX,
  sessionBodySchema,
  sessionPageSchema,
  sessionResourceSchema,
  type ActivityBody,
  type BookingAnswer,
  type BookingResource,
  type SessionBody,
} from './schemas.js';
import { verifyPartnerSignature } from './signature.js';
import { bookingAnswerBody, parsePartnerWebhook, partnerWebhookVenueId, type BookingDecision } from './webhook.js';

export interface PartnerAdapterOptions {
  /** Per-request timeout; default 10 s. */
  timeoutMs?: number;
  fetchImpl?: typeof fetch;
  /** Scope of the Idempotency-Key; default the current Temporal activity execution. */
  idempotencyScope?: IdempotencyScope;
  /** Sessions asked per page by listSessions (`limit`); default the contract's maximum, 500. */
  listPageSize?: number;
}

/** The generic adapter plus what only partner-contract aggregators need. */
export interface PartnerAdapter extends AggregatorAdapter {
  readonly profile: PartnerProfile;
  /** The webhook response body carrying a booking decision (aggregators that answer synchronously). */
  bookingAnswer(decision: BookingDecision): BookingAnswer;
}

/** The partner contract's booking statuses in our words. */
const HELD_STATUS: Readonly<Record<BookingResource['status'], HeldBookingStatus>> = {
  pending: 'pending',
  confirmed: 'reserved',
  rejected: 'rejected',
  expired: 'rejected',
  cancelled_by_member: 'cancelled',
  cancelled_by_venue: 'cancelled',
  checked_in: 'attended',
};

/** The contract's error code of a failed call (e.g. "booking_not_pending"), to tell a final 409 from a passing one. */
export function partnerErrorCode(error: unknown): string | undefined {
  if (!(error instanceof AggregatorHttpError)) return undefined;
  const parsed = errorBodySchema.safeParse(error.body);
  return parsed.success ? parsed.data.error.code : undefined;
}

interface Call<Res> {
  operation: string;
  method: HttpRequest['method'];
  /** Path segments after /v1, each checked against the id pattern when named. */
  path: (string | { name: string; value: string })[];
  body?: { schema: z.ZodType; value: unknown };
  /** Query parameters (undefined ones left out), checked by the schema before sending. */
  query?: { schema: z.ZodType; value: Record<string, string | undefined> };
  response: z.ZodType<Res>;
}

const MESSAGE_LIMIT = 500;
/** A studio's free text must not make a decision fail for good: long text is cut, empty text left out. */
const optionalText = (text: string | undefined) => (text ? text.slice(0, MESSAGE_LIMIT) : undefined);

function activityBody(activity: ActivityListing): ActivityBody {
  return {
    name: activity.name,
    description: activity.description,
    notes: activity.notes ?? null,
    category: activity.category,
    bookable: activity.bookable,
    visible: activity.visible,
  };
}

function sessionBody(activityReference: string, session: SessionListing): SessionBody {
  return {
    activity_reference: activityReference,
    starts_at: session.startsAt,
    duration_minutes: session.durationMinutes,
    room: session.room,
    instructors: session.instructors.map((instructor) => ({ name: instructor.name, substitute: instructor.substitute })),
    capacity: session.totalCapacity,
    booked: session.totalBooked,
    booking_opens_at: session.bookingOpensAt ?? null,
    booking_closes_at: session.bookingClosesAt ?? null,
    cancellable_until: session.cancellableUntil ?? null,
    active: session.active,
  };
}

export function createPartnerAdapter(profile: PartnerProfile, options: PartnerAdapterOptions = {}): PartnerAdapter {
  const { aggregator } = profile;
  const scope = options.idempotencyScope ?? temporalActivityScope;

  const refuse = (operation: string, message: string, body?: unknown) =>
    new AggregatorHttpError(aggregator, operation, undefined, false, message, undefined, body);

  async function call<Res>(ctx: ConnectionContext, spec: Call<Res>): Promise<Res> {
    const { operation } = spec;
    let host: string;
    try {
      host = new URL(ctx.baseUrl).hostname;
    } catch {
      // Not echoed: a URL can carry user:password.
      throw refuse(operation, "the connection's base URL is not a valid URL");
    }
    if (host.endsWith('.invalid')) {
      throw refuse(operation, `${profile.displayName} has no certified base URL yet; set the connection's base URL`);
    }
    const token = ctx.credentials.apiToken;
    if (!token) throw refuse(operation, 'the connection has no API token');

    const fields = spec.path.flatMap((segment) =>
      typeof segment === 'object' && !ID_PATTERN.test(segment.value)
        ? [{ field: segment.name, message: 'must be 1 to 128 letters, digits or . _ : -' }]
        : [],
    );
    let body: unknown;
    if (spec.body) {
      const parsed = spec.body.schema.safeParse(spec.body.value);
      if (parsed.success) body = parsed.data;
      else fields.push(...fieldErrors(parsed.error));
    }
    const query = new URLSearchParams();
    if (spec.query) {
      const given = Object.fromEntries(Object.entries(spec.query.value).filter(([, value]) => value !== undefined));
      const parsed = spec.query.schema.safeParse(given);
      if (parsed.success) for (const [name, value] of Object.entries(given)) query.set(name, value!);
      else fields.push(...fieldErrors(parsed.error));
    }
    if (fields.length > 0) {
      throw refuse(operation, `request refused before sending: ${describeFields(fields)}`, { fields });
    }

    const search = query.toString();
    const path = `/v1/${spec.path.map((segment) => encodeURIComponent(typeof segment === 'string' ? segment : segment.value)).join('/')}${search ? `?${search}` : ''}`;
    const headers: Record<string, string> = { authorization: `Bearer ${token}` };
    if (spec.method !== 'GET') headers['idempotency-key'] = idempotencyKey(scope(), operation, `${ctx.externalVenueId}:${path}`, body);
    const client = new JsonHttpClient({
      aggregator,
      baseUrl: ctx.baseUrl,
      timeoutMs: options.timeoutMs ?? 10_000,
      ...(options.fetchImpl ? { fetchImpl: options.fetchImpl } : {}),
    });
    const response = await client.request({ method: spec.method, path, body, headers, operation });
    const parsed = spec.response.safeParse(response.body);
    if (!parsed.success) {
      throw new AggregatorHttpError(
        aggregator,
        operation,
        response.status,
        false,
        `unexpected response body: ${describeFields(fieldErrors(parsed.error))}`,
        undefined,
        response.body,
      );
    }
    return parsed.data;
  }

  const venue = (ctx: ConnectionContext) => ({ name: 'venue_id', value: ctx.externalVenueId });
  const putActivity = (ctx: ConnectionContext, operation: string, reference: string, value: ActivityBody) =>
    call(ctx, {
      operation,
      method: 'PUT',
      path: ['venues', venue(ctx), 'activities', { name: 'reference', value: reference }],
      body: { schema: activityBodySchema, value },
      response: activityResourceSchema,
    });
  const sessionPath = (ctx: ConnectionContext, reference: string, ...rest: string[]) => [
    'venues',
    venue(ctx),
    'sessions',
    { name: 'reference', value: reference },
    ...rest,
  ];
  /**
   * A booking's answer or cancellation. A 409 that says the booking is no longer pending (or confirmed) is final: the
   * aggregator settled it otherwise (expired, cancelled with its session), and asking again would change nothing.
   */
  const bookingCall = async (ctx: ConnectionContext, operation: string, booking: BookingRef, action: string, schema: z.ZodType, value: unknown) => {
    try {
      return await call(ctx, {
        operation,
        method: 'POST',
        path: ['bookings', { name: 'booking_id', value: booking.bookingNumber }, action],
        body: { schema, value },
        response: bookingResourceSchema,
      });
    } catch (error) {
      const code = partnerErrorCode(error);
      if (error instanceof AggregatorHttpError && (code === 'booking_not_pending' || code === 'booking_not_confirmed')) {
        throw new AggregatorHttpError(error.aggregator, error.operation, error.status, false, error.aggregatorMessage, undefined, error.body);
      }
      throw error;
    }
  };

  return {
    aggregator,
    profile,
    capabilities: profile.capabilities,
    defaultBaseUrl: profile.defaultBaseUrl,

    async pushActivity(ctx, activity) {
      const resource = await putActivity(ctx, 'pushActivity', activity.activityId, activityBody(activity));
      return { externalId: resource.reference };
    },
    async updateActivity(ctx, externalId, activity) {
      await putActivity(ctx, 'updateActivity', externalId, activityBody(activity));
    },
    async hideActivity(ctx, externalId, activity) {
      // Activities are never deleted at the aggregator (bookings refer to them): hidden and closed instead.
      await putActivity(ctx, 'hideActivity', externalId, { ...activityBody(activity), bookable: false, visible: false });
    },

    async createSession(ctx, activityExternalId, session) {
      const resource = await call(ctx, {
        operation: 'createSession',
        method: 'PUT',
        path: sessionPath(ctx, session.sessionId),
        body: { schema: sessionBodySchema, value: sessionBody(activityExternalId, session) },
        response: sessionResourceSchema,
      });
      return { externalId: resource.reference };
    },
    async updateSession(ctx, ref: SessionRef, session) {
      await call(ctx, {
        operation: 'updateSession',
        method: 'PUT',
        path: sessionPath(ctx, ref.sessionExternalId),
        body: { schema: sessionBodySchema, value: sessionBody(ref.activityExternalId, session) },
        response: sessionResourceSchema,
      });
    },
    async patchSessionCounts(ctx, ref, counts: SessionCounts) {
      await call(ctx, {
        operation: 'patchSessionCounts',
        method: 'PATCH',
        path: sessionPath(ctx, ref.sessionExternalId, 'availability'),
        body: {
          schema: availabilityBodySchema,
          value: {
            ...(counts.totalCapacity !== undefined ? { capacity: counts.totalCapacity } : {}),
            ...(counts.totalBooked !== undefined ? { booked: counts.totalBooked } : {}),
          },
        },
        response: sessionResourceSchema,
      });
    },
    async deleteSession(ctx, ref) {
      await call(ctx, {
        operation: 'deleteSession',
        method: 'DELETE',
        path: sessionPath(ctx, ref.sessionExternalId),
        response: z.undefined(),
      });
    },
    async listSessions(ctx, activityExternalId, range) {
      const from = Date.parse(range.from);
      const to = Date.parse(range.to);
      const cursors = new Set<string>();
      // Each page is checked against what was asked: a session of another venue or activity, or outside the range,
      // would make the reconciliation remove or rewrite the wrong session; a repeated cursor would loop forever.
      const pageSchema = sessionPageSchema.superRefine((page, check) => {
        page.items.forEach((item, index) => {
          const wrong = (field: string, message: string) => check.addIssue({ code: 'custom', path: ['items', index, field], message });
          if (item.venue_id !== ctx.externalVenueId) wrong('venue_id', 'is not the venue asked for');
          if (item.activity_reference !== activityExternalId) wrong('activity_reference', 'is not the activity asked for');
          const startsAt = Date.parse(item.starts_at);
          if (startsAt < from || startsAt > to) wrong('starts_at', 'is outside the range asked for');
        });
        if (page.next_cursor !== null && cursors.has(page.next_cursor)) {
          check.addIssue({ code: 'custom', path: ['next_cursor'], message: 'repeats an earlier cursor: the listing does not advance' });
        }
      });
      // By reference: a session moved between two page reads may come twice; its last state wins.
      const held = new Map<string, HeldSession>();
      let cursor: string | undefined;
      do {
        const page = await call(ctx, {
          operation: 'listSessions',
          method: 'GET',
          path: ['venues', venue(ctx), 'sessions'],
          query: {
            schema: listSessionsQuerySchema,
            value: {
              activity_reference: activityExternalId,
              from: range.from,
              to: range.to,
              limit: String(options.listPageSize ?? SESSION_PAGE_MAX),
              cursor,
            },
          },
          response: pageSchema,
        });
        for (const item of page.items) {
          held.delete(item.reference);
          // A cancelled session stays listed at the aggregator but is not held: nothing of ours should match it.
          if (item.status !== 'scheduled') continue;
          held.set(item.reference, {
            externalId: item.reference,
            startsAt: item.starts_at,
            durationMinutes: item.duration_minutes,
            room: item.room,
            totalCapacity: item.capacity,
            totalBooked: item.booked,
          });
        }
        cursor = page.next_cursor ?? undefined;
        if (cursor !== undefined) cursors.add(cursor);
      } while (cursor !== undefined);
      return [...held.values()];
    },
    async cancelSession(ctx, ref, reason) {
      const text = optionalText(reason);
      await call(ctx, {
        operation: 'cancelSession',
        method: 'POST',
        path: sessionPath(ctx, ref.sessionExternalId, 'cancel'),
        body: { schema: cancelSessionBodySchema, value: text ? { reason: text } : {} },
        response: sessionResourceSchema,
      });
    },

    async readBookingStatus(ctx, booking) {
      const resource = await call(ctx, {
        operation: 'readBooking',
        method: 'GET',
        path: ['venues', venue(ctx), 'bookings', { name: 'booking_id', value: booking.bookingNumber }],
        response: bookingResourceSchema,
      });
      return HELD_STATUS[resource.status];
    },
    async confirmBooking(ctx, booking) {
      await bookingCall(ctx, 'confirmBooking', booking, 'confirm', confirmBookingBodySchema, { venue_id: ctx.externalVenueId });
    },
    async rejectBooking(ctx, booking, reason, message) {
      const text = optionalText(message);
      await bookingCall(ctx, 'rejectBooking', booking, 'reject', rejectBookingBodySchema, {
        venue_id: ctx.externalVenueId,
        reason_code: profile.reasonCodes[reason],
        ...(text ? { message: text } : {}),
      });
    },
    async cancelBookingByGym(ctx, booking, message) {
      if (profile.capabilities.cancelsWholeSessions) {
        throw refuse(
          'cancelBookingByGym',
          `${profile.displayName} does not cancel single bookings for a venue: cancel the whole session (cancelSession)`,
        );
      }
      const text = optionalText(message);
      await bookingCall(ctx, 'cancelBookingByGym', booking, 'cancel', cancelBookingBodySchema, {
        venue_id: ctx.externalVenueId,
        ...(text ? { message: text } : {}),
      });
    },

    verifyWebhook: (request, secret, now) => verifyPartnerSignature(request, secret, now),
    parseWebhook: (request) => parsePartnerWebhook(profile, request),
    webhookVenueId: (request) => partnerWebhookVenueId(request),
    bookingAnswer: (decision) => bookingAnswerBody(profile, decision),

    async health(ctx) {
      await call(ctx, { operation: 'health', method: 'GET', path: ['health'], response: healthResourceSchema });
    },
  };
}
