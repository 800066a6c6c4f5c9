import type { Request } from 'express';
import type { Db } from '../db/index.js';
import { hashApiKey, safeEqual } from '../lib/secrets.js';
import { ApiError } from './errors.js';

export type Auth = { kind: 'none' } | { kind: 'admin' } | { kind: 'company'; companyId: string; apiKeyId: string };

export type AuthRequirement = 'none' | 'admin' | 'company';

function presentedKey(req: Request): string | undefined {
  const header = req.get('authorization');
  if (header !== undefined) {
    const match = /^Bearer\s+(\S+)$/i.exec(header.trim());
    if (!match) throw new ApiError(401, 'unauthorized', 'Authorization header must be "Bearer <api key>"');
    return match[1];
  }
  return req.get('x-api-key')?.trim() || undefined;
}

/**
 * Company API keys reach only their company's data: every query a company route makes is filtered by
 * `auth.companyId`. The admin key (from config) can only create companies and mint their keys.
 */
export async function authenticate(req: Request, requirement: AuthRequirement, db: Db, adminKey: string | undefined): Promise<Auth> {
  if (requirement === 'none') return { kind: 'none' };
  const key = presentedKey(req);
  if (key === undefined) throw new ApiError(401, 'unauthorized', 'an API key is required (Authorization: Bearer <key>)');
  const isAdmin = adminKey !== undefined && safeEqual(key, adminKey);
  if (requirement === 'admin') {
    if (isAdmin) return { kind: 'admin' };
    throw new ApiError(403, 'forbidden', 'this operation needs the admin API key');
  }
  // A valid key of the wrong kind: known, but not allowed here.
  if (isAdmin) throw new ApiError(403, 'forbidden', 'this operation needs a company API key');
  const row = await db
    .selectFrom('api_keys')
    .select(['id', 'company_id'])
    .where('key_hash', '=', hashApiKey(key))
    .where('revoked_at', 'is', null)
    .executeTakeFirst();
  if (!row) throw new ApiError(401, 'unauthorized', 'unknown or revoked API key');
  return { kind: 'company', companyId: row.company_id, apiKeyId: row.id };
}

export function companyOf(auth: Auth): string {
  if (auth.kind !== 'company') throw new ApiError(403, 'forbidden', 'this operation needs a company API key');
  return auth.companyId;
}
