import { createHash, createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { WebhookParseError } from '../../aggregators/types.js';
import {
  createWellhubAdapter,
  parseWellhubWebhook,
  signWellhubBody,
  verifyWellhubSignature,
  wellhubWebhookVenueId,
} from '../../aggregators/wellhub/index.js';

const SECRET = 'partner-webhook-secret';
const adapter = createWellhubAdapter();

function body(overrides: { event_type?: unknown; timestamp?: unknown; event_id?: unknown; slot?: Record<string, unknown>; user?: Record<string, unknown> } = {}) {
  return Buffer.from(
    JSON.stringify({
      event_type: overrides.event_type ?? 'booking-requested',
      event_data: {
        user: { unique_token: 'tok-123', name: 'Ana Lima', email: 'ana@example.com', ...overrides.user },
        slot: { id: 55, gym_id: 7, class_id: 9, booking_number: 'BKN-1', ...overrides.slot },
        timestamp: 'timestamp' in overrides ? overrides.timestamp : 1_767_225_600_000,
        ...('event_id' in overrides ? (overrides.event_id === undefined ? {} : { event_id: overrides.event_id }) : { event_id: 'evt-1' }),
      },
    }),
  );
}

const hmacHex = (raw: Buffer, secret = SECRET) => createHmac('sha1', secret).update(raw).digest('hex');

describe('Wellhub webhook signature (X-Gympass-Signature)', () => {
  const raw = body();

  it('signs like Wellhub: upper-case hex HMAC-SHA1 of the raw body', () => {
    expect(signWellhubBody(raw, SECRET)).toBe(hmacHex(raw).toUpperCase());
    expect(signWellhubBody(raw, SECRET)).toMatch(/^[0-9A-F]{40}$/);
  });

  it('accepts the documented upper-case signature', () => {
    expect(verifyWellhubSignature(raw, hmacHex(raw).toUpperCase(), SECRET)).toEqual({ ok: true });
  });

  it('accepts a lower-case signature (hex case carries no meaning)', () => {
    expect(verifyWellhubSignature(raw, hmacHex(raw), SECRET)).toEqual({ ok: true });
  });

  it('accepts the 0X prefix, and 0x, and surrounding spaces', () => {
    expect(verifyWellhubSignature(raw, `0X${hmacHex(raw).toUpperCase()}`, SECRET)).toEqual({ ok: true });
    expect(verifyWellhubSignature(raw, `0x${hmacHex(raw)}`, SECRET)).toEqual({ ok: true });
    expect(verifyWellhubSignature(raw, `  ${hmacHex(raw).toUpperCase()} `, SECRET)).toEqual({ ok: true });
  });

  it('refuses a signature made with another secret', () => {
    const result = verifyWellhubSignature(raw, signWellhubBody(raw, 'someone-else'), SECRET);
    expect(result).toEqual({ ok: false, reason: 'signature mismatch' });
  });

  it('refuses a body changed after signing, even by one byte', () => {
    const signature = signWellhubBody(raw, SECRET);
    const tampered = Buffer.from(raw.toString('utf8').replace('BKN-1', 'BKN-2'));
    expect(verifyWellhubSignature(tampered, signature, SECRET).ok).toBe(false);
  });

  it('refuses a missing or empty header', () => {
    expect(verifyWellhubSignature(raw, undefined, SECRET)).toEqual({ ok: false, reason: 'missing X-Gympass-Signature header' });
    expect(verifyWellhubSignature(raw, '   ', SECRET)).toEqual({ ok: false, reason: 'missing X-Gympass-Signature header' });
  });

  it('refuses malformed signatures without throwing (wrong length, not hex, a sha256)', () => {
    for (const header of ['ABC', 'Z'.repeat(40), createHmac('sha256', SECRET).update(raw).digest('hex'), `0X0X${hmacHex(raw)}`]) {
      const result = verifyWellhubSignature(raw, header, SECRET);
      expect(result.ok).toBe(false);
    }
  });

  it('refuses everything when the connection has no secret', () => {
    expect(verifyWellhubSignature(raw, signWellhubBody(raw, ''), '').ok).toBe(false);
    expect(verifyWellhubSignature(raw, signWellhubBody(raw, SECRET), undefined).ok).toBe(false);
  });

  it('is what the adapter uses, reading the lower-cased header name', () => {
    const headers = { 'x-gympass-signature': signWellhubBody(raw, SECRET) };
    expect(adapter.verifyWebhook({ rawBody: raw, headers }, SECRET)).toEqual({ ok: true });
    expect(adapter.verifyWebhook({ rawBody: raw, headers: {} }, SECRET).ok).toBe(false);
  });

  it('lets a replay through verification, but with the same eventId, so the inbox stores it once', () => {
    // Wellhub signs no timestamp: replay protection is the inbox's unique key on the event id.
    const headers = { 'x-gympass-signature': signWellhubBody(raw, SECRET) };
    const first = adapter.verifyWebhook({ rawBody: raw, headers }, SECRET);
    const again = adapter.verifyWebhook({ rawBody: raw, headers }, SECRET);
    expect(first.ok && again.ok).toBe(true);
    expect(adapter.parseWebhook({ rawBody: raw, headers }).eventId).toBe(adapter.parseWebhook({ rawBody: raw, headers }).eventId);
  });
});

describe('Wellhub webhook parsing', () => {
  it('maps booking-requested to our vocabulary', () => {
    expect(parseWellhubWebhook(body())).toEqual({
      aggregator: 'wellhub',
      type: 'booking_requested',
      eventId: 'evt-1',
      occurredAt: new Date(1_767_225_600_000),
      externalVenueId: '7',
      bookingNumber: 'BKN-1',
      customer: { externalId: 'tok-123', name: 'Ana Lima', email: 'ana@example.com' },
      activityExternalId: '9',
      sessionExternalId: '55',
    });
  });

  it('maps each documented event type', () => {
    expect(parseWellhubWebhook(body({ event_type: 'booking-canceled' }))).toMatchObject({ type: 'booking_cancelled', late: false });
    expect(parseWellhubWebhook(body({ event_type: 'booking-late-canceled' }))).toMatchObject({ type: 'booking_cancelled', late: true });
    expect(parseWellhubWebhook(body({ event_type: 'checkin-booking-occurred' }))).toMatchObject({ type: 'checked_in' });
  });

  it.each([
    ['booking-cancelled', 'booking_cancelled', false],
    ['BOOKING-CANCELED', 'booking_cancelled', false],
    ['booking_canceled', 'booking_cancelled', false],
    ['booking-late-cancelled', 'booking_cancelled', true],
    ['BOOKING_LATE_CANCELLED', 'booking_cancelled', true],
    ['booking_requested', 'booking_requested', undefined],
    ['Booking-Requested', 'booking_requested', undefined],
    ['checkin-booking-occured', 'checked_in', undefined],
    ['CHECKIN_BOOKING_OCCURRED', 'checked_in', undefined],
    ['check-in-booking-occurred', 'checked_in', undefined],
  ])('tolerates the spelling %s', (eventType, type, late) => {
    const event = parseWellhubWebhook(body({ event_type: eventType }));
    expect(event.type).toBe(type);
    if (late !== undefined) expect(event).toMatchObject({ late });
  });

  it('reads timestamps in milliseconds or seconds, deciding by magnitude', () => {
    const at = new Date('2026-03-01T10:00:00Z');
    expect(parseWellhubWebhook(body({ timestamp: at.getTime() })).occurredAt).toEqual(at);
    expect(parseWellhubWebhook(body({ timestamp: at.getTime() / 1000 })).occurredAt).toEqual(at);
    expect(parseWellhubWebhook(body({ timestamp: String(at.getTime()) })).occurredAt).toEqual(at);
    expect(parseWellhubWebhook(body({ timestamp: String(at.getTime() / 1000) })).occurredAt).toEqual(at);
    expect(parseWellhubWebhook(body({ timestamp: '2026-03-01T11:00:00+01:00' })).occurredAt).toEqual(at);
  });

  it('refuses a timestamp past the last date a JavaScript date can hold (it would fail later, as a 500)', () => {
    expect(() => parseWellhubWebhook(body({ timestamp: 8_640_000_000_000_001 }))).toThrow(WebhookParseError);
    expect(() => parseWellhubWebhook(body({ timestamp: '8640000000000001' }))).toThrow(WebhookParseError);
    expect(parseWellhubWebhook(body({ timestamp: 8_640_000_000_000_000 })).occurredAt.getTime()).toBe(8_640_000_000_000_000);
  });

  it('accepts ids as numbers or strings and always answers strings', () => {
    const event = parseWellhubWebhook(body({ slot: { id: '55', gym_id: '7', class_id: 9, booking_number: 123456 }, user: { unique_token: 998877 } }));
    expect(event).toMatchObject({ sessionExternalId: '55', externalVenueId: '7', activityExternalId: '9', bookingNumber: '123456' });
    expect(event.customer.externalId).toBe('998877');
  });

  it('falls back to a digest of the raw body when event_id is missing: same bytes, same id', () => {
    const raw = body({ event_id: undefined });
    const event = parseWellhubWebhook(raw);
    expect(event.eventId).toBe(createHash('sha256').update(raw).digest('hex'));
    expect(parseWellhubWebhook(Buffer.from(raw)).eventId).toBe(event.eventId);
    expect(parseWellhubWebhook(body({ event_id: undefined, slot: { booking_number: 'BKN-2' } })).eventId).not.toBe(event.eventId);
  });

  it('keeps name and email optional', () => {
    const event = parseWellhubWebhook(body({ user: { name: null, email: undefined } }));
    expect(event.customer).toEqual({ externalId: 'tok-123', name: undefined, email: undefined });
  });

  it.each([
    ['not JSON', Buffer.from('{"event_type": "booking-requested",')],
    ['a JSON array', Buffer.from('[]')],
    ['JSON null', Buffer.from('null')],
    ['no event_data', Buffer.from(JSON.stringify({ event_type: 'booking-requested' }))],
    ['an unknown event type', body({ event_type: 'booking-exploded' })],
    ['a numeric event type', body({ event_type: 3 })],
    ['no booking number', body({ slot: { booking_number: undefined } })],
    ['an empty booking number', body({ slot: { booking_number: '  ' } })],
    ['no slot id', body({ slot: { id: undefined } })],
    ['no gym id', body({ slot: { gym_id: undefined } })],
    ['no user token', body({ user: { unique_token: undefined } })],
    ['no timestamp', body({ timestamp: undefined })],
    ['a nonsense timestamp', body({ timestamp: 'yesterday-ish' })],
    ['a negative timestamp', body({ timestamp: -5 })],
  ])('throws WebhookParseError on %s', (_label, raw) => {
    expect(() => parseWellhubWebhook(raw)).toThrow(WebhookParseError);
  });

  it('names the failing field in the parse error', () => {
    try {
      parseWellhubWebhook(body({ slot: { booking_number: undefined } }));
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(WebhookParseError);
      expect((error as Error).message).toContain('event_data.slot.booking_number');
    }
  });
});

describe('Wellhub webhook venue id', () => {
  it('reads event_data.slot.gym_id as a string, before verification', () => {
    expect(wellhubWebhookVenueId(body())).toBe('7');
    expect(wellhubWebhookVenueId(body({ slot: { gym_id: ' 12 ' } }))).toBe('12');
    expect(adapter.webhookVenueId({ rawBody: body(), headers: {} })).toBe('7');
  });

  it('answers undefined for bodies without one, never throwing', () => {
    expect(wellhubWebhookVenueId(Buffer.from('not json'))).toBeUndefined();
    expect(wellhubWebhookVenueId(Buffer.from('null'))).toBeUndefined();
    expect(wellhubWebhookVenueId(Buffer.from('{"event_data":{}}'))).toBeUndefined();
    expect(wellhubWebhookVenueId(body({ slot: { gym_id: { id: 7 } } }))).toBeUndefined();
  });
});
