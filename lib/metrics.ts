import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { AGGREGATORS } from '../domain/model.js';
import { errorFields, type Logger } from './logger.js';

/**
 * The process's metrics: one registry, every instrument created here, served as Prometheus text on `/metrics`.
 *
 * prom-client, not the OpenTelemetry SDK: what is wanted is the Prometheus text format scraped straight from each
 * process, with no collector in between; prom-client writes exactly that, and the Temporal SDK's own metrics come
 * from its runtime's Prometheus exporter beside it (worker/index.ts).
 *
 * Labels stay few and bounded: the aggregator (a fixed list), an outcome or status class (fixed lists), and for the
 * sync state a connection id (a bounded set per deployment). Never a booking number, a member, a URL or a secret.
 * `/metrics` is an operator endpoint: it is served on a listener of its own (`METRICS_PORT`, `WORKER_METRICS_PORT`),
 * never on the API's port, which the aggregators reach.
 */
export const PREFIX = 'aggregator_bookings_';

export const registry = new Registry();
collectDefaultMetrics({ register: registry, prefix: PREFIX });

/** An aggregator label: one of the known aggregators, else `unknown` (a webhook to a path no aggregator has). */
export function aggregatorLabel(name: string): string {
  return (AGGREGATORS as readonly string[]).includes(name) ? name : 'unknown';
}

/** An HTTP answer as a label: its class (`2xx` … `5xx`), `429` on its own (throttling), or why there was none. */
export function statusLabel(status: number | undefined, failure?: 'timeout' | 'network' | 'refused'): string {
  if (status === undefined) return failure ?? 'network';
  if (status === 429) return '429';
  return `${Math.floor(status / 100)}xx`;
}

const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
/** A booking request lives up to the aggregator's deadline (Wellhub: 15 minutes). */
const REQUEST_BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 900];

// Recorded where the thing happens: the webhook route (API processes), the booking request activities and the
// aggregator HTTP client (worker processes; the Onefit decision is taken in the webhook route, so in the API).

export const webhooksReceived = new Counter({
  name: `${PREFIX}webhooks_received_total`,
  help: "Webhooks received, by aggregator and outcome (accepted, duplicate, the refusal code: invalid_signature, unknown_venue, invalid_event, ...; error for a 5xx; client_closed when the sender hung up before its answer).",
  labelNames: ['aggregator', 'outcome'] as const,
  registers: [registry],
});

export const webhookAckSeconds = new Histogram({
  name: `${PREFIX}webhook_ack_duration_seconds`,
  help: 'From a webhook arriving to its 2xx answer having been written (the event is in the inbox by then).',
  labelNames: ['aggregator'] as const,
  buckets: LATENCY_BUCKETS,
  registers: [registry],
});

export const requestDecisionSeconds = new Histogram({
  name: `${PREFIX}booking_request_decision_duration_seconds`,
  help: "From the aggregator's booking request (its time) to the decision: at once by the rules, or by the studio's approval or the approval deadline.",
  labelNames: ['aggregator', 'decision'] as const,
  buckets: REQUEST_BUCKETS,
  registers: [registry],
});

export const requestAnswerSeconds = new Histogram({
  name: `${PREFIX}booking_request_answer_duration_seconds`,
  help: "From a booking request's decision to the aggregator's API having taken the answer (answers in a webhook response are in the webhook ack latency).",
  labelNames: ['aggregator', 'decision'] as const,
  buckets: REQUEST_BUCKETS,
  registers: [registry],
});

export const aggregatorCallSeconds = new Histogram({
  name: `${PREFIX}aggregator_request_duration_seconds`,
  help: "Calls to an aggregator's API, by aggregator and status (2xx, 3xx, 4xx, 429, 5xx, timeout, network, refused by the outbound guard).",
  labelNames: ['aggregator', 'status'] as const,
  buckets: LATENCY_BUCKETS,
  registers: [registry],
});

export const aggregatorCalls = new Counter({
  name: `${PREFIX}aggregator_requests_total`,
  help: "Calls to an aggregator's API, by aggregator, operation (createSession, confirmBooking, ...) and status.",
  labelNames: ['aggregator', 'operation', 'status'] as const,
  registers: [registry],
});

const seconds = (fromMs: number, toMs: number) => Math.max(0, (toMs - fromMs) / 1000);

/** A booking request decided (reserve or reject), measured from the aggregator's request. */
export function recordDecision(aggregator: string, decision: string, requestedAt: Date, decidedAt: Date): void {
  requestDecisionSeconds.observe({ aggregator: aggregatorLabel(aggregator), decision }, seconds(requestedAt.getTime(), decidedAt.getTime()));
}

/** A booking request's answer taken by the aggregator's API, measured from its decision. */
export function recordAnswer(aggregator: string, decision: string, decidedAt: Date, answeredAt: Date): void {
  requestAnswerSeconds.observe({ aggregator: aggregatorLabel(aggregator), decision }, seconds(decidedAt.getTime(), answeredAt.getTime()));
}

/** What the ledger holds at a scrape: plain numbers, read by `db/ledger-metrics.ts` in a few aggregate queries. */
export interface LedgerState {
  /** Booking requests the aggregator has no answer for yet, by stage. Ages and deadlines in seconds from now. */
  requests: Array<{ aggregator: string; stage: 'awaiting_approval' | 'answering'; waiting: number; oldestAgeSeconds: number; nearestDeadlineSeconds: number }>;
  /** Inbox events not yet handed to their workflow (waiting) and given up on (dead). */
  inbox: Array<{ aggregator: string; waiting: number; oldestWaitingAgeSeconds: number | null; dead: number }>;
  /** Active connections: how many of their activities' last sync pass ended in an error, and the sync lag. */
  connections: Array<{ connectionId: string; aggregator: string; syncErrors: number; syncLagSeconds: number | null; lastErrorAtSeconds: number | null }>;
  /** Cancellation branches still to finish. */
  cancellationBranches: Array<{ aggregator: string; status: 'pending' | 'retrying'; open: number; oldestAgeSeconds: number }>;
  /** Lifecycle changes not yet signalled to their workflow. */
  lifecycleOutbox: { waiting: number; oldestAgeSeconds: number | null };
}

export type LedgerReader = (timeoutMs: number) => Promise<LedgerState>;

let ledgerReader: LedgerReader | undefined;
let readLogger: Logger | undefined;
let ledgerTimeoutMs = 2_000;
/** Scrapes within this long of a read share it: several Prometheus servers or a burst of scrapes make one read. */
let ledgerCacheMs = 2_000;
let ledgerRead: { at: number; result: Promise<LedgerState | undefined>; settled: boolean } | undefined;
/** A read that outlived its bound and still holds its connection: no other starts until it ends. */
let hungRead = false;
/** Gauges that exist only where a ledger reader is set (registered by setLedgerReader). */
const ledgerMetrics: Array<Gauge<string>> = [];

/**
 * The ledger state gauges are read from PostgreSQL at scrape time by the reader given here (API processes and
 * `start`); a process without one (the worker) does not export them at all. The read is bounded by `timeoutMs`
 * (statement timeout and a timer), and a failed read is `ledger_read_up 0`, never a failed scrape.
 */
export function setLedgerReader(reader: LedgerReader | undefined, options: { timeoutMs?: number; cacheMs?: number; logger?: Logger } = {}): void {
  ledgerReader = reader;
  readLogger = options.logger ?? readLogger;
  ledgerTimeoutMs = options.timeoutMs ?? 2_000;
  ledgerCacheMs = options.cacheMs ?? 2_000;
  ledgerRead = undefined;
  hungRead = false;
  for (const metric of ledgerMetrics) {
    const name = (metric as unknown as { name: string }).name;
    if (reader === undefined) registry.removeSingleMetric(name);
    else if (registry.getSingleMetric(name) === undefined) registry.registerMetric(metric);
  }
}

function ledgerState(): Promise<LedgerState | undefined> {
  const reader = ledgerReader;
  if (reader === undefined) return Promise.resolve(undefined);
  const now = Date.now();
  // The gauges of one scrape join one read (it settles within its bound), and close scrapes share it.
  if (ledgerRead !== undefined && (!ledgerRead.settled || now - ledgerRead.at < ledgerCacheMs)) return ledgerRead.result;
  // A read still hanging past its bound (a database that accepts connections and never answers) is not joined by
  // another each scrape, so a broken database costs at most one pool connection here.
  if (hungRead) {
    readLogger?.warn('metrics: the previous read of the ledger state has not ended; not starting another');
    ledgerRead = { at: now, result: Promise.resolve(undefined), settled: true };
    return ledgerRead.result;
  }
  const started = process.hrtime.bigint();
  let done = false;
  const read = reader(ledgerTimeoutMs).finally(() => {
    done = true;
    hungRead = false;
  });
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => {
      hungRead = !done;
      reject(new Error(`the ledger read took longer than ${ledgerTimeoutMs} ms`));
    }, ledgerTimeoutMs + 250);
  });
  const entry: { at: number; result: Promise<LedgerState | undefined>; settled: boolean } = { at: now, result: Promise.resolve(undefined), settled: false };
  entry.result = Promise.race([read, timeout])
    .catch((error: unknown) => {
      readLogger?.warn(errorFields(error), 'metrics: could not read the ledger state');
      return undefined;
    })
    .finally(() => {
      clearTimeout(timer);
      entry.settled = true;
      ledgerReadSeconds.set(Number(process.hrtime.bigint() - started) / 1e9);
    });
  ledgerRead = entry;
  return entry.result;
}

/** A gauge whose samples are set from the ledger state at each scrape, and absent when the state could not be read. */
function ledgerGauge<L extends string>(name: string, help: string, labelNames: readonly L[], fill: (gauge: Gauge<L>, state: LedgerState) => void): Gauge<L> {
  const gauge = new Gauge<L>({
    name: `${PREFIX}${name}`,
    help,
    labelNames,
    registers: [],
    collect: async function () {
      const state = await ledgerState();
      this.reset();
      if (state !== undefined) fill(this, state);
    },
  });
  ledgerMetrics.push(gauge);
  return gauge;
}

const ledgerUp = new Gauge({
  name: `${PREFIX}ledger_read_up`,
  help: "1 when the scrape's read of the ledger state succeeded, 0 when it failed or outlived its bound (the state gauges are then absent, the outbox ones 0).",
  registers: [],
  collect: async function () {
    this.set((await ledgerState()) === undefined ? 0 : 1);
  },
});

const ledgerReadSeconds = new Gauge({
  name: `${PREFIX}ledger_read_duration_seconds`,
  help: 'How long the read of the ledger state for this scrape took.',
  registers: [],
  collect: async function () {
    // Set when the read ends.
    await ledgerState();
  },
});
ledgerMetrics.push(ledgerUp, ledgerReadSeconds);

const STAGES = ['awaiting_approval', 'answering'] as const;

ledgerGauge(
  'booking_requests_waiting',
  'Booking requests the aggregator has no answer for yet: awaiting_approval (held for the studio) or answering (decided, the answer on its way).',
  ['aggregator', 'stage'],
  (gauge, state) => {
    // Every aggregator and stage, zeros included: "nothing waits" is a value, not an absent series.
    for (const aggregator of AGGREGATORS) for (const stage of STAGES) gauge.set({ aggregator, stage }, 0);
    for (const row of state.requests) gauge.set({ aggregator: aggregatorLabel(row.aggregator), stage: row.stage }, row.waiting);
  },
);

ledgerGauge(
  'booking_request_oldest_waiting_age_seconds',
  'Age of the oldest booking request still without an answer at the aggregator (absent when none waits).',
  ['aggregator'],
  (gauge, state) => {
    for (const [aggregator, rows] of byAggregator(state.requests)) gauge.set({ aggregator }, Math.max(...rows.map((r) => r.oldestAgeSeconds)));
  },
);

ledgerGauge(
  'booking_request_nearest_deadline_seconds',
  "Seconds left before the aggregator's deadline of the waiting booking request closest to it (negative: past it; absent when none waits).",
  ['aggregator'],
  (gauge, state) => {
    for (const [aggregator, rows] of byAggregator(state.requests)) gauge.set({ aggregator }, Math.min(...rows.map((r) => r.nearestDeadlineSeconds)));
  },
);

ledgerGauge('inbox_events_waiting', 'Webhook events in the inbox not yet handed to their booking workflow.', ['aggregator'], (gauge, state) => {
  for (const aggregator of AGGREGATORS) gauge.set({ aggregator }, 0);
  for (const row of state.inbox) gauge.set({ aggregator: aggregatorLabel(row.aggregator) }, row.waiting);
});

ledgerGauge(
  'inbox_oldest_waiting_age_seconds',
  'Age of the oldest webhook event waiting in the inbox to be handed over (absent when none waits).',
  ['aggregator'],
  (gauge, state) => {
    for (const row of state.inbox) if (row.oldestWaitingAgeSeconds !== null) gauge.set({ aggregator: aggregatorLabel(row.aggregator) }, row.oldestWaitingAgeSeconds);
  },
);

ledgerGauge(
  'inbox_events_dead',
  'Webhook events the inbox gave up handing over (too many failed attempts): they wait for an operator (GET /v1/webhook-events/dead, then POST /v1/webhook-events/{eventId}/retry).',
  ['aggregator'],
  (gauge, state) => {
    for (const aggregator of AGGREGATORS) gauge.set({ aggregator }, 0);
    for (const row of state.inbox) gauge.set({ aggregator: aggregatorLabel(row.aggregator) }, row.dead);
  },
);

ledgerGauge(
  'connection_sync_errors',
  "Per active connection: how many of its activities' last sync pass ended in an error (retrying, or refused for good).",
  ['connection_id', 'aggregator'],
  (gauge, state) => {
    for (const row of state.connections) gauge.set({ connection_id: row.connectionId, aggregator: aggregatorLabel(row.aggregator) }, row.syncErrors);
  },
);

ledgerGauge(
  'connection_sync_lag_seconds',
  "Per active connection: time since the least recently synced of its listed activities last synced without an error (a pass runs on every change and every SYNC_INTERVAL).",
  ['connection_id', 'aggregator'],
  (gauge, state) => {
    for (const row of state.connections) {
      if (row.syncLagSeconds !== null) gauge.set({ connection_id: row.connectionId, aggregator: aggregatorLabel(row.aggregator) }, row.syncLagSeconds);
    }
  },
);

ledgerGauge(
  'connection_last_sync_error_timestamp_seconds',
  'Per active connection: when the most recent sync error still standing was recorded (Unix time; absent when none stands).',
  ['connection_id', 'aggregator'],
  (gauge, state) => {
    for (const row of state.connections) {
      if (row.lastErrorAtSeconds !== null) gauge.set({ connection_id: row.connectionId, aggregator: aggregatorLabel(row.aggregator) }, row.lastErrorAtSeconds);
    }
  },
);

ledgerGauge(
  'cancellation_branches_open',
  'Session cancellation branches still to finish at an aggregator: pending (not tried yet) or retrying (a failure, retried with backoff).',
  ['aggregator', 'status'],
  (gauge, state) => {
    for (const aggregator of AGGREGATORS) for (const status of ['pending', 'retrying'] as const) gauge.set({ aggregator, status }, 0);
    for (const row of state.cancellationBranches) gauge.set({ aggregator: aggregatorLabel(row.aggregator), status: row.status }, row.open);
  },
);

ledgerGauge(
  'cancellation_branch_oldest_open_age_seconds',
  'Age of the oldest session cancellation not yet done at an aggregator (absent when none is open).',
  ['aggregator'],
  (gauge, state) => {
    for (const [aggregator, rows] of byAggregator(state.cancellationBranches)) gauge.set({ aggregator }, Math.max(...rows.map((r) => r.oldestAgeSeconds)));
  },
);

ledgerGauge('lifecycle_outbox_waiting', 'Schedule changes not yet signalled to their activity lifecycle (the relay retries them).', [], (gauge, state) => {
  gauge.set(state.lifecycleOutbox.waiting);
});

ledgerGauge('lifecycle_outbox_oldest_age_seconds', 'Age of the oldest schedule change not yet signalled (absent when none waits).', [], (gauge, state) => {
  if (state.lifecycleOutbox.oldestAgeSeconds !== null) gauge.set(state.lifecycleOutbox.oldestAgeSeconds);
});

function byAggregator<T extends { aggregator: string }>(rows: T[]): Map<string, T[]> {
  const map = new Map<string, T[]>();
  for (const row of rows) {
    const key = aggregatorLabel(row.aggregator);
    map.set(key, [...(map.get(key) ?? []), row]);
  }
  return map;
}

/** Every metric name the service exports, the ledger gauges included (the alert rules and the dashboard may use no other of ours). */
export function exportedMetricNames(): string[] {
  const names = [...registry.getMetricsAsArray(), ...ledgerMetrics].map((metric) => (metric as unknown as { name: string }).name);
  return [...new Set(names)];
}

/** `GET /metrics` (and HEAD): the registry as Prometheus text. Anything else is a 404 or 405; a failure a 500 with no detail. */
export async function serveMetrics(req: IncomingMessage, res: ServerResponse): Promise<void> {
  const path = (req.url ?? '/').split('?')[0];
  if (path !== '/metrics') {
    res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' }).end('not found: metrics are at /metrics\n');
    return;
  }
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain; charset=utf-8' }).end('method not allowed\n');
    return;
  }
  try {
    const text = await registry.metrics();
    res.writeHead(200, { 'content-type': registry.contentType, 'cache-control': 'no-store' });
    res.end(req.method === 'HEAD' ? undefined : text);
  } catch (error) {
    readLogger?.error(errorFields(error), 'metrics: could not render');
    res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' }).end('metrics unavailable\n');
  }
}

export interface MetricsServer {
  url: string;
  close(): Promise<void>;
}

/** The operator's `/metrics` listener, apart from the API: `METRICS_PORT` (api, start) or `WORKER_METRICS_PORT` (worker). */
export async function startMetricsServer(options: { host: string; port: number; logger: Logger }): Promise<MetricsServer> {
  readLogger ??= options.logger;
  const server: Server = createServer((req, res) => void serveMetrics(req, res));
  // A scrape is small and quick; a client that holds a connection open gets nothing more.
  server.requestTimeout = 10_000;
  server.headersTimeout = 5_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  const host = options.host.includes(':') ? `[${options.host}]` : options.host;
  return {
    url: `http://${host}:${port}/metrics`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
