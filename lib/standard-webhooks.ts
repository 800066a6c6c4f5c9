import { createHmac, randomBytes, randomUUID } from 'node:crypto';

/**
 * Signing as the Standard Webhooks specification describes it: the signed content is `${id}.${timestamp}.${body}`,
 * the key is the base64-decoded part of a `whsec_` secret, the signature HMAC-SHA256 in base64, sent as `v1,<sig>`;
 * several signatures (a secret rotation) are separated by spaces, and the receiver accepts any one that matches.
 */

export const SECRET_PREFIX = 'whsec_';

/** A new signing secret: `whsec_` and the base64 of 32 random bytes. */
export function newSigningSecret(): string {
  return `${SECRET_PREFIX}${randomBytes(32).toString('base64')}`;
}

/** A new event id (the `webhook-id`): `msg_` and 32 hex digits. */
export function newEventId(): string {
  return `msg_${randomUUID().replace(/-/g, '')}`;
}

export function signingKey(secret: string): Buffer {
  if (!secret.startsWith(SECRET_PREFIX)) throw new Error('a signing secret starts with whsec_');
  return Buffer.from(secret.slice(SECRET_PREFIX.length), 'base64');
}

/** The `webhook-signature` header's value: one `v1,<base64>` per secret, space-separated. */
export function signatureHeader(input: { id: string; timestamp: number; body: string; secrets: readonly string[] }): string {
  return input.secrets
    .map((secret) => `v1,${createHmac('sha256', signingKey(secret)).update(`${input.id}.${input.timestamp}.${input.body}`).digest('base64')}`)
    .join(' ');
}

/** The three headers of one attempt; the timestamp is this attempt's (unix seconds), the id the event's. */
export function webhookHeaders(input: { id: string; timestamp: number; body: string; secrets: readonly string[] }): Record<string, string> {
  return {
    'webhook-id': input.id,
    'webhook-timestamp': String(input.timestamp),
    'webhook-signature': signatureHeader(input),
  };
}

/**
 * An endpoint's signing secrets: the current one, and after a rotation the one before it, which keeps signing beside
 * it until `previousUntil` (or until removed), so a receiver can switch secrets without rejecting a delivery.
 */
export interface EndpointSecrets {
  current: string;
  previous?: string | undefined;
  /** ISO time the previous secret stops signing. */
  previousUntil?: string | undefined;
}

/** How long a rotated-out secret keeps signing, unless removed sooner. */
export const ROTATION_GRACE_MS = 24 * 3_600_000;

/** The secrets that sign now: the current one first, then the previous one while its grace lasts. */
export function activeSecrets(secrets: EndpointSecrets, now: Date): string[] {
  const previousActive = secrets.previous !== undefined && secrets.previousUntil !== undefined && Date.parse(secrets.previousUntil) > now.getTime();
  return previousActive ? [secrets.current, secrets.previous as string] : [secrets.current];
}

/** A rotation: a new current secret, the one before it kept as the previous for the grace period. */
export function rotateSecrets(secrets: EndpointSecrets, now: Date, fresh: string = newSigningSecret()): EndpointSecrets {
  return { current: fresh, previous: secrets.current, previousUntil: new Date(now.getTime() + ROTATION_GRACE_MS).toISOString() };
}

export function parseEndpointSecrets(json: unknown): EndpointSecrets {
  const s = json as Partial<EndpointSecrets> | null;
  if (typeof s?.current !== 'string') throw new Error('sealed endpoint secrets without a current secret');
  return { current: s.current, previous: typeof s.previous === 'string' ? s.previous : undefined, previousUntil: typeof s.previousUntil === 'string' ? s.previousUntil : undefined };
}
