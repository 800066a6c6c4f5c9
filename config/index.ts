import path from 'node:path';
import { z } from 'zod';
import { AGGREGATORS, type Aggregator } from '../domain/model.js';
import { checkUrl, normalizeHost, type OutboundPolicy } from '../lib/outbound-address.js';

/**
 * The service's whole configuration, read once from the environment at start-up and passed down.
 * Nothing else reads process.env.
 */

const optionalString = z
  .string()
  .trim()
  .transform((v) => (v === '' ? undefined : v))
  .optional();

const port = (fallback: number) => z.coerce.number().int().min(0).max(65535).default(fallback);
/** A port other processes must find at a known number (the embedded PostgreSQL, the Temporal dev server): not 0. */
const fixedPort = (fallback: number) => z.coerce.number().int().min(1).max(65535).default(fallback);

/** A listener's port, or `off` for none; 0 takes any free port (logged at start). */
const portOrOff = (fallback: number) =>
  z
    .string()
    .trim()
    .default(String(fallback))
    .transform((v) => (v === '' ? String(fallback) : v))
    .pipe(
      z.union(
        [
          z.literal('off'),
          z
            .string()
            .regex(/^\d{1,5}$/)
            .transform(Number)
            .pipe(z.number().max(65535)),
        ],
        { error: 'expected a port (0-65535) or off' },
      ),
    );

/** `host:port` (an IPv6 host in brackets), or `off`. */
const bindAddressOrOff = (fallback: string) =>
  z
    .string()
    .trim()
    .default(fallback)
    .transform((v) => (v === '' ? fallback : v))
    .pipe(
      z.union([
        z.literal('off'),
        z
          .string()
          .regex(/^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):\d{1,5}$/, 'expected host:port (e.g. 127.0.0.1:9464) or off')
          .refine((v) => Number(v.slice(v.lastIndexOf(':') + 1)) <= 65535, 'the port must be 0-65535'),
      ]),
    );

const booleanFlag = (fallback: boolean) =>
  z
    .enum(['true', 'false', '1', '0', 'yes', 'no'])
    .default(fallback ? 'true' : 'false')
    .transform((v) => v === 'true' || v === '1' || v === 'yes');

/** A duration such as `30m`, `45s`, `2h` or a plain number of milliseconds. */
export const durationMs = z
  .string()
  .trim()
  .regex(/^\d+(ms|s|m|h)?$/, 'expected a duration such as 30m, 45s, 2h or milliseconds')
  .transform((v) => {
    const match = /^(\d+)(ms|s|m|h)?$/.exec(v);
    const amount = Number(match?.[1]);
    const unit = match?.[2] ?? 'ms';
    const factor = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000 }[unit] ?? 1;
    return amount * factor;
  })
  .refine((ms) => ms > 0, 'must be greater than zero');

/** `WELLHUB_API_URL`, `CLASSPASS_API_URL`, ...: one per aggregator, so adding an aggregator adds its variable. */
export const aggregatorUrlVariable = (aggregator: Aggregator) => `${aggregator.toUpperCase()}_API_URL`;

const optionalUrl = z.url({ protocol: /^https?$/ }).optional().or(z.literal('').transform(() => undefined));
const aggregatorUrls = Object.fromEntries(AGGREGATORS.map((a) => [aggregatorUrlVariable(a), optionalUrl])) as Record<
  string,
  typeof optionalUrl
>;

/** `AGGREGATOR_HOST_ALLOWLIST`: comma-separated host names or IP addresses, normalised as URLs spell them. */
const hostList = z
  .string()
  .default('')
  .transform((v) => v.split(',').map((h) => h.trim()).filter((h) => h !== ''))
  .pipe(z.array(z.string().regex(/^(\[?[0-9A-Fa-f:.]+\]?|[A-Za-z0-9.-]+)$/, 'expected host names or IP addresses, comma-separated (no scheme, port or path)')))
  .transform((hosts) => [...new Set(hosts.map(normalizeHost))]);

const envSchema = z
  .object({
    NODE_ENV: z.enum(['development', 'production', 'test']).default('development'),
    LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    DATA_DIR: z.string().trim().min(1).default('.data'),

    API_HOST: z.string().trim().min(1).default('127.0.0.1'),
    API_PORT: port(3000),
    PUBLIC_BASE_URL: z.url().optional().or(z.literal('').transform(() => undefined)),
    ADMIN_API_KEY: z.string().trim().min(24, 'must be at least 24 characters').optional().or(z.literal('').transform(() => undefined)),
    SECRETS_KEY: z
      .string()
      .trim()
      .regex(/^[A-Za-z0-9+/]{43}=$/, 'must be 32 bytes, base64-encoded (openssl rand -base64 32)')
      .optional()
      .or(z.literal('').transform(() => undefined)),

    DATABASE_URL: z
      .string()
      .trim()
      .regex(/^postgres(ql)?:\/\//, 'must be a postgres:// or postgresql:// URL')
      .optional()
      .or(z.literal('').transform(() => undefined)),
    DATABASE_POOL_SIZE: z.coerce.number().int().min(1).max(200).default(10),
    EMBEDDED_POSTGRES_PORT: fixedPort(54329),

    TEMPORAL_ADDRESS: optionalString,
    TEMPORAL_NAMESPACE: z.string().trim().min(1).default('default'),
    TEMPORAL_TASK_QUEUE: z.string().trim().min(1).default('aggregator-bookings'),
    TEMPORAL_API_KEY: optionalString,
    TEMPORAL_TLS: booleanFlag(false),
    TEMPORAL_TLS_CERT_PATH: optionalString,
    TEMPORAL_TLS_KEY_PATH: optionalString,
    TEMPORAL_TLS_CA_PATH: optionalString,
    TEMPORAL_TLS_SERVER_NAME: optionalString,
    TEMPORAL_DEV_PORT: fixedPort(7233),
    TEMPORAL_UI_PORT: fixedPort(8233),
    TEMPORAL_UI_URL: z.url().optional().or(z.literal('').transform(() => undefined)),
    TEMPORAL_CLI_PATH: optionalString,

    SYNC_INTERVAL: durationMs.default(30 * 60_000),
    BOOKING_HORIZON_DAYS: z.coerce.number().int().min(1).max(365).default(14),
    EVENTS_RETENTION_DAYS: z.coerce.number().int().min(1).max(3650).default(30),
    WEBHOOK_INBOX_RETENTION_DAYS: z.coerce.number().int().min(1).max(3650).default(30),

    METRICS_HOST: z.string().trim().min(1).default('127.0.0.1'),
    METRICS_PORT: portOrOff(9461),
    WORKER_METRICS_PORT: portOrOff(9462),
    TEMPORAL_METRICS_BIND_ADDRESS: bindAddressOrOff('127.0.0.1:9464'),

    SANDBOXES: z.enum(['auto', 'off']).default('auto'),
    SANDBOX_HOST: z.string().trim().min(1).default('127.0.0.1'),
    SANDBOX_BASE_PORT: port(4100),
    AGGREGATOR_HOST_ALLOWLIST: hostList,
    ...aggregatorUrls,
  })
  .superRefine((env, ctx) => {
    if ((env.TEMPORAL_TLS_CERT_PATH === undefined) !== (env.TEMPORAL_TLS_KEY_PATH === undefined)) {
      ctx.addIssue({
        code: 'custom',
        path: [env.TEMPORAL_TLS_CERT_PATH === undefined ? 'TEMPORAL_TLS_CERT_PATH' : 'TEMPORAL_TLS_KEY_PATH'],
        message: 'TEMPORAL_TLS_CERT_PATH and TEMPORAL_TLS_KEY_PATH must be set together',
      });
    }
    if (env.NODE_ENV === 'production') {
      for (const name of ['ADMIN_API_KEY', 'SECRETS_KEY', 'DATABASE_URL', 'TEMPORAL_ADDRESS'] as const) {
        if (env[name] === undefined) {
          ctx.addIssue({ code: 'custom', path: [name], message: 'is required when NODE_ENV=production' });
        }
      }
    }
    // The aggregator URLs take the rules a connection's apiBaseUrl takes; what their names resolve to is checked at
    // start-up (bin/service.ts) and on every connection.
    const policy = { production: env.NODE_ENV === 'production', allowHosts: env.AGGREGATOR_HOST_ALLOWLIST };
    for (const aggregator of AGGREGATORS) {
      const name = aggregatorUrlVariable(aggregator);
      const url = (env as Record<string, unknown>)[name];
      if (typeof url !== 'string') continue;
      const verdict = checkUrl(url, policy);
      if (!verdict.ok) ctx.addIssue({ code: 'custom', path: [name], message: verdict.reason });
    }
  });

export type Env = z.input<typeof envSchema>;

/** Every environment variable the service reads (the README table and .env.example list the same). */
export const CONFIG_VARIABLES = Object.keys(envSchema.shape);

export interface TemporalConfig {
  /** undefined: start a local dev server. */
  address: string | undefined;
  namespace: string;
  taskQueue: string;
  apiKey: string | undefined;
  tls:
    | false
    | { certPath?: string | undefined; keyPath?: string | undefined; caPath?: string | undefined; serverName?: string | undefined };
  devServer: { port: number; uiPort: number; cliPath: string | undefined };
  uiUrl: string | undefined;
}

export interface Config {
  env: 'development' | 'production' | 'test';
  logLevel: string;
  dataDir: string;
  api: { host: string; port: number; publicBaseUrl: string | undefined; adminApiKey: string | undefined };
  secretsKey: string | undefined;
  database: { url: string | undefined; poolSize: number; embeddedPort: number };
  temporal: TemporalConfig;
  sync: { intervalMs: number; horizonMs: number };
  /** Events to the studio backend: how long they, their dispatches and their delivery log are kept. */
  events: { retentionMs: number };
  /** Aggregators' webhooks: how long settled inbox rows are kept. */
  inbox: { retentionMs: number };
  /**
   * Where `/metrics` is served: a listener of its own, apart from the API's port (which faces the aggregators), for
   * the api and start roles (`apiPort`) and the worker role (`workerPort`); undefined = off. The Temporal SDK's own
   * metrics are served by its runtime at `temporalBindAddress` (start and worker roles).
   */
  metrics: { host: string; apiPort: number | undefined; workerPort: number | undefined; temporalBindAddress: string | undefined };
  aggregators: {
    /** API base URLs configured for real aggregators; an aggregator absent here has none configured. */
    apiUrls: Partial<Record<Aggregator, string>>;
    /**
     * `auto`: outside production, `start` runs a sandbox for every aggregator without a configured URL and points
     * connections without their own URL at it. `off`: never.
     */
    sandboxes: 'auto' | 'off';
    sandboxHost: string;
    sandboxBasePort: number;
    /** Where aggregator calls may go: production's rules, and the hosts exempt from the public-address rule. */
    outbound: OutboundPolicy;
  };
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

/** Parses the environment; throws a ConfigError naming every missing or invalid variable. */
export function loadConfig(source: NodeJS.ProcessEnv = process.env, cwd = process.cwd()): Config {
  const parsed = envSchema.safeParse(source);
  if (!parsed.success) {
    throw new ConfigError(
      parsed.error.issues.map((issue) => {
        const name = issue.path.join('.') || '(environment)';
        return `${name}: ${issue.message}`;
      }),
    );
  }
  const env = parsed.data;
  const tlsWanted =
    env.TEMPORAL_TLS || env.TEMPORAL_TLS_CERT_PATH !== undefined || env.TEMPORAL_API_KEY !== undefined;
  return {
    env: env.NODE_ENV,
    logLevel: env.LOG_LEVEL,
    dataDir: path.resolve(cwd, env.DATA_DIR),
    api: {
      host: env.API_HOST,
      port: env.API_PORT,
      publicBaseUrl: env.PUBLIC_BASE_URL,
      adminApiKey: env.ADMIN_API_KEY,
    },
    secretsKey: env.SECRETS_KEY,
    database: { url: env.DATABASE_URL, poolSize: env.DATABASE_POOL_SIZE, embeddedPort: env.EMBEDDED_POSTGRES_PORT },
    temporal: {
      address: env.TEMPORAL_ADDRESS,
      namespace: env.TEMPORAL_NAMESPACE,
      taskQueue: env.TEMPORAL_TASK_QUEUE,
      apiKey: env.TEMPORAL_API_KEY,
      tls: tlsWanted
        ? {
            certPath: env.TEMPORAL_TLS_CERT_PATH,
            keyPath: env.TEMPORAL_TLS_KEY_PATH,
            caPath: env.TEMPORAL_TLS_CA_PATH,
            serverName: env.TEMPORAL_TLS_SERVER_NAME,
          }
        : false,
      devServer: { port: env.TEMPORAL_DEV_PORT, uiPort: env.TEMPORAL_UI_PORT, cliPath: env.TEMPORAL_CLI_PATH },
      uiUrl: env.TEMPORAL_UI_URL,
    },
    sync: { intervalMs: env.SYNC_INTERVAL, horizonMs: env.BOOKING_HORIZON_DAYS * 86_400_000 },
    events: { retentionMs: env.EVENTS_RETENTION_DAYS * 86_400_000 },
    inbox: { retentionMs: env.WEBHOOK_INBOX_RETENTION_DAYS * 86_400_000 },
    metrics: {
      host: env.METRICS_HOST,
      apiPort: env.METRICS_PORT === 'off' ? undefined : env.METRICS_PORT,
      workerPort: env.WORKER_METRICS_PORT === 'off' ? undefined : env.WORKER_METRICS_PORT,
      temporalBindAddress: env.TEMPORAL_METRICS_BIND_ADDRESS === 'off' ? undefined : env.TEMPORAL_METRICS_BIND_ADDRESS,
    },
    aggregators: {
      apiUrls: Object.fromEntries(
        AGGREGATORS.flatMap((a) => {
          const url = (env as Record<string, unknown>)[aggregatorUrlVariable(a)];
          return typeof url === 'string' ? [[a, url]] : [];
        }),
      ),
      sandboxes: env.NODE_ENV === 'production' ? 'off' : env.SANDBOXES,
      sandboxHost: env.SANDBOX_HOST,
      sandboxBasePort: env.SANDBOX_BASE_PORT,
      outbound: { production: env.NODE_ENV === 'production', allowHosts: env.AGGREGATOR_HOST_ALLOWLIST },
    },
  };
}
