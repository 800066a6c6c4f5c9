import type { AggregatorEvent, WebhookRequest } from '../types.js';
import { WebhookParseError } from '../types.js';
import type { PartnerProfile } from './profile.js';
import { bookingAnswerSchema, describeFields, fieldErrors, webhookEventSchema, type BookingAnswer } from './schemas.js';
import type { RejectReason } from '../../domain/reasons.js';

function readJson(rawBody: Buffer): unknown {
  try {
    return JSON.parse(rawBody.toString('utf8')) as unknown;
  } catch (error) {
    throw new WebhookParseError(`webhook body is not JSON: ${error instanceof Error ? error.message : String(error)}`);
  }
}

/** A verified partner webhook as our normalized event; WebhookParseError on anything the contract does not describe. */
export function parsePartnerWebhook(profile: PartnerProfile, request: WebhookRequest): AggregatorEvent {
  const parsed = webhookEventSchema.safeParse(readJson(request.rawBody));
  if (!parsed.success) {
    const fields = fieldErrors(parsed.error);
    throw new WebhookParseError(`${profile.displayName} webhook body is invalid: ${describeFields(fields)}`, fields);
  }
  const event = parsed.data;
  const { data } = event;
  const base = {
    aggregator: profile.aggregator,
    eventId: event.id,
    occurredAt: new Date(event.created_at),
    externalVenueId: data.venue_id,
    bookingNumber: data.booking_id,
    customer: { externalId: data.member.id, name: data.member.name, email: data.member.email },
    activityExternalId: data.activity_reference,
    sessionExternalId: data.session_reference,
  };
  switch (event.type) {
    case 'booking.requested':
      return { ...base, type: 'booking_requested' };
    case 'booking.cancelled':
      return { ...base, type: 'booking_cancelled', late: event.data.late };
    case 'booking.checked_in':
      return { ...base, type: 'checked_in' };
  }
}

/** The venue a webhook names, read leniently before verification to find the connection's secret. */
export function partnerWebhookVenueId(request: WebhookRequest): string | undefined {
  try {
    const body = JSON.parse(request.rawBody.toString('utf8')) as unknown;
    if (typeof body !== 'object' || body === null) return undefined;
    const data = (body as { data?: unknown }).data;
    if (typeof data !== 'object' || data === null) return undefined;
    const venueId = (data as { venue_id?: unknown }).venue_id;
    return typeof venueId === 'string' && venueId !== '' ? venueId : undefined;
  } catch {
    return undefined;
  }
}

export type BookingDecision = { status: 'confirmed' } | { status: 'rejected'; reason: RejectReason; message?: string | undefined };

/** The webhook response body that carries the decision, for an aggregator that reads it from there (Onefit). */
export function bookingAnswerBody(profile: PartnerProfile, decision: BookingDecision): BookingAnswer {
  const answer: BookingAnswer =
    decision.status === 'confirmed'
      ? { status: 'confirmed' }
      : {
          status: 'rejected',
          reason_code: profile.reasonCodes[decision.reason],
          ...(decision.message ? { message: decision.message.slice(0, 500) } : {}),
        };
  return bookingAnswerSchema.parse(answer);
}
