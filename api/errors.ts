import type { ErrorRequestHandler, RequestHandler } from 'express';
import type { z } from 'zod';
import { errorFields, type Logger } from '../lib/logger.js';

/** One JSON error shape for every failure: `{ error: { code, message, details?, requestId } }`. */
export interface ErrorBody {
  error: { code: string; message: string; details?: unknown; requestId?: string };
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details?: unknown,
    /** Response headers the status calls for, such as `Allow` on a 405. */
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
    this.name = 'ApiError';
  }

  static notFound(what: string): ApiError {
    return new ApiError(404, 'not_found', `${what} not found`);
  }

  static conflict(message: string, details?: unknown): ApiError {
    return new ApiError(409, 'conflict', message, details);
  }
}

/** The row, or a 404 naming what was not found (absent, or another company's). */
export function found<T>(row: T | undefined, what: string): T {
  if (row === undefined) throw ApiError.notFound(what);
  return row;
}

export type Location = 'body' | 'params' | 'query' | 'headers';

/** Marks a zod refinement as a rule the OpenAPI document cannot express (see `rule` in schemas.ts). */
export const CROSS_FIELD_RULE = 'crossFieldRule';

export interface FieldIssue {
  location: Location;
  path: string;
  message: string;
}

/**
 * The status convention: 400 when the request does not match the OpenAPI document, 422 when it matches but breaks
 * a rule the document cannot express (one field against another, or against stored state).
 */
export function validationError(location: Location, error: z.ZodError): ApiError {
  const details: FieldIssue[] = error.issues.map((issue) => ({
    location,
    path: issue.path.map(String).join('.'),
    message: issue.message,
  }));
  const onlyRules = error.issues.every((issue) => issue.code === 'custom' && issue.params?.[CROSS_FIELD_RULE] === true);
  return onlyRules ? ruleViolation(details) : invalid(400, 'validation_failed', details);
}

/** A 422 for rules checked against other fields or stored state; `details` name each field. */
export function ruleViolation(details: FieldIssue[]): ApiError {
  return invalid(422, 'rule_violated', details);
}

function invalid(status: number, code: string, details: FieldIssue[]): ApiError {
  const first = details[0];
  const where = first ? `${first.location}${first.path ? `.${first.path}` : ''}` : 'request';
  return new ApiError(status, code, `invalid request: ${where}: ${first?.message ?? 'invalid'}`, details);
}

/**
 * What a unique index means to the caller. The index's name is never shown, and neither is whether another company
 * holds the value: only that it is taken.
 */
const UNIQUE_CONFLICTS: Record<string, string> = {
  connections_external_venue_uq: 'this externalVenueId is already linked',
  customer_aggregator_ids_company_id_aggregator_external_id_key: 'another customer of the company holds this aggregator id',
};

/** PostgreSQL errors that are the caller's fault become 409/422 instead of 500, naming no table or constraint. */
export function fromDatabaseError(error: unknown): ApiError | undefined {
  const pgError = error as { code?: string; constraint?: string };
  if (pgError?.code === '23505') {
    const known = pgError.constraint === undefined ? undefined : UNIQUE_CONFLICTS[pgError.constraint];
    return ApiError.conflict(known ?? 'a resource with the same unique key already exists');
  }
  if (pgError?.code === '23514' || pgError?.code === '23503') {
    return new ApiError(422, 'rule_violated', 'the request breaks a rule of the data model');
  }
  return undefined;
}

/**
 * Errors raised before a handler runs, by the body parser (bad JSON, a Content-Encoding the body is not in, an
 * unknown charset, too large) or the router (a path parameter with malformed percent-encoding): they carry an HTTP
 * status of their own (http-errors), which is kept when it is a client error.
 */
function fromHttpError(err: unknown): ApiError | undefined {
  if (typeof err !== 'object' || err === null) return undefined;
  const { status, statusCode, type, expose, message } = err as {
    status?: unknown;
    statusCode?: unknown;
    type?: unknown;
    expose?: unknown;
    message?: unknown;
  };
  const code = typeof status === 'number' ? status : statusCode;
  if (typeof code !== 'number' || code < 400 || code > 499) return undefined;
  const known: Record<string, [string, string]> = {
    'entity.too.large': ['payload_too_large', 'request body is too large'],
    'entity.parse.failed': ['invalid_json', 'request body is not valid JSON'],
    'encoding.unsupported': ['unsupported_encoding', 'unsupported Content-Encoding'],
    'charset.unsupported': ['unsupported_charset', 'unsupported charset'],
  };
  const [name, text] = (typeof type === 'string' ? known[type] : undefined) ?? [
    'bad_request',
    expose === true && typeof message === 'string' ? message : 'the request could not be read',
  ];
  return new ApiError(code, name, text);
}

/** 405 for a method a known path does not take, with the `Allow` header RFC 9110 requires. */
export function methodNotAllowed(method: string, path: string, allowed: string[]): ApiError {
  return new ApiError(405, 'method_not_allowed', `${method} is not allowed on ${path}; allowed: ${allowed.join(', ')}`, undefined, {
    Allow: allowed.join(', '),
  });
}

export const notFoundHandler: RequestHandler = (req, _res, next) => {
  next(new ApiError(404, 'route_not_found', `no route for ${req.method} ${req.path}`));
};

export function errorHandler(logger: Logger): ErrorRequestHandler {
  return (err: unknown, req, res, _next) => {
    const requestId = res.locals.requestId as string | undefined;
    const log: Logger = (res.locals.log as Logger | undefined) ?? logger;
    const apiError =
      err instanceof ApiError
        ? err
        : (fromHttpError(err) ?? fromDatabaseError(err) ?? new ApiError(500, 'internal_error', 'internal error'));
    for (const [header, value] of Object.entries(apiError.headers)) res.setHeader(header, value);
    // For whoever measures the response (the webhook metrics count refusals by code).
    res.locals.errorCode = apiError.code;
    if (apiError.status >= 500) log.error({ ...errorFields(err), path: req.path }, 'request failed');
    else log.info({ code: apiError.code, status: apiError.status }, 'request rejected');
    const body: ErrorBody = {
      error: {
        code: apiError.code,
        message: apiError.message,
        ...(apiError.details !== undefined ? { details: apiError.details } : {}),
        ...(requestId ? { requestId } : {}),
      },
    };
    res.status(apiError.status).json(body);
  };
}
