import pino, { type Logger } from 'pino';

export type { Logger };

/**
 * Structured JSON logs. Anything that looks like a credential is redacted wherever it appears in a log object,
 * so a secret passed by mistake never reaches the output.
 */
export const REDACTED_KEYS = [
  'apiToken',
  'webhookSecret',
  'previousWebhookSecret',
  'secret',
  'password',
  'token',
  'apiKey',
  'authorization',
  'credentials',
];

/**
 * What a log line says about an error: its message and code. Never the error object itself: a `pg` error carries
 * its client (pool, socket, parser: kilobytes of internals), an HTTP error its request, and neither helps an operator.
 */
export function errorFields(error: unknown): { error: string; code?: string } {
  const message = error instanceof Error ? error.message : typeof error === 'string' ? error : (JSON.stringify(error) ?? String(error));
  const code = (error as { code?: unknown } | null | undefined)?.code;
  return typeof code === 'string' || typeof code === 'number' ? { error: message, code: String(code) } : { error: message };
}

export function createLogger(level: string, destination?: pino.DestinationStream): Logger {
  const paths = REDACTED_KEYS.flatMap((key) => [key, `*.${key}`, `*.*.${key}`]);
  paths.push('req.headers.authorization', 'req.headers["x-gympass-signature"]', 'req.headers["x-api-key"]', 'req.headers["x-partner-signature"]');
  return pino(
    {
      level,
      base: { service: 'aggregator-bookings' },
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: { paths, censor: '[redacted]' },
      // A caller that still passes an error as `err` gets the same two fields, not the error's object graph.
      serializers: { err: errorFields },
      formatters: { level: (label) => ({ level: label }) },
    },
    destination,
  );
}
