import type { ErrorRequestHandler, Response } from 'express';

/** One failing field of a refused request, e.g. { field: 'room', message: 'must be 2 to 200 characters' }. */
export interface FieldError {
  field: string;
  message: string;
}

/**
 * The error body every sandbox answers with: a message our HTTP client surfaces as the aggregator's message, and the
 * failing fields for a 400 so a test (or a developer) sees exactly which validation refused the request.
 */
export interface SandboxErrorBody {
  message: string;
  errors?: FieldError[];
}

export function sendError(res: Response, status: number, message: string, errors?: FieldError[]): void {
  const body: SandboxErrorBody = errors && errors.length > 0 ? { message, errors } : { message };
  res.status(status).json(body);
}

/** Last middleware of a sandbox: a malformed JSON body is the client's fault (400), anything else is the sandbox's. */
export function sandboxErrorHandler(): ErrorRequestHandler {
  return (error: unknown, _req, res, next) => {
    if (res.headersSent) {
      next(error);
      return;
    }
    const status = typeof error === 'object' && error !== null ? (error as { status?: unknown }).status : undefined;
    const type = typeof error === 'object' && error !== null ? (error as { type?: unknown }).type : undefined;
    if (type === 'entity.parse.failed') {
      sendError(res, 400, 'malformed JSON body');
      return;
    }
    if (typeof status === 'number' && status >= 400 && status < 500) {
      sendError(res, status, error instanceof Error ? error.message : 'bad request');
      return;
    }
    sendError(res, 500, `sandbox error: ${error instanceof Error ? error.message : String(error)}`);
  };
}
