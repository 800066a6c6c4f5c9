import { timingSafeEqual } from 'node:crypto';
import type { ErrorRequestHandler, Request, RequestHandler, Response } from 'express';
import type { z } from 'zod';
import { ID_PATTERN, fieldErrors, describeFields, type FieldError, type PartnerErrorBody } from '../schemas.js';
import type { Outcome } from './store.js';

/** HTTP plumbing of the partner sandbox: the contract's error body, auth, and request readers that answer 400s. */

export function sendPartnerError(res: Response, status: number, code: string, message: string, fields?: FieldError[]): void {
  const body: PartnerErrorBody = { error: { code, message, ...(fields && fields.length > 0 ? { fields } : {}) } };
  res.status(status).json(body);
}

export function sendOutcome<T>(res: Response, outcome: Outcome<T>): void {
  if (!outcome.ok) {
    sendPartnerError(res, outcome.status, outcome.code, outcome.message);
    return;
  }
  if (outcome.value === undefined) res.status(outcome.status).end();
  else res.status(outcome.status).json(outcome.value);
}

export function bearerAuth(expectedToken: string): RequestHandler {
  const expected = Buffer.from(expectedToken, 'utf8');
  return (req, res, next) => {
    const match = /^Bearer\s+(\S+)\s*$/i.exec(req.get('authorization') ?? '');
    const given = Buffer.from(match?.[1] ?? '', 'utf8');
    if (given.length === expected.length && timingSafeEqual(given, expected)) {
      next();
      return;
    }
    res.setHeader('WWW-Authenticate', 'Bearer');
    sendPartnerError(res, 401, 'unauthorized', match ? 'API key is not valid' : 'Authorization: Bearer <api key> is required');
  };
}

/** Path ids checked against the contract's pattern; undefined after answering 400. */
export function readIds<K extends string>(req: Request, res: Response, names: Record<K, string>): Record<K, string> | undefined {
  const values = {} as Record<K, string>;
  const fields: FieldError[] = [];
  for (const [key, field] of Object.entries(names) as [K, string][]) {
    const value = req.params[key];
    if (typeof value !== 'string' || !ID_PATTERN.test(value)) fields.push({ field, message: 'must be 1 to 128 letters, digits or . _ : -' });
    else values[key] = value;
  }
  if (fields.length > 0) {
    sendPartnerError(res, 400, 'validation_failed', describeFields(fields), fields);
    return undefined;
  }
  return values;
}

/** The JSON body parsed by `schema`; undefined after answering 400 with the failing fields. */
export function readBody<T>(req: Request, res: Response, schema: z.ZodType<T>): T | undefined {
  const body: unknown = req.body;
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    sendPartnerError(res, 400, 'validation_failed', 'body must be a JSON object (Content-Type: application/json)', [
      { field: '(body)', message: 'must be a JSON object' },
    ]);
    return undefined;
  }
  const parsed = schema.safeParse(body);
  if (parsed.success) return parsed.data;
  const fields = fieldErrors(parsed.error);
  sendPartnerError(res, 400, 'validation_failed', describeFields(fields), fields);
  return undefined;
}

/** The query string parsed by `schema` (values are strings, arrays when repeated); undefined after answering 400. */
export function readQuery<T>(req: Request, res: Response, schema: z.ZodType<T>): T | undefined {
  const parsed = schema.safeParse({ ...(req.query as Record<string, unknown>) });
  if (parsed.success) return parsed.data;
  const fields = fieldErrors(parsed.error);
  sendPartnerError(res, 400, 'validation_failed', describeFields(fields), fields);
  return undefined;
}

export const notFound: RequestHandler = (req, res) => {
  sendPartnerError(res, 404, 'not_found', `no route ${req.method} ${req.path}`);
};

/** Body-parser failures are the client's (400 malformed_json, 413 too large); anything else is the sandbox's own bug. */
export const partnerErrorHandler: ErrorRequestHandler = (error: unknown, _req, res, next) => {
  if (res.headersSent) {
    next(error);
    return;
  }
  const details = typeof error === 'object' && error !== null ? (error as { status?: unknown; type?: unknown }) : {};
  if (details.type === 'entity.parse.failed') {
    sendPartnerError(res, 400, 'malformed_json', 'body is not valid JSON');
    return;
  }
  if (typeof details.status === 'number' && details.status >= 400 && details.status < 500) {
    sendPartnerError(res, details.status, 'invalid_request', error instanceof Error ? error.message : 'invalid request');
    return;
  }
  sendPartnerError(res, 500, 'internal', `sandbox error: ${error instanceof Error ? error.message : String(error)}`);
};
