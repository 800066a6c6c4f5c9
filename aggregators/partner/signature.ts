import { createHmac, timingSafeEqual } from 'node:crypto';
import type { WebhookRequest, WebhookVerification } from '../types.js';

export const TIMESTAMP_HEADER = 'x-partner-timestamp';
export const SIGNATURE_HEADER = 'x-partner-signature';
/** How old a signed webhook may be: a captured request cannot be replayed later than this. */
export const REPLAY_WINDOW_SECONDS = 300;
/** How far ahead of our clock a timestamp may be; more means a forged or badly skewed sender. */
export const FUTURE_SKEW_SECONDS = 60;

function digest(secret: string, timestamp: string, rawBody: Buffer): Buffer {
  return createHmac('sha256', secret).update(Buffer.concat([Buffer.from(`${timestamp}.`, 'utf8'), rawBody])).digest();
}

/** The two signature headers for a body sent at `timestampSeconds` (sandboxes and tests sign with this). */
export function signWebhook(secret: string, rawBody: Buffer, timestampSeconds: number): Record<string, string> {
  const timestamp = String(Math.floor(timestampSeconds));
  return {
    'X-Partner-Timestamp': timestamp,
    'X-Partner-Signature': `v1=${digest(secret, timestamp, rawBody).toString('hex')}`,
  };
}

/** The v1 digests of a signature header, or why it cannot be read (see CONTRACT.md for the accepted forms). */
function readSignatures(header: string): Buffer[] | string {
  const digests: Buffer[] = [];
  for (const entry of header.split(',')) {
    const trimmed = entry.trim();
    const equals = trimmed.indexOf('=');
    if (equals <= 0) continue;
    if (trimmed.slice(0, equals) !== 'v1') continue;
    const hex = trimmed.slice(equals + 1);
    if (!/^[0-9a-fA-F]{64}$/.test(hex)) return 'X-Partner-Signature v1 value is not 64 hexadecimal characters';
    digests.push(Buffer.from(hex, 'hex'));
  }
  return digests.length > 0 ? digests : 'X-Partner-Signature has no v1=<hex> entry';
}

/** Checks timestamp and HMAC of a partner webhook; never throws, always says why it refused. */
export function verifyPartnerSignature(request: WebhookRequest, secret: string, now: Date = new Date()): WebhookVerification {
  try {
    if (secret === '') return { ok: false, reason: 'no webhook secret configured for the connection' };
    const timestamp = request.headers[TIMESTAMP_HEADER]?.trim();
    if (timestamp === undefined || timestamp === '') return { ok: false, reason: 'missing X-Partner-Timestamp header' };
    if (!/^\d{1,12}$/.test(timestamp)) return { ok: false, reason: 'X-Partner-Timestamp is not Unix seconds' };
    const age = Math.floor(now.getTime() / 1000) - Number(timestamp);
    if (age > REPLAY_WINDOW_SECONDS) {
      return { ok: false, reason: `X-Partner-Timestamp is ${age} s old, outside the ${REPLAY_WINDOW_SECONDS} s replay window` };
    }
    if (-age > FUTURE_SKEW_SECONDS) {
      return { ok: false, reason: `X-Partner-Timestamp is ${-age} s in the future (more than ${FUTURE_SKEW_SECONDS} s)` };
    }
    const header = request.headers[SIGNATURE_HEADER];
    if (header === undefined || header.trim() === '') return { ok: false, reason: 'missing X-Partner-Signature header' };
    const given = readSignatures(header);
    if (typeof given === 'string') return { ok: false, reason: given };
    const expected = digest(secret, timestamp, request.rawBody);
    // Check every entry (no early exit) so the time taken does not tell which entry was close.
    let match = false;
    for (const candidate of given) match = timingSafeEqual(candidate, expected) || match;
    return match ? { ok: true } : { ok: false, reason: 'X-Partner-Signature does not match the body' };
  } catch (error) {
    return { ok: false, reason: `signature could not be checked: ${error instanceof Error ? error.message : String(error)}` };
  }
}
