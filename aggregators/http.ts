import type { Aggregator } from '../domain/model.js';

/**
 * A failed call to an aggregator, classified for Temporal: 4xx other than 408, 409 and 429 will fail the same way
 * again (non-retryable, carrying the aggregator's message); 429 and 503 say when to come back (Retry-After);
 * other 5xx, timeouts and connection errors are retried.
 */
export class AggregatorHttpError extends Error {
  constructor(
    readonly aggregator: Aggregator,
    readonly operation: string,
    /** undefined: no HTTP answer (timeout, connection refused or reset). */
    readonly status: number | undefined,
    readonly retryable: boolean,
    readonly aggregatorMessage: string,
    readonly retryAfterMs?: number,
    readonly body?: unknown,
  ) {
    super(
      `${aggregator} ${operation} failed${status !== undefined ? ` with HTTP ${status}` : ''}: ${aggregatorMessage}`,
    );
    this.name = 'AggregatorHttpError';
  }
}

export function isRetryableStatus(status: number): boolean {
  if (status >= 500) return true;
  return status === 408 || status === 409 || status === 429;
}

/** Retry-After as delta-seconds or an HTTP date, in milliseconds from now; undefined when absent or unreadable. */
export function parseRetryAfter(value: string | null | undefined, now: number = Date.now()): number | undefined {
  if (value === null || value === undefined || value.trim() === '') return undefined;
  const trimmed = value.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 1000;
  const at = Date.parse(trimmed);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, at - now);
}

export interface HttpRequest {
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  /** Path and query, appended to the base URL. */
  path: string;
  body?: unknown;
  headers?: Record<string, string>;
  /** A name for logs and errors, e.g. "createSlot". */
  operation: string;
}

export interface HttpResponse {
  status: number;
  headers: Headers;
  body: unknown;
}

export interface JsonHttpClientOptions {
  aggregator: Aggregator;
  baseUrl: string;
  /** Per-request timeout; an aggregator that hangs fails the attempt and the activity retries it. */
  timeoutMs?: number;
  headers?: Record<string, string>;
  fetchImpl?: typeof fetch;
}

/** A small JSON-over-HTTP client shared by the adapters; every failure becomes an AggregatorHttpError. */
export class JsonHttpClient {
  private readonly baseUrl: string;

  constructor(private readonly options: JsonHttpClientOptions) {
    this.baseUrl = options.baseUrl.replace(/\/+$/, '');
  }

  async request(req: HttpRequest): Promise<HttpResponse> {
    const { aggregator } = this.options;
    const fetchImpl = this.options.fetchImpl ?? fetch;
    let response: Response;
    try {
      response = await fetchImpl(`${this.baseUrl}${req.path}`, {
        method: req.method,
        headers: {
          accept: 'application/json',
          ...(req.body !== undefined ? { 'content-type': 'application/json' } : {}),
          ...this.options.headers,
          ...req.headers,
        },
        ...(req.body !== undefined ? { body: JSON.stringify(req.body) } : {}),
        signal: AbortSignal.timeout(this.options.timeoutMs ?? 10_000),
      });
    } catch (error) {
      const reason =
        error instanceof Error && (error.name === 'TimeoutError' || error.name === 'AbortError')
          ? `no answer within ${this.options.timeoutMs ?? 10_000} ms`
          : `connection failed: ${error instanceof Error ? (error.cause instanceof Error ? error.cause.message : error.message) : String(error)}`;
      throw new AggregatorHttpError(aggregator, req.operation, undefined, true, reason);
    }
    const text = await response.text();
    let body: unknown = text;
    if (text !== '' && (response.headers.get('content-type') ?? '').includes('json')) {
      try {
        body = JSON.parse(text) as unknown;
      } catch {
        body = text;
      }
    }
    if (response.status >= 400) {
      const retryAfterMs =
        response.status === 429 || response.status === 503 ? parseRetryAfter(response.headers.get('retry-after')) : undefined;
      throw new AggregatorHttpError(
        aggregator,
        req.operation,
        response.status,
        isRetryableStatus(response.status),
        messageOf(body) ?? (response.statusText || `HTTP ${response.status}`),
        retryAfterMs,
        body,
      );
    }
    return { status: response.status, headers: response.headers, body: text === '' ? undefined : body };
  }
}

function messageOf(body: unknown): string | undefined {
  if (typeof body === 'string') return body.slice(0, 500) || undefined;
  if (typeof body === 'object' && body !== null) {
    const record = body as Record<string, unknown>;
    for (const key of ['message', 'error', 'detail', 'title']) {
      const value = record[key];
      if (typeof value === 'string') return value.slice(0, 500);
      if (typeof value === 'object' && value !== null && typeof (value as Record<string, unknown>).message === 'string') {
        return String((value as Record<string, unknown>).message).slice(0, 500);
      }
    }
    return JSON.stringify(body).slice(0, 500);
  }
  return undefined;
}
