import type { ErrorRequestHandler, RequestHandler } from 'express';
import type { z } from 'zod';
import type { Logger } from '../lib/logger.js';

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

export type Location = 'body' | 'params' | 'query' | 'headers';

export function validationError(location: Location, error: z.ZodError): ApiError {
  const details = error.issues.map((issue) => ({
    location,
    path: issue.path.map(String).join('.'),
    message: issue.message,
  }));
  const first = details[0];
  const where = first ? `${location}${first.path ? `.${first.path}` : ''}` : location;
  return new ApiError(400, 'validation_failed', `invalid request: ${where}: ${first?.message ?? 'invalid'}`, details);
}

/** PostgreSQL errors that are the caller's fault become 409/400 instead of 500. */
export function fromDatabaseError(error: unknown): ApiError | undefined {
  const pgError = error as { code?: string; constraint?: string; detail?: string };
  if (pgError?.code === '23505') {
    return ApiError.conflict('a resource with the same unique key already exists', { constraint: pgError.constraint });
  }
  if (pgError?.code === '23514' || pgError?.code === '23503') {
    return new ApiError(400, 'constraint_violated', 'the request breaks a rule of the data model', {
      constraint: pgError.constraint,
    });
  }
  return undefined;
}

export const notFoundHandler: RequestHandler = (req, _res, next) => {
  next(new ApiError(404, 'route_not_found', `no route for ${req.method} ${req.path}`));
};

export function errorHandler(logger: Logger): ErrorRequestHandler {
  return (err: unknown, req, res, _next) => {
    const requestId = res.locals.requestId as string | undefined;
    const log: Logger = (res.locals.log as Logger | undefined) ?? logger;
    let apiError: ApiError;
    if (err instanceof ApiError) {
      apiError = err;
    } else if (isBodyParserError(err)) {
      apiError =
        err.type === 'entity.too.large'
          ? new ApiError(413, 'payload_too_large', 'request body is too large')
          : err.type === 'entity.parse.failed'
            ? new ApiError(400, 'invalid_json', 'request body is not valid JSON')
            : new ApiError(err.status ?? 400, 'bad_request', err.message);
    } else {
      apiError = fromDatabaseError(err) ?? new ApiError(500, 'internal_error', 'internal error');
    }
    if (apiError.status >= 500) log.error({ err, path: req.path }, 'request failed');
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

function isBodyParserError(err: unknown): err is { type: string; status?: number; message: string } {
  return typeof err === 'object' && err !== null && 'type' in err && typeof (err).type === 'string';
}
