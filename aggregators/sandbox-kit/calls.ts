import type { Request, RequestHandler } from 'express';

/** One request a sandbox received, as tests and developers inspect it. Credentials are never kept. */
export interface RecordedCall {
  seq: number;
  /** ISO time on the real clock. */
  at: string;
  method: string;
  /** Path without the query string. */
  path: string;
  query: Record<string, string>;
  headers: Record<string, string>;
  body: unknown;
  /** The status the sandbox answered; undefined while no answer was sent (a hang). */
  status: number | undefined;
  durationMs: number | undefined;
}

export interface CallFilter {
  method?: string | undefined;
  /** A substring of the path, or a regular expression it must match. */
  path?: string | RegExp | undefined;
}

export interface CallRecorder {
  middleware(): RequestHandler;
  list(filter?: CallFilter): RecordedCall[];
  clear(): void;
}

/** Header values that are credentials: recorded as present, never with their value. */
const SECRET_HEADERS = new Set(['authorization', 'cookie', 'proxy-authorization', 'x-api-key']);

export function redactHeaders(headers: Request['headers']): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined) continue;
    const text = Array.isArray(value) ? value.join(', ') : value;
    if (SECRET_HEADERS.has(name)) {
      const scheme = /^(\w+)\s/.exec(text);
      out[name] = scheme ? `${scheme[1]} [redacted]` : '[redacted]';
    } else {
      out[name] = text;
    }
  }
  return out;
}

export interface CallRecorderOptions {
  /** Requests not to record; default the sandbox's own control API under /__sandbox. */
  ignore?: (path: string) => boolean;
  /** Oldest calls are dropped beyond this; a long `npm start` run must not grow without bound. */
  limit?: number;
}

export function createCallRecorder(options: CallRecorderOptions = {}): CallRecorder {
  const ignore = options.ignore ?? ((path: string) => path.startsWith('/__sandbox'));
  const limit = options.limit ?? 10_000;
  let calls: RecordedCall[] = [];
  let seq = 0;

  return {
    middleware() {
      return (req, res, next) => {
        if (ignore(req.path)) {
          next();
          return;
        }
        const started = Date.now();
        const query: Record<string, string> = {};
        for (const [key, value] of new URL(req.originalUrl, 'http://sandbox').searchParams) query[key] = value;
        const call: RecordedCall = {
          seq: ++seq,
          at: new Date(started).toISOString(),
          method: req.method,
          path: req.path,
          query,
          headers: redactHeaders(req.headers),
          body: undefined,
          status: undefined,
          durationMs: undefined,
        };
        calls.push(call);
        if (calls.length > limit) calls = calls.slice(-limit);
        res.on('finish', () => {
          // Read at the end: the body parser runs after this middleware.
          const body: unknown = req.body;
          call.body = body;
          call.status = res.statusCode;
          call.durationMs = Date.now() - started;
        });
        res.on('close', () => {
          if (call.body === undefined) call.body = req.body as unknown;
        });
        next();
      };
    },
    list(filter) {
      return calls
        .filter((call) => filter?.method === undefined || call.method === filter.method.toUpperCase())
        .filter((call) => {
          const path = filter?.path;
          if (path === undefined) return true;
          return typeof path === 'string' ? call.path.includes(path) : path.test(call.path);
        })
        .map((call) => ({ ...call }));
    },
    clear() {
      calls = [];
    },
  };
}
