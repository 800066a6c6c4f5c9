import { randomUUID } from 'node:crypto';
import express, { type Express } from 'express';
import type { AggregatorEndpoints } from '../aggregators/registry.js';
import type { AggregatorAdapter } from '../aggregators/types.js';
import type { Aggregator } from '../domain/model.js';
import type { Db } from '../db/index.js';
import type { Logger } from '../lib/logger.js';
import type { SecretBox } from '../lib/secrets.js';
import { errorHandler, notFoundHandler } from './errors.js';
import type { LifecycleControl } from './clients/activity-lifecycle.js';
import { lifecycleSignals } from './lifecycle-relay.js';
import type { BookingRequestControl } from './clients/booking-request.js';
import type { CancellationControl } from './clients/session-cancellation.js';
import { mountRoutes, openApiDocument, type AnyRoute } from './route.js';
import { activityRoutes } from './routes/activities.js';
import { bookingRequestRoutes } from './routes/booking-requests.js';
import { cancellationRoutes } from './routes/cancellations.js';
import { bookingRoutes } from './routes/bookings.js';
import { companyRoutes } from './routes/companies.js';
import { connectionRoutes } from './routes/connections.js';
import { customerRoutes } from './routes/customers.js';
import { eventEndpointRoutes } from './routes/event-endpoints.js';
import { healthRoutes, type ReadinessCheck } from './routes/health.js';
import { reportRoutes } from './routes/reports.js';
import { sessionRoutes } from './routes/sessions.js';
import { venueRoutes } from './routes/venues.js';
import { webhookEventRoutes } from './routes/webhook-events.js';
import { webhookRouter } from './routes/webhooks.js';

export interface AppDeps {
  db: Db;
  logger: Logger;
  secretBox: SecretBox;
  lifecycle: LifecycleControl;
  /** Booking request workflows: the webhooks hand events to them, the approval API answers held requests. */
  bookings: BookingRequestControl;
  /** Session cancellation fan-outs. */
  cancellations: CancellationControl;
  adapters: Readonly<Record<Aggregator, AggregatorAdapter>>;
  /** Which API base URL each connection's calls go to (its own, configured, sandbox, or production). */
  endpoints: AggregatorEndpoints;
  adminApiKey: string | undefined;
  readiness: Record<string, ReadinessCheck>;
  publicBaseUrl?: string | undefined;
  version?: string;
}

export function allRoutes(deps: AppDeps): AnyRoute[] {
  const signals = lifecycleSignals({ db: deps.db, lifecycle: deps.lifecycle, logger: deps.logger });
  return [
    ...healthRoutes(deps.readiness),
    ...companyRoutes(deps.db),
    ...venueRoutes(deps.db),
    ...connectionRoutes(deps.db, deps.secretBox, deps.endpoints, signals, deps.cancellations),
    ...activityRoutes(deps.db, deps.lifecycle, signals),
    ...sessionRoutes(deps.db, signals),
    ...customerRoutes(deps.db),
    ...bookingRoutes(deps.db, signals),
    ...bookingRequestRoutes(deps.db, deps.bookings),
    ...cancellationRoutes(deps.db, deps.cancellations),
    ...webhookEventRoutes(deps.db),
    ...reportRoutes(deps.db),
    ...eventEndpointRoutes(deps.db, deps.secretBox),
  ];
}

const REQUEST_ID = /^[A-Za-z0-9._-]{1,100}$/;

/** The HTTP API. Thin: it validates, writes the ledger, and starts or signals workflows. */
export function createApp(deps: AppDeps): Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('trust proxy', false);
  app.set('query parser', 'simple');

  app.use((req, res, next) => {
    const incoming = req.get('x-request-id');
    const requestId = incoming !== undefined && REQUEST_ID.test(incoming) ? incoming : randomUUID();
    const log = deps.logger.child({ requestId });
    res.locals.requestId = requestId;
    res.locals.log = log;
    res.setHeader('X-Request-Id', requestId);
    const started = process.hrtime.bigint();
    res.on('finish', () => {
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      const level = res.statusCode >= 500 ? 'error' : req.path === '/healthz' || req.path === '/readyz' ? 'debug' : 'info';
      log[level]({ method: req.method, path: req.path, status: res.statusCode, ms: Math.round(ms * 10) / 10 }, 'request');
    });
    next();
  });

  const routes = allRoutes(deps);
  const document = openApiDocument(routes, { version: deps.version ?? '0.1.0', serverUrl: deps.publicBaseUrl });
  app.get('/openapi.json', (_req, res) => {
    res.json(document);
  });
  // The aggregators' webhooks follow each aggregator's contract, not this API's document: they read the raw body.
  app.use(webhookRouter({ db: deps.db, secretBox: deps.secretBox, adapters: deps.adapters, bookings: deps.bookings, logger: deps.logger }));
  app.use(mountRoutes(routes, { db: deps.db, adminApiKey: deps.adminApiKey }));
  app.use(notFoundHandler);
  app.use(errorHandler(deps.logger));
  return app;
}
