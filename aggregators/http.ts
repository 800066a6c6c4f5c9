import type { Aggregator } from '../domain/model.js';
import { aggregatorCallSeconds, aggregatorCalls, statusLabel } from '../lib/metrics.js';
import { OutboundRefusedError, outboundGuard } from './outbound-guard.js';

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
    // The whole answer stays readable for code (an error code in it) but is not enumerable, so a logged error does
    // not carry the aggregator's raw body: only `aggregatorMessage`, which the client has cut and cleaned.
    Object.defineProperty(this, 'body', { value: body, enumerable: false });
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

  /** Every call to an aggregator passes here: its latency and status are measured by aggregator (lib/metrics.ts). */
  async request(req: HttpRequest): Promise<HttpResponse> {
    const started = performance.now();
    const noAnswer: { why?: 'timeout' | 'network' | 'refused' } = {};
    let status = 'network';
    try {
      const response = await this.send(req, noAnswer);
      status = statusLabel(response.status);
      return response;
    } catch (error) {
      status = statusLabel(error instanceof AggregatorHttpError ? error.status : undefined, noAnswer.why);
      throw error;
    } finally {
      const aggregator = this.options.aggregator;
      aggregatorCallSeconds.observe({ aggregator, status }, (performance.now() - started) / 1000);
      aggregatorCalls.inc({ aggregator, operation: req.operation, status });
    }
  }

  /** The call itself; `noAnswer.why` says why a call got no HTTP answer. */
  private async send(req: HttpRequest, noAnswer: { why?: 'timeout' | 'network' | 'refused' }): Promise<HttpResponse> {
    const { aggregator } = this.options;
    const injected = this.options.fetchImpl;
    // Every call goes through the outbound guard (checked URL, checked addresses, no redirects); an injected fetch
    // is a unit test's stand-in for the network and is told not to follow redirects either.
    const send = injected
      ? (url: string, init: RequestInit & { headers: Record<string, string> }) => injected(url, { ...init, redirect: 'manual' })
      : outboundGuard().fetch;
    let response: Response;
    try {
      response = await send(`${this.baseUrl}${req.path}`, {
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
      if (error instanceof OutboundRefusedError) {
        noAnswer.why = 'refused';
        throw new AggregatorHttpError(aggregator, req.operation, undefined, false, `refused to connect: ${error.reason}`);
      }
      const timedOut = error instanceof Error && (error.name === 'TimeoutError' || error.name === 'AbortError');
      noAnswer.why = timedOut ? 'timeout' : 'network';
      const reason = timedOut
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
    if (response.status >= 300 && response.status < 400) {
      // Following it would reach a host nobody checked; an aggregator's API has no reason to redirect.
      throw new AggregatorHttpError(aggregator, req.operation, response.status, false, 'answered with a redirect, which is not followed');
    }
    if (response.status >= 400) {
      const retryAfterMs =
        response.status === 429 || response.status === 503 ? parseRetryAfter(response.headers.get('retry-after')) : undefined;
      throw new AggregatorHttpError(
        aggregator,
        req.operation,
        response.status,
        isRetryableStatus(response.status),
        shownAggregatorMessage(messageOf(body) ?? '') || shownAggregatorMessage(response.statusText) || `HTTP ${response.status}`,
        retryAfterMs,
        body,
      );
    }
    return { status: response.status, headers: response.headers, body: text === '' ? undefined : body };
  }
}

/** The message an error answer gives (its `message`, `error`, `detail` or `title`), else the whole answer as text. */
function messageOf(body: unknown): string | undefined {
  if (typeof body === 'string') return body || undefined;
  if (typeof body === 'object' && body !== null) {
    const record = body as Record<string, unknown>;
    for (const key of ['message', 'error', 'detail', 'title']) {
      const value = record[key];
      if (typeof value === 'string') return value;
      if (typeof value === 'object' && value !== null && typeof (value as Record<string, unknown>).message === 'string') {
        return String((value as Record<string, unknown>).message);
      }
    }
    return JSON.stringify(body);
  }
  return undefined;
}

/** At most this many characters of an aggregator's message are shown. */
export const SHOWN_MESSAGE_MAX = 200;

const SECRET_NAME = '[\\w-]*(?:token|secret|passw(?:or)?d|pwd|api[_-]?key|apikey|authorization|signature|credential|cookie)[\\w-]*';
const REDACT = '[redacted]';
const REDACTIONS: Array<(text: string) => string> = [
  // "Bearer abc…", "Basic abc…": the scheme stays, the credential goes.
  (text) => text.replace(/\b(bearer|basic)\s+[^\s"',;]+/gi, `$1 ${REDACT}`),
  // token=…, "apiToken": "…", password: … : the name stays, the value goes.
  (text) => text.replace(new RegExp(`(${SECRET_NAME})(["']?\\s*[:=]\\s*["']?)(?!(?:bearer|basic)\\s)[^\\s"',;&}]+`, 'gi'), `$1$2${REDACT}`),
  // A JSON Web Token.
  (text) => text.replace(/\beyJ[\w-]+\.[\w-]+\.[\w-]*/g, REDACT),
  // 24 or more base64/base62 characters mixing upper case, lower case and digits: an opaque key, not a word, a path
  // or a UUID (those are lower case, or broken up by hyphens).
  (text) => text.replace(/[A-Za-z0-9+/_=-]{24,}/g, (run) => (/[a-z]/.test(run) && /[A-Z]/.test(run) && /\d/.test(run) ? REDACT : run)),
  // 32 or more hex digits: a hash, an HMAC, a hex-encoded key.
  (text) => text.replace(/\b[0-9a-fA-F]{32,}\b/g, REDACT),
];

/**
 * What of an aggregator's error answer may be shown anywhere (lastError, the sync and cancellation views, logs,
 * Temporal failures): markup (tags, comments, script and style blocks, entities) and control and format characters
 * removed, whitespace collapsed, anything that looks like a credential replaced by "[redacted]" (an Authorization
 * scheme's value, a value named like a token, secret, password, key or signature, a JWT, a long mixed-case opaque
 * string, a long hex string), then cut to SHOWN_MESSAGE_MAX characters. The answer is written by a third party, or
 * by whatever server a URL reached: it must not carry markup into a UI, forge log lines, echo a credential (ours or
 * anyone's) or fill rows. The HTTP status is shown beside it by AggregatorHttpError.
 */
/** How much of an aggregator's answer is looked at to build the message shown. */
const CLEANED_PREFIX_MAX = 8 * 1024;

export function shownAggregatorMessage(text: string): string {
  // Cleaned from its first 8 KB only: the message shown is 200 characters, and the markup patterns below scan to the
  // end of the text for every unclosed tag, which on megabytes of `<a<a<a…` would take minutes of the worker's CPU.
  // The word the cut falls in is dropped whole: a fragment of a key would escape the redactions below.
  const prefix = text.length > CLEANED_PREFIX_MAX ? text.slice(0, CLEANED_PREFIX_MAX).replace(/\S*$/u, '') : text;
  const plain = prefix
    .replace(/\p{Cc}\[[0-?]*[ -/]*[@-~]/gu, ' ') // terminal escape sequences (ESC [ … final byte)
    .replace(/<(script|style)\b[\s\S]*?(<\/\1\s*>|$)/gi, ' ')
    .replace(/<!--[\s\S]*?(-->|$)/g, ' ')
    .replace(/<\/?[A-Za-z!?][^>]*(>|$)/g, ' ')
    .replace(/&(#x?[0-9a-f]+|[a-z][a-z0-9]*);/gi, ' ')
    .replace(/[<>]/g, ' ')
    .replace(/[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/gu, ' ');
  const shown = REDACTIONS.reduce((current, redact) => redact(current), plain).replace(/\s+/g, ' ').trim();
  const chars = [...shown];
  return chars.length <= SHOWN_MESSAGE_MAX ? shown : `${chars.slice(0, SHOWN_MESSAGE_MAX - 1).join('').trimEnd()}…`;
}
