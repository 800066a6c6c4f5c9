import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createOutboundGuard, installOutboundGuard, refusedConfiguredUrls } from '../aggregators/outbound-guard.js';
import { aggregatorEndpoints, createAdapters, type SandboxEndpoint } from '../aggregators/registry.js';
import { createApp } from '../api/app.js';
import { temporalLifecycleControl } from '../api/clients/activity-lifecycle.js';
import { temporalBookingRequestControl } from '../api/clients/booking-request.js';
import { temporalCancellationControl } from '../api/clients/session-cancellation.js';
import { startCancellationSweeper } from '../api/cancellation-sweeper.js';
import { startInboxDispatcher } from '../api/inbox-dispatcher.js';
import { startLifecycleRelay } from '../api/lifecycle-relay.js';
import { temporalSessionTimersControl } from '../api/clients/session-timers.js';
import { startSessionTimersRelay } from '../api/session-timers-relay.js';
import { startEventRelay } from '../api/event-relay.js';
import { temporalEventDeliveryControl } from '../api/clients/studio-events.js';
import { aggregatorUrlVariable, ConfigError, loadConfig, type Config } from '../config/index.js';
import { startEmbeddedPostgres } from '../db/embedded.js';
import { createDb, pingDb, type Db } from '../db/index.js';
import { readLedgerState } from '../db/ledger-metrics.js';
import { migrateToLatest } from '../db/migrate.js';
import { AGGREGATORS, type Aggregator } from '../domain/model.js';
import { withLocalSecrets } from '../lib/local-secrets.js';
import { createLogger, errorFields, type Logger } from '../lib/logger.js';
import { setLedgerReader, startMetricsServer } from '../lib/metrics.js';
import { SecretBox } from '../lib/secrets.js';
import { connectClient, connectWorker, ensureSearchAttributes } from '../temporal/connection.js';
import { startDevServer } from '../temporal/dev-server.js';
import { createWorker, installRuntimeLogger } from '../worker/index.js';

/**
 * One binary, several roles:
 *   start   everything for local use: embedded PostgreSQL and Temporal dev server when none is configured,
 *           migrations, worker and API in one process
 *   api     the HTTP API (applies migrations first)
 *   worker  the Temporal worker
 *   migrate apply migrations and exit
 */
type Role = 'start' | 'api' | 'worker' | 'migrate';
const ROLES: Role[] = ['start', 'api', 'worker', 'migrate'];

type Stop = () => Promise<void>;

async function openDatabase(config: Config, logger: Logger, stops: Stop[]): Promise<Db> {
  let url = config.database.url;
  if (url === undefined) {
    const pg = await startEmbeddedPostgres({ dataDir: config.dataDir, port: config.database.embeddedPort, logger });
    stops.push(() => pg.stop());
    url = pg.url;
  }
  // Once the pool is closing, a connection the server ends is the shutdown itself, not a loss: the pool's end() hands
  // its idle clients their end() without waiting for the server to see it, so an embedded PostgreSQL stopping next
  // can still reach one of them with "terminating connection" (57P01).
  let closing = false;
  const db = createDb(url, config.database.poolSize, (error) => {
    if (closing) logger.debug(errorFields(error), 'a PostgreSQL connection ended during shutdown');
    else logger.warn(errorFields(error), 'a PostgreSQL connection was lost; the pool opens a new one');
  });
  stops.push(() => {
    closing = true;
    return db.destroy();
  });
  return db;
}

async function temporalAddress(config: Config, logger: Logger, stops: Stop[]): Promise<{ address: string; uiUrl: string | undefined }> {
  if (config.temporal.address !== undefined) return { address: config.temporal.address, uiUrl: config.temporal.uiUrl };
  const dev = await startDevServer(config, logger);
  stops.push(() => dev.stop());
  return { address: dev.address, uiUrl: config.temporal.uiUrl ?? dev.uiUrl };
}

async function main(): Promise<void> {
  const role = (process.argv[2] ?? 'start') as Role;
  if (!ROLES.includes(role)) {
    console.error(`unknown command "${role}"; use one of: ${ROLES.join(', ')}`);
    process.exit(2);
  }
  let config: Config & { adminApiKeyFile?: string };
  try {
    config = withLocalSecrets(loadConfig());
    // Before anything can call an aggregator: every call, and every URL the API is given, goes through this guard.
    const guard = createOutboundGuard(config.aggregators.outbound);
    installOutboundGuard(guard);
    const refusedUrls = await refusedConfiguredUrls(
      Object.fromEntries(Object.entries(config.aggregators.apiUrls).map(([a, url]) => [aggregatorUrlVariable(a as Aggregator), url])),
      guard,
    );
    if (refusedUrls.length > 0) throw new ConfigError(refusedUrls);
  } catch (error) {
    if (error instanceof ConfigError) {
      console.error(error.message);
      process.exit(78); // EX_CONFIG
    }
    throw error;
  }
  const logger = createLogger(config.logLevel);
  // Before anything touches the Temporal runtime (the dev server, connections), so its logs reach pino. The SDK's
  // Prometheus exporter runs where a worker does (its metrics are the worker's); the API uses no native runtime part.
  const temporalMetrics = role === 'start' || role === 'worker' ? config.metrics.temporalBindAddress : undefined;
  try {
    installRuntimeLogger(logger, { prometheusBindAddress: temporalMetrics });
  } catch (error) {
    logger.fatal({ ...errorFields(error), bindAddress: temporalMetrics }, 'could not start the Temporal runtime (TEMPORAL_METRICS_BIND_ADDRESS)');
    process.exit(1);
  }
  const stops: Stop[] = [];
  let stopping = false;
  const shutdown = async (signal: string, exitCode = 0) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down');
    for (const stop of stops.reverse()) {
      try {
        await stop();
      } catch (error) {
        logger.warn(errorFields(error), 'error during shutdown');
      }
    }
    logger.info('stopped');
    process.exit(exitCode);
  };
  process.once('SIGTERM', () => void shutdown('SIGTERM'));
  process.once('SIGINT', () => void shutdown('SIGINT'));

  try {
    const db = await openDatabase(config, logger, stops);
    const applied = await migrateToLatest(db);
    logger.info({ applied }, applied.length > 0 ? 'migrations applied' : 'database schema up to date');
    if (role === 'migrate') {
      await shutdown('done');
      return;
    }

    const temporal = await temporalAddress(config, logger, stops);
    const { client, connection } = await connectClient(config.temporal, temporal.address);
    stops.push(() => connection.close());
    await ensureSearchAttributes(connection, config.temporal.namespace, logger);

    // `/metrics` on a listener of its own, never on the API's port (which the aggregators reach): one per process,
    // METRICS_PORT for the api role and for start (API and worker in one process, one registry: both sets on one
    // endpoint), WORKER_METRICS_PORT for the worker role. The ledger's state gauges are read by the API processes.
    const metricsPort = role === 'worker' ? config.metrics.workerPort : config.metrics.apiPort;
    let metricsUrl: string | undefined;
    if (role === 'start' || role === 'api') setLedgerReader((timeoutMs) => readLedgerState(db, timeoutMs), { logger });
    if (metricsPort !== undefined) {
      const metrics = await startMetricsServer({ host: config.metrics.host, port: metricsPort, logger }).catch((error: unknown) => {
        const variable = role === 'worker' ? 'WORKER_METRICS_PORT' : 'METRICS_PORT';
        throw new Error(`the metrics listener (${variable}=${metricsPort}, METRICS_HOST=${config.metrics.host}) could not start: ${errorFields(error).error}`);
      });
      stops.push(() => metrics.close());
      metricsUrl = metrics.url;
      logger.info({ metricsUrl, temporalMetrics: temporalMetrics === undefined ? undefined : `http://${temporalMetrics}/metrics` }, 'metrics listening');
    }

    let sandboxes: Partial<Record<Aggregator, SandboxEndpoint>> = {};
    let sandboxLines: string[] = [];
    const sandboxesOn =
      role === 'start' &&
      config.aggregators.sandboxes === 'auto' &&
      AGGREGATORS.some((aggregator) => config.aggregators.apiUrls[aggregator] === undefined);
    if (sandboxesOn) {
      // Sandbox code is loaded only here, dynamically: the api and worker roles (production) never load it.
      const { configuredSandboxes, describeSandboxes, startSandboxes } = await import('../aggregators/sandboxes.js');
      const running = await startSandboxes(configuredSandboxes(config, config.aggregators.apiUrls));
      stops.push(async () => {
        await Promise.allSettled(Object.values(running).map((s) => s.close()));
      });
      logger.info({ sandboxes: Object.fromEntries(Object.values(running).map((s) => [s.aggregator, s.url])) }, 'aggregator sandboxes running');
      sandboxes = running;
      sandboxLines = describeSandboxes(running);
    }
    const endpoints = aggregatorEndpoints(config.aggregators.apiUrls, sandboxes);
    const secretBox = new SecretBox(config.secretsKey ?? '');

    if (role === 'start' || role === 'worker') {
      const workerConnection = await connectWorker(config.temporal, temporal.address);
      const worker = await createWorker({
        connection: workerConnection,
        namespace: config.temporal.namespace,
        taskQueue: config.temporal.taskQueue,
        deps: { db, secretBox, endpoints, adapters: createAdapters(), horizonMs: config.sync.horizonMs },
      });
      const running = worker.run();
      stops.push(async () => {
        worker.shutdown();
        await running;
        await workerConnection.close();
      });
      running.catch((error: unknown) => {
        logger.fatal(errorFields(error), 'worker stopped unexpectedly');
        void shutdown('worker-failure', 1);
      });
      logger.info({ taskQueue: config.temporal.taskQueue }, 'worker running');
    }

    if (role === 'start' || role === 'api') {
      const adapters = createAdapters();
      const bookings = temporalBookingRequestControl(client, { taskQueue: config.temporal.taskQueue });
      const dispatcher = startInboxDispatcher({ db, adapters, bookings, logger, retentionMs: config.inbox.retentionMs });
      stops.push(() => dispatcher.stop());
      const cancellations = temporalCancellationControl(client, { taskQueue: config.temporal.taskQueue });
      const sweeper = startCancellationSweeper({ db, cancellations, logger });
      stops.push(() => sweeper.stop());
      const lifecycle = temporalLifecycleControl(client, { taskQueue: config.temporal.taskQueue, syncIntervalMs: config.sync.intervalMs });
      // Changes the lifecycle has not heard of yet are signalled from the outbox; offered activities without one get one.
      const relay = startLifecycleRelay({ db, lifecycle, logger, syncIntervalMs: config.sync.intervalMs });
      stops.push(() => relay.stop());
      // Sessions created or changed get their timers (no-show, spot release) from the session timers outbox.
      const timersRelay = startSessionTimersRelay({ db, timers: temporalSessionTimersControl(client, { taskQueue: config.temporal.taskQueue }), logger });
      stops.push(() => timersRelay.stop());
      // Events to the studio backend: each lane's delivery workflow is woken once its events are committed.
      const eventRelay = startEventRelay({
        db,
        control: temporalEventDeliveryControl(client, { taskQueue: config.temporal.taskQueue }),
        logger,
        retentionMs: config.events.retentionMs,
      });
      stops.push(() => eventRelay.stop());
      const app = createApp({
        adapters,
        bookings,
        cancellations,
        endpoints,
        db,
        logger,
        secretBox,
        lifecycle,
        adminApiKey: config.api.adminApiKey,
        publicBaseUrl: config.api.publicBaseUrl,
        readiness: {
          postgres: () => pingDb(db),
          temporal: async () => {
            await connection.workflowService.getSystemInfo({});
          },
        },
      });
      const server: Server = await new Promise((resolve, reject) => {
        const s = app.listen(config.api.port, config.api.host, () => resolve(s));
        s.once('error', reject);
      });
      stops.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
      const { port } = server.address() as AddressInfo;
      const apiUrl = `http://${config.api.host}:${port}`;
      logger.info({ apiUrl, temporalAddress: temporal.address, temporalUi: temporal.uiUrl }, 'API listening');
      if (role === 'start') {
        const lines = [
          '',
          'aggregator-bookings is running',
          `  API              ${apiUrl}`,
          `  OpenAPI document ${apiUrl}/openapi.json`,
          `  Readiness        ${apiUrl}/readyz`,
          ...(metricsUrl !== undefined ? [`  Metrics          ${metricsUrl}`] : []),
          ...(temporalMetrics !== undefined ? [`  Temporal metrics http://${temporalMetrics}/metrics`] : []),
          `  Temporal UI      ${temporal.uiUrl ?? '(not available for this cluster)'}`,
          `  Temporal         ${temporal.address} (namespace ${config.temporal.namespace})`,
          ...(config.adminApiKeyFile ? [`  Admin API key    in ${config.adminApiKeyFile}`] : []),
          ...(sandboxLines.length > 0
            ? ['', 'Aggregator sandboxes (connections without their own URL use them; sandbox-only credentials):', ...sandboxLines]
            : []),
          '',
        ];
        process.stdout.write(`${lines.join('\n')}\n`);
      }
    }
  } catch (error) {
    logger.fatal(errorFields(error), 'start-up failed');
    await shutdown('start-up-failure', 1);
  }
}

void main();
