import type { RequestHandler } from 'express';
import type { SandboxClock } from '../../sandbox-kit/index.js';
import { canonicalJson } from '../../../lib/canonical-json.js';
import { sendPartnerError } from './http.js';

const MUTATING = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);
const KEY_PATTERN = /^[\x20-\x7e]{1,255}$/;
export const IDEMPOTENCY_RETENTION_MS = 24 * 60 * 60_000;

interface Entry {
  fingerprint: string;
  storedAt: number;
  /** undefined while the first request is still being answered. */
  answer?: { status: number; body: unknown } | undefined;
}

export interface IdempotencyStore {
  middleware(): RequestHandler;
  size(): number;
  clear(): void;
}

/** The contract's Idempotency-Key rules (CONTRACT.md, Idempotency), kept for 24 h on the sandbox clock. */
export function createIdempotencyStore(clock: SandboxClock): IdempotencyStore {
  const entries = new Map<string, Entry>();

  const purge = () => {
    const oldest = clock.now() - IDEMPOTENCY_RETENTION_MS;
    for (const [key, entry] of entries) if (entry.answer && entry.storedAt < oldest) entries.delete(key);
  };

  return {
    size: () => entries.size,
    clear: () => entries.clear(),
    middleware() {
      return (req, res, next) => {
        if (!MUTATING.has(req.method)) {
          next();
          return;
        }
        const key = req.get('idempotency-key');
        if (key === undefined || !KEY_PATTERN.test(key)) {
          sendPartnerError(res, 400, 'idempotency_key_missing', 'Idempotency-Key header (1 to 255 printable ASCII characters) is required', [
            { field: 'Idempotency-Key', message: key === undefined ? 'is required' : 'must be 1 to 255 printable ASCII characters' },
          ]);
          return;
        }
        purge();
        const fingerprint = canonicalJson([req.method, req.originalUrl.split('?')[0], req.body ?? null]);
        const entry = entries.get(key);
        if (entry && entry.fingerprint !== fingerprint) {
          sendPartnerError(res, 422, 'idempotency_key_reused', 'Idempotency-Key was used for a different request');
          return;
        }
        if (entry && !entry.answer) {
          sendPartnerError(res, 409, 'idempotency_key_in_use', 'a request with this Idempotency-Key is still being processed');
          return;
        }
        if (entry?.answer) {
          res.setHeader('Idempotent-Replayed', 'true');
          res.status(entry.answer.status);
          if (entry.answer.body === undefined) res.end();
          else res.json(entry.answer.body);
          return;
        }

        const pending: Entry = { fingerprint, storedAt: clock.now() };
        entries.set(key, pending);
        let captured: unknown;
        const json = res.json.bind(res);
        res.json = (body: unknown) => {
          captured = body;
          return json(body);
        };
        res.on('finish', () => {
          const status = res.statusCode;
          // Answers a retry may change (state conflicts, throttling, failures) are not kept.
          if (status === 409 || status === 429 || status >= 500) {
            entries.delete(key);
            return;
          }
          pending.answer = { status, body: captured };
          pending.storedAt = clock.now();
        });
        res.on('close', () => {
          if (!res.writableFinished) entries.delete(key);
        });
        next();
      };
    },
  };
}
