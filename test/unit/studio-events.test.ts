import { createHmac, timingSafeEqual } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BOOKING_STATUSES } from '../../domain/model.js';
import {
  CONNECTION_FAILING_AFTER_MS,
  DELIVERY_GIVE_UP_AFTER_MS,
  DELIVERY_MAX_RETRY_MS,
  MAX_RETRY_AFTER_MS,
  STUDIO_EVENT_TYPES,
  bookingEventFor,
  connectionHealthAfter,
  decisionEvents,
  deliveryRetryDelayMs,
  isStudioEventType,
  nextDeliveryStep,
  type ConnectionHealth,
} from '../../domain/studio-events.js';
import { activeSecrets, newEventId, newSigningSecret, rotateSecrets, signatureHeader, webhookHeaders } from '../../lib/standard-webhooks.js';

/**
 * A receiver's verification, written from the Standard Webhooks specification (not by calling the signer): the key is
 * the base64 part of the `whsec_` secret, the signed content `${id}.${timestamp}.${body}`, and the header holds
 * space-separated `v1,<base64>` signatures of which any one may match.
 */
function verify(secret: string, headers: { id: string; timestamp: string; signature: string }, body: string): boolean {
  const key = Buffer.from(secret.replace(/^whsec_/, ''), 'base64');
  const expected = createHmac('sha256', key).update(`${headers.id}.${headers.timestamp}.${body}`).digest();
  return headers.signature.split(' ').some((part) => {
    const [version, sig] = part.split(',');
    if (version !== 'v1' || sig === undefined) return false;
    const given = Buffer.from(sig, 'base64');
    return given.length === expected.length && timingSafeEqual(given, expected);
  });
}

describe('signing (Standard Webhooks)', () => {
  it("matches the specification's published example", () => {
    // The example of the standard-webhooks repository's README / test suites.
    const header = signatureHeader({
      id: 'msg_p5jXN8AQM9LWM0D4loKWxJek',
      timestamp: 1614265330,
      body: '{"test": 2432232314}',
      secrets: ['whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw'],
    });
    expect(header).toBe('v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=');
  });

  it('new secrets are whsec_ and 32 random bytes; event ids msg_ and 32 hex digits, each new', () => {
    const secret = newSigningSecret();
    expect(secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
    expect(Buffer.from(secret.slice(6), 'base64')).toHaveLength(32);
    expect(newSigningSecret()).not.toBe(secret);
    expect(newEventId()).toMatch(/^msg_[0-9a-f]{32}$/);
    expect(newEventId()).not.toBe(newEventId());
  });

  it('every signature verifies with its secret, and fails for another secret, another body, id or timestamp', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 24, maxLength: 32 }),
        fc.uint8Array({ minLength: 24, maxLength: 32 }),
        fc.string({ minLength: 1, maxLength: 40 }),
        fc.integer({ min: 1_000_000_000, max: 4_000_000_000 }),
        fc.string({ maxLength: 300 }),
        (a, b, idTail, timestamp, body) => {
          fc.pre(Buffer.compare(Buffer.from(a), Buffer.from(b)) !== 0);
          const secretA = `whsec_${Buffer.from(a).toString('base64')}`;
          const secretB = `whsec_${Buffer.from(b).toString('base64')}`;
          const id = `msg_${idTail}`;
          const h = webhookHeaders({ id, timestamp, body, secrets: [secretA] });
          const headers = { id: h['webhook-id'] as string, timestamp: h['webhook-timestamp'] as string, signature: h['webhook-signature'] as string };
          expect(headers.id).toBe(id);
          expect(headers.timestamp).toBe(String(timestamp));
          expect(verify(secretA, headers, body)).toBe(true);
          expect(verify(secretB, headers, body)).toBe(false);
          expect(verify(secretA, headers, `${body} `)).toBe(false);
          expect(verify(secretA, { ...headers, id: `${id}x` }, body)).toBe(false);
          expect(verify(secretA, { ...headers, timestamp: String(timestamp + 1) }, body)).toBe(false);
        },
      ),
    );
  });

  it('during a rotation both secrets sign (space-separated), so a receiver holding either verifies; after the grace only the new one', () => {
    const old = newSigningSecret();
    const now = new Date('2026-12-06T12:00:00Z');
    const rotated = rotateSecrets({ current: old }, now);
    expect(rotated.previous).toBe(old);
    const signing = activeSecrets(rotated, now);
    expect(signing).toEqual([rotated.current, old]);
    const header = signatureHeader({ id: 'msg_1', timestamp: 1, body: '{}', secrets: signing });
    expect(header.split(' ')).toHaveLength(2);
    expect(verify(old, { id: 'msg_1', timestamp: '1', signature: header }, '{}')).toBe(true);
    expect(verify(rotated.current, { id: 'msg_1', timestamp: '1', signature: header }, '{}')).toBe(true);
    expect(activeSecrets(rotated, new Date(now.getTime() + 25 * 3_600_000))).toEqual([rotated.current]);
  });
});

describe('event types', () => {
  it('every booking status but none announces one booking event; no_show is ready for its status', () => {
    for (const status of BOOKING_STATUSES) expect(bookingEventFor(status), status).toBeDefined();
    expect(bookingEventFor('no_show')).toEqual({ type: 'booking.no_show' });
    expect(bookingEventFor('late_cancelled')).toEqual({ type: 'booking.cancelled', cancelledBy: 'late' });
    expect(bookingEventFor('cancelled_by_gym')).toEqual({ type: 'booking.cancelled', cancelledBy: 'gym' });
    expect(bookingEventFor('cancelled_by_customer')).toEqual({ type: 'booking.cancelled', cancelledBy: 'customer' });
    expect(bookingEventFor('toString')).toBeUndefined();
    expect(bookingEventFor('unknown')).toBeUndefined();
    for (const status of BOOKING_STATUSES) expect(isStudioEventType((bookingEventFor(status) as { type: string }).type)).toBe(true);
  });

  it('a decision announces the request first, then what it became at once', () => {
    expect(decisionEvents('reserve').map((e) => e.type)).toEqual(['booking.requested']);
    expect(decisionEvents('reject').map((e) => e.type)).toEqual(['booking.requested', 'booking.rejected']);
    expect(decisionEvents('hold_for_approval').map((e) => e.type)).toEqual(['booking.requested', 'booking.awaiting_approval']);
    expect(new Set(STUDIO_EVENT_TYPES).size).toBe(STUDIO_EVENT_TYPES.length);
  });
});

describe('the retry schedule', () => {
  it('waits double from 1 s, never shrink, never pass 10 minutes, never undercut Retry-After (up to an hour)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 10_000 }), fc.option(fc.integer({ min: -1_000, max: 10 * 3_600_000 })), (attempt, retryAfter) => {
        const wait = deliveryRetryDelayMs(attempt, retryAfter);
        expect(wait).toBeGreaterThanOrEqual(1_000);
        expect(wait).toBeGreaterThanOrEqual(Math.min(retryAfter ?? 0, MAX_RETRY_AFTER_MS));
        expect(wait).toBeLessThanOrEqual(Math.max(DELIVERY_MAX_RETRY_MS, Math.min(retryAfter ?? 0, MAX_RETRY_AFTER_MS)));
        expect(deliveryRetryDelayMs(attempt + 1)).toBeGreaterThanOrEqual(deliveryRetryDelayMs(attempt));
      }),
    );
    expect([1, 2, 3, 4, 5, 6].map((n) => deliveryRetryDelayMs(n))).toEqual([1_000, 2_000, 4_000, 8_000, 16_000, 32_000]);
    expect(deliveryRetryDelayMs(11)).toBe(DELIVERY_MAX_RETRY_MS);
  });

  it('a receiver back after an outage is tried again within a minute of its return (short outage) or 10 minutes (hours)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 3 * 24 * 3_600_000 - 20 * 60_000 }), (downForMs) => {
        // Attempts from 0 on, every failing while the receiver is down; the first at or after its return succeeds.
        let at = 0;
        let attempt = 1;
        while (at < downForMs) {
          at += deliveryRetryDelayMs(attempt);
          attempt += 1;
        }
        const lag = at - downForMs;
        if (downForMs <= 30_000) expect(lag).toBeLessThanOrEqual(60_000);
        expect(lag).toBeLessThanOrEqual(DELIVERY_MAX_RETRY_MS);
      }),
    );
  });

  it('gives up exactly when the next attempt would come more than three days after the first', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 2_000 }), fc.integer({ min: 0, max: 4 * 86_400_000 }), (attempt, elapsed) => {
        const step = nextDeliveryStep({ attempt, firstAttemptAt: 0, now: elapsed });
        const wait = deliveryRetryDelayMs(attempt);
        expect('giveUp' in step).toBe(elapsed + wait > DELIVERY_GIVE_UP_AFTER_MS);
        if ('retryInMs' in step) expect(step.retryInMs).toBe(wait);
      }),
    );
    // Failing all along: about 430 attempts over the three days, the last within 10 minutes of the end.
    let at = 0;
    let attempt = 1;
    for (;;) {
      const step = nextDeliveryStep({ attempt, firstAttemptAt: 0, now: at });
      if ('giveUp' in step) break;
      at += step.retryInMs;
      attempt += 1;
    }
    expect(attempt).toBeGreaterThan(400);
    expect(attempt).toBeLessThan(450);
    expect(DELIVERY_GIVE_UP_AFTER_MS - at).toBeLessThan(DELIVERY_MAX_RETRY_MS);
  });
});

describe('connection health', () => {
  it('announces failing once after five minutes of failures with no success, and recovered once at the next success', () => {
    fc.assert(
      fc.property(fc.array(fc.record({ ok: fc.boolean(), gap: fc.integer({ min: 0, max: 4 * 60_000 }) }), { maxLength: 60 }), (observations) => {
        let health: ConnectionHealth = { firstFailureAt: null, failingSince: null };
        let at = 0;
        let lastEvent: string | null = null;
        let failureStreakStart: number | null = null;
        for (const o of observations) {
          at += o.gap;
          const { next, event } = connectionHealthAfter(health, { ok: o.ok, at: new Date(at) });
          if (o.ok) failureStreakStart = null;
          else failureStreakStart ??= at;
          if (event !== null) {
            // Transitions alternate: never failing twice without a recovery between, and recovered only after failing.
            expect(event).not.toBe(lastEvent);
            if (event === 'connection.recovered') expect(lastEvent).toBe('connection.failing');
            lastEvent = event;
          }
          if (event === 'connection.failing') expect(at - (failureStreakStart as number)).toBeGreaterThanOrEqual(CONNECTION_FAILING_AFTER_MS);
          // Failing is announced as soon as the streak is five minutes old.
          const shouldBeFailing = failureStreakStart !== null && at - failureStreakStart >= CONNECTION_FAILING_AFTER_MS;
          expect(next.failingSince !== null).toBe(shouldBeFailing || (health.failingSince !== null && !o.ok));
          health = next;
        }
      }),
    );
  });
});
