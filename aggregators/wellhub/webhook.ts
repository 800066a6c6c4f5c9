import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { WebhookParseError, type AggregatorEvent, type WebhookVerification } from '../types.js';
import { webhookBodySchema } from './webhook-schemas.js';

export const WELLHUB_SIGNATURE_HEADER = 'x-gympass-signature';

/** Wellhub's signature of a body: HMAC-SHA1 of the raw bytes with the partner's secret, upper-case hex. */
export function signWellhubBody(rawBody: Buffer | string, secret: string): string {
  return createHmac('sha1', secret).update(rawBody).digest('hex').toUpperCase();
}

/**
 * Checks X-Gympass-Signature. Wellhub documents upper-case hex, optionally prefixed "0X"; we also accept lower case
 * and "0x" because hex case carries no meaning and rejecting a genuine booking over it would cost a customer a spot.
 * The comparison is on the decoded bytes, in constant time.
 *
 * Wellhub signs no timestamp, so a captured request could be replayed; replays are harmless because the inbox keys
 * each event on event_id (or the body's digest) and the booking workflow on the booking number.
 */
export function verifyWellhubSignature(rawBody: Buffer, header: string | undefined, secret: string | undefined): WebhookVerification {
  if (secret === undefined || secret === '') return { ok: false, reason: 'no webhook secret configured for this connection' };
  if (header === undefined || header.trim() === '') return { ok: false, reason: 'missing X-Gympass-Signature header' };
  const hex = header.trim().replace(/^0x/i, '');
  if (!/^[0-9a-f]{40}$/i.test(hex)) return { ok: false, reason: 'malformed X-Gympass-Signature header (expected 40 hex digits)' };
  const given = Buffer.from(hex, 'hex');
  const expected = createHmac('sha1', secret).update(rawBody).digest();
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return { ok: false, reason: 'signature mismatch' };
  return { ok: true };
}

function parseJson(rawBody: Buffer): unknown {
  try {
    return JSON.parse(rawBody.toString('utf8')) as unknown;
  } catch {
    throw new WebhookParseError('webhook body is not valid JSON');
  }
}

/** A verified Wellhub webhook in our vocabulary. Throws WebhookParseError on a body it cannot understand. */
export function parseWellhubWebhook(rawBody: Buffer): AggregatorEvent {
  const parsed = webhookBodySchema.safeParse(parseJson(rawBody));
  if (!parsed.success) {
    const issues = parsed.error.issues.map((issue) => ({ field: issue.path.join('.'), message: issue.message }));
    throw new WebhookParseError(
      `Wellhub webhook body not understood: ${issues.map((issue) => `${issue.field}: ${issue.message}`).join('; ')}`,
      issues,
    );
  }
  const { event_type: type, event_data: data } = parsed.data;
  const base = {
    aggregator: 'wellhub' as const,
    // Without an event id, the digest of the exact bytes still makes a redelivery of the same event collide.
    eventId: data.event_id ?? createHash('sha256').update(rawBody).digest('hex'),
    occurredAt: data.timestamp,
    externalVenueId: data.slot.gym_id,
    bookingNumber: data.slot.booking_number,
    customer: {
      externalId: data.user.unique_token,
      name: data.user.name ?? undefined,
      email: data.user.email ?? undefined,
    },
    activityExternalId: data.slot.class_id ?? undefined,
    sessionExternalId: data.slot.id,
  };
  switch (type) {
    case 'booking-requested':
      return { ...base, type: 'booking_requested' };
    case 'booking-canceled':
      return { ...base, type: 'booking_cancelled', late: false };
    case 'booking-late-canceled':
      return { ...base, type: 'booking_cancelled', late: true };
    case 'checkin-booking-occurred':
      return { ...base, type: 'checked_in' };
  }
}

/** event_data.slot.gym_id, read before verification to find the connection; undefined when absent or unreadable. */
export function wellhubWebhookVenueId(rawBody: Buffer): string | undefined {
  let body: unknown;
  try {
    body = JSON.parse(rawBody.toString('utf8'));
  } catch {
    return undefined;
  }
  const gymId = (body as { event_data?: { slot?: { gym_id?: unknown } } } | null)?.event_data?.slot?.gym_id;
  if (typeof gymId === 'number' && Number.isFinite(gymId)) return String(gymId);
  if (typeof gymId === 'string' && gymId.trim() !== '') return gymId.trim();
  return undefined;
}
