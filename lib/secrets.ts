import { createCipheriv, createDecipheriv, createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * Connection credentials are stored encrypted (AES-256-GCM) so that a database dump does not leak aggregator tokens.
 * Format: base64(iv[12] | tag[16] | ciphertext).
 */
export class SecretBox {
  private readonly key: Buffer;

  constructor(base64Key: string) {
    this.key = Buffer.from(base64Key, 'base64');
    if (this.key.length !== 32) throw new Error('SECRETS_KEY must decode to 32 bytes');
  }

  seal(plaintext: string): string {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.key, iv);
    const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    return Buffer.concat([iv, cipher.getAuthTag(), body]).toString('base64');
  }

  open(sealed: string): string {
    const raw = Buffer.from(sealed, 'base64');
    const decipher = createDecipheriv('aes-256-gcm', this.key, raw.subarray(0, 12));
    decipher.setAuthTag(raw.subarray(12, 28));
    return Buffer.concat([decipher.update(raw.subarray(28)), decipher.final()]).toString('utf8');
  }

  sealJson(value: unknown): string {
    return this.seal(JSON.stringify(value));
  }

  openJson(sealed: string): unknown {
    return JSON.parse(this.open(sealed)) as unknown;
  }
}

/** API keys are shown once and stored as a SHA-256 hash; the prefix identifies a key without revealing it. */
export function hashApiKey(key: string): string {
  return createHash('sha256').update(key, 'utf8').digest('hex');
}

export function newApiKey(): { key: string; prefix: string; hash: string } {
  const key = `ab_${randomBytes(24).toString('base64url')}`;
  return { key, prefix: key.slice(0, 10), hash: hashApiKey(key) };
}

export function safeEqual(a: string, b: string): boolean {
  const left = Buffer.from(a, 'utf8');
  const right = Buffer.from(b, 'utf8');
  return left.length === right.length && timingSafeEqual(left, right);
}

/** A connection's secrets, as stored sealed in its row. */
export interface ConnectionCredentials {
  apiToken?: string | undefined;
  webhookSecret?: string | undefined;
  /** While a webhook secret is rotated: the one held before, which still verifies until it is removed. */
  previousWebhookSecret?: string | undefined;
}

/** The secrets an incoming webhook may be signed with: the current one first, then the previous one. */
export function webhookSecretsOf(creds: ConnectionCredentials): string[] {
  return [creds.webhookSecret, creds.previousWebhookSecret].filter((secret): secret is string => secret !== undefined && secret !== '');
}

export function openCredentials(box: SecretBox, sealed: string | null): ConnectionCredentials {
  return sealed === null ? {} : (box.openJson(sealed) as ConnectionCredentials);
}
