import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { classpassAdapter } from '../../aggregators/classpass/index.js';
import { egymWellpassAdapter } from '../../aggregators/egym_wellpass/index.js';
import { onefitAdapter } from '../../aggregators/onefit/index.js';
import { REPLAY_WINDOW_SECONDS, signWebhook, type PartnerAdapter } from '../../aggregators/partner/index.js';
import { bookingAnswerSchema } from '../../aggregators/partner/schemas.js';
import { WebhookParseError, type WebhookRequest } from '../../aggregators/types.js';
import { workitAdapter } from '../../aggregators/workit/index.js';
import { REJECT_REASONS } from '../../domain/reasons.js';

const SECRET = 'whsec_test_0123456789';
const NOW = new Date('2026-12-01T10:00:00Z');
const NOW_S = NOW.getTime() / 1000;
const adapter = classpassAdapter;

function event(type: string, extra: Record<string, unknown> = {}, overrides: Record<string, unknown> = {}) {
  return {
    id: 'evt_1',
    type,
    created_at: '2026-12-01T09:59:58Z',
    data: {
      venue_id: 'venue-1',
      booking_id: 'bk-42',
      session_reference: 'session-7',
      activity_reference: 'activity-3',
      member: { id: 'member-9', name: 'Kim Doe', email: 'kim@example.com' },
      ...extra,
    },
    ...overrides,
  };
}

const requested = () => event('booking.requested', { respond_by: '2026-12-01T10:15:00Z' });

function request(body: unknown, headers: Record<string, string | undefined> = {}): WebhookRequest {
  return { rawBody: Buffer.from(typeof body === 'string' ? body : JSON.stringify(body)), headers };
}

/** A request signed as the contract says, with lower-cased header names as our webhook route passes them. */
function signed(body: unknown, timestamp = NOW_S, secret = SECRET): WebhookRequest {
  const raw = request(body).rawBody;
  const headers = signWebhook(secret, raw, timestamp);
  return { rawBody: raw, headers: { 'x-partner-timestamp': headers['X-Partner-Timestamp'], 'x-partner-signature': headers['X-Partner-Signature'] } };
}

function hexDigest(raw: Buffer, timestamp: number, secret = SECRET): string {
  return createHmac('sha256', secret).update(`${timestamp}.`).update(raw).digest('hex');
}

function withSignature(req: WebhookRequest, signature: string | undefined): WebhookRequest {
  return { ...req, headers: { ...req.headers, 'x-partner-signature': signature } };
}

describe('partner webhook signature', () => {
  it('accepts a correctly signed request and the signature is HMAC-SHA256 of "timestamp.body"', () => {
    const req = signed(requested());
    expect(req.headers['x-partner-signature']).toBe(`v1=${hexDigest(req.rawBody, NOW_S)}`);
    expect(adapter.verifyWebhook(req, SECRET, NOW)).toEqual({ ok: true });
  });

  it('accepts lower-case and upper-case hex', () => {
    const req = signed(requested());
    const hex = hexDigest(req.rawBody, NOW_S);
    expect(adapter.verifyWebhook(withSignature(req, `v1=${hex.toLowerCase()}`), SECRET, NOW).ok).toBe(true);
    expect(adapter.verifyWebhook(withSignature(req, `v1=${hex.toUpperCase()}`), SECRET, NOW).ok).toBe(true);
  });

  it('accepts several entries (secret rotation) when any v1 matches, ignoring spaces and unknown schemes', () => {
    const req = signed(requested());
    const good = hexDigest(req.rawBody, NOW_S);
    const old = hexDigest(req.rawBody, NOW_S, 'old-secret');
    expect(adapter.verifyWebhook(withSignature(req, `v1=${old}, v1=${good}`), SECRET, NOW).ok).toBe(true);
    expect(adapter.verifyWebhook(withSignature(req, `v2=abc,v1=${good}`), SECRET, NOW).ok).toBe(true);
    expect(adapter.verifyWebhook(withSignature(req, `v1=${old},v2=${good}`), SECRET, NOW)).toEqual({
      ok: false,
      reason: 'X-Partner-Signature does not match the body',
    });
  });

  it.each([
    ['a bare hex digest', (hex: string) => hex, 'has no v1=<hex> entry'],
    ['a sha256= prefix', (hex: string) => `sha256=${hex}`, 'has no v1=<hex> entry'],
    ['an upper-case scheme', (hex: string) => `V1=${hex}`, 'has no v1=<hex> entry'],
    ['a 0x prefix inside v1', (hex: string) => `v1=0x${hex}`, 'not 64 hexadecimal characters'],
    ['a truncated digest', (hex: string) => `v1=${hex.slice(1)}`, 'not 64 hexadecimal characters'],
    ['a non-hex digest', (hex: string) => `v1=${'z'.repeat(hex.length)}`, 'not 64 hexadecimal characters'],
  ])('refuses %s', (_label, form, reason) => {
    const req = signed(requested());
    const result = adapter.verifyWebhook(withSignature(req, form(hexDigest(req.rawBody, NOW_S))), SECRET, NOW);
    expect(result.ok).toBe(false);
    expect(!result.ok && result.reason).toContain(reason);
  });

  it('refuses a wrong secret, a changed body and a changed timestamp', () => {
    const req = signed(requested());
    expect(adapter.verifyWebhook(req, 'another-secret', NOW)).toEqual({ ok: false, reason: 'X-Partner-Signature does not match the body' });
    const tampered = { ...req, rawBody: Buffer.from(req.rawBody.toString().replace('bk-42', 'bk-43')) };
    expect(adapter.verifyWebhook(tampered, SECRET, NOW).ok).toBe(false);
    const moved = { ...req, headers: { ...req.headers, 'x-partner-timestamp': String(NOW_S - 1) } };
    expect(adapter.verifyWebhook(moved, SECRET, NOW).ok).toBe(false);
  });

  it('refuses missing or garbled headers and a missing secret, each with its reason', () => {
    const req = signed(requested());
    const cases: [WebhookRequest, string, string][] = [
      [{ ...req, headers: { 'x-partner-signature': req.headers['x-partner-signature'] } }, SECRET, 'missing X-Partner-Timestamp header'],
      [{ ...req, headers: { ...req.headers, 'x-partner-timestamp': '2026-12-01T10:00:00Z' } }, SECRET, 'X-Partner-Timestamp is not Unix seconds'],
      [{ ...req, headers: { ...req.headers, 'x-partner-timestamp': '-5' } }, SECRET, 'X-Partner-Timestamp is not Unix seconds'],
      [withSignature(req, undefined), SECRET, 'missing X-Partner-Signature header'],
      [withSignature(req, '  '), SECRET, 'missing X-Partner-Signature header'],
      [req, '', 'no webhook secret configured for the connection'],
    ];
    for (const [candidate, secret, reason] of cases) {
      expect(adapter.verifyWebhook(candidate, secret, NOW)).toEqual({ ok: false, reason });
    }
  });

  it('refuses a request older than the replay window and one too far in the future, accepts the edges', () => {
    const body = requested();
    expect(adapter.verifyWebhook(signed(body, NOW_S - REPLAY_WINDOW_SECONDS), SECRET, NOW).ok).toBe(true);
    const old = adapter.verifyWebhook(signed(body, NOW_S - REPLAY_WINDOW_SECONDS - 1), SECRET, NOW);
    expect(old).toEqual({ ok: false, reason: 'X-Partner-Timestamp is 301 s old, outside the 300 s replay window' });
    expect(adapter.verifyWebhook(signed(body, NOW_S + 60), SECRET, NOW).ok).toBe(true);
    const future = adapter.verifyWebhook(signed(body, NOW_S + 61), SECRET, NOW);
    expect(future).toEqual({ ok: false, reason: 'X-Partner-Timestamp is 61 s in the future (more than 60 s)' });
  });

  it('a replay within the window verifies, and the same event id makes it the same inbox key', () => {
    const body = requested();
    const first = signed(body, NOW_S - 10);
    const again = signed(body, NOW_S);
    expect(adapter.verifyWebhook(first, SECRET, NOW).ok).toBe(true);
    expect(adapter.verifyWebhook(again, SECRET, NOW).ok).toBe(true);
    expect(adapter.parseWebhook(first).eventId).toBe('evt_1');
    expect(adapter.parseWebhook(again).eventId).toBe(adapter.parseWebhook(first).eventId);
    const other = adapter.parseWebhook(signed({ ...body, id: 'evt_2' }));
    expect(other.eventId).toBe('evt_2');
  });

  it('never throws, whatever the headers hold', () => {
    const req = { rawBody: Buffer.from('x'), headers: { 'x-partner-timestamp': String(NOW_S), 'x-partner-signature': '=,,v1=,=v1' } };
    expect(() => adapter.verifyWebhook(req, SECRET, NOW)).not.toThrow();
    expect(adapter.verifyWebhook(req, SECRET, NOW).ok).toBe(false);
  });
});

describe.each<[string, PartnerAdapter]>([
  ['classpass', classpassAdapter],
  ['egym_wellpass', egymWellpassAdapter],
  ['onefit', onefitAdapter],
  ['workit', workitAdapter],
])('%s webhook parsing', (aggregator, subject) => {
  const common = {
    aggregator,
    eventId: 'evt_1',
    occurredAt: new Date('2026-12-01T09:59:58Z'),
    externalVenueId: 'venue-1',
    bookingNumber: 'bk-42',
    customer: { externalId: 'member-9', name: 'Kim Doe', email: 'kim@example.com' },
    activityExternalId: 'activity-3',
    sessionExternalId: 'session-7',
  };

  it('parses booking.requested', () => {
    expect(subject.parseWebhook(request(requested()))).toEqual({ ...common, type: 'booking_requested' });
  });

  it('parses booking.cancelled with its late flag', () => {
    expect(subject.parseWebhook(request(event('booking.cancelled', { late: true })))).toEqual({ ...common, type: 'booking_cancelled', late: true });
    expect(subject.parseWebhook(request(event('booking.cancelled', { late: false })))).toMatchObject({ late: false });
  });

  it('parses booking.checked_in', () => {
    const parsed = subject.parseWebhook(request(event('booking.checked_in', { checked_in_at: '2026-12-01T18:02:00+01:00' })));
    expect(parsed).toEqual({ ...common, type: 'checked_in' });
  });

  it('takes a member without name and email, and tolerates fields added by the aggregator', () => {
    const body = event('booking.requested', { respond_by: '2026-12-01T10:15:00Z', member: { id: 'member-9' }, channel: 'app' }, { api_version: 2 });
    expect(subject.parseWebhook(request(body)).customer).toEqual({ externalId: 'member-9', name: undefined, email: undefined });
  });

  it.each([
    ['not JSON', '{"id":', 'not JSON'],
    ['a JSON array', '[]', 'webhook body is invalid'],
    ['an unknown event type', event('booking.moved'), 'type'],
    ['a cancellation without its late flag', event('booking.cancelled'), 'data.late'],
    ['a request without respond_by', event('booking.requested'), 'data.respond_by'],
    ['a created_at without offset', event('booking.checked_in', { checked_in_at: '2026-12-01T18:00:00Z' }, { created_at: '2026-12-01T10:00:00' }), 'created_at'],
    ['a member without id', event('booking.requested', { respond_by: '2026-12-01T10:15:00Z', member: { name: 'X' } }), 'data.member.id'],
    ['a booking id with spaces', event('booking.requested', { respond_by: '2026-12-01T10:15:00Z', booking_id: 'bk 42' }), 'data.booking_id'],
    ['an invalid member email', event('booking.requested', { respond_by: '2026-12-01T10:15:00Z', member: { id: 'm', email: 'no' } }), 'data.member.email'],
  ])('refuses %s with WebhookParseError naming the problem', (_label, body, mention) => {
    let thrown: unknown;
    try {
      subject.parseWebhook(request(body));
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(WebhookParseError);
    expect((thrown as Error).message).toContain(mention);
  });

  it('reads the venue id before verification, and nothing from garbage', () => {
    expect(subject.webhookVenueId(request(requested()))).toBe('venue-1');
    expect(subject.webhookVenueId(request('not json'))).toBeUndefined();
    expect(subject.webhookVenueId(request({ data: { venue_id: 7 } }))).toBeUndefined();
    expect(subject.webhookVenueId(request('null'))).toBeUndefined();
  });

  it('builds a synchronous answer the contract accepts for every reject reason', () => {
    expect(subject.bookingAnswer({ status: 'confirmed' })).toEqual({ status: 'confirmed' });
    for (const reason of REJECT_REASONS) {
      const answer = subject.bookingAnswer({ status: 'rejected', reason, message: 'x'.repeat(600) });
      expect(bookingAnswerSchema.parse(answer)).toEqual(answer);
      expect(answer).toMatchObject({ status: 'rejected', reason_code: subject.profile.reasonCodes[reason] });
      expect(answer.status === 'rejected' && answer.message).toHaveLength(500);
    }
    expect(subject.bookingAnswer({ status: 'rejected', reason: 'CLASS_IS_FULL' })).toEqual({ status: 'rejected', reason_code: 'session_full' });
  });
});
