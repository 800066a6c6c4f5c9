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

export function createLogger(level: string, destination?: pino.DestinationStream): Logger {
  const paths = REDACTED_KEYS.flatMap((key) => [key, `*.${key}`, `*.*.${key}`]);
  paths.push('req.headers.authorization', 'req.headers["x-gympass-signature"]', 'req.headers["x-api-key"]', 'req.headers["x-partner-signature"]');
  return pino(
    {
      level,
      base: { service: 'aggregator-bookings' },
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: { paths, censor: '[redacted]' },
      formatters: { level: (label) => ({ level: label }) },
    },
    destination,
  );
}
