import { OpenAPIRegistry, OpenApiGeneratorV31 } from '@asteasolutions/zod-to-openapi';
import express, { Router, type Request, type Response } from 'express';
import type { Logger } from '../lib/logger.js';
import { authenticate, type Auth, type AuthRequirement } from './auth.js';
import { ApiError, methodNotAllowed, validationError } from './errors.js';
import { ErrorSchema } from './schemas.js';
import { z } from './zod.js';
import type { Db } from '../db/index.js';

type Method = 'get' | 'post' | 'patch' | 'put' | 'delete';
type AnyObject = z.ZodType<Record<string, unknown>>;

export interface HandlerInput<P, Q, B> {
  params: P;
  query: Q;
  body: B;
  auth: Auth;
  log: Logger;
  requestId: string;
  /** The raw request, for the few handlers that need headers or the raw body. */
  req: Request;
}

export interface RouteSpec<P extends AnyObject, Q extends AnyObject, B extends z.ZodType, R extends z.ZodType> {
  method: Method;
  /** OpenAPI-style path: `/v1/venues/{venueId}`. */
  path: string;
  summary: string;
  tag: string;
  auth: AuthRequirement;
  params?: P;
  query?: Q;
  body?: B;
  response: { status: number; description: string; schema: R };
  /** Error statuses this route can answer with, for the document. */
  errors?: number[];
  /** A Location header for 201/202 responses. */
  location?: (body: z.output<R>) => string;
  /**
   * The same answer as CSV, for a client whose Accept prefers `text/csv` to `application/json` (a client that accepts
   * neither gets 406). The document lists both media types.
   */
  csv?: { render: (body: z.output<R>) => string; filename: (body: z.output<R>) => string };
  handler: (input: HandlerInput<z.output<P>, z.output<Q>, z.output<B>>) => Promise<z.input<R>>;
}

export type AnyRoute = RouteSpec<AnyObject, AnyObject, z.ZodType, z.ZodType>;

/** Keeps the types of one route's schemas and handler tied together. */
export function defineRoute<P extends AnyObject, Q extends AnyObject, B extends z.ZodType, R extends z.ZodType>(
  spec: RouteSpec<P, Q, B, R>,
): AnyRoute {
  return spec;
}

const emptyObject = z.object({}).strict();

function expressPath(path: string): string {
  return path.replace(/\{(\w+)\}/g, ':$1');
}

const JSON_TYPES = ['application/json', 'application/*+json'];

/** Only routes that take a body parse one: a body sent elsewhere is ignored, whatever its type or encoding. */
const parseJson = express.json({ limit: '256kb', strict: true, type: JSON_TYPES });

/** A route with a body requires one, in JSON: a missing body is a 400, another media type a 415. */
function requireJsonBody(req: Request): void {
  if (req.body !== undefined) return;
  const sent = req.get('transfer-encoding') !== undefined || Number(req.get('content-length') ?? 0) > 0;
  if (sent && !req.is(JSON_TYPES)) {
    throw new ApiError(415, 'unsupported_media_type', 'the request body must be application/json');
  }
  throw new ApiError(400, 'body_required', 'a JSON request body is required');
}

const METHOD_ORDER = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'];

export function mountRoutes(routes: AnyRoute[], deps: { db: Db; adminApiKey: string | undefined }): Router {
  const router = Router();
  for (const route of routes) {
    const parsers = route.body ? [parseJson] : [];
    router[route.method](expressPath(route.path), ...parsers, async (req: Request, res: Response) => {
      const auth = await authenticate(req, route.auth, deps.db, deps.adminApiKey);
      if (route.body) requireJsonBody(req);
      // A route without a params or query schema takes none: anything given is refused by the empty strict object.
      const parse = <S extends z.ZodType>(schema: S | undefined, value: unknown, where: 'params' | 'query' | 'body') => {
        const result = (schema ?? emptyObject).safeParse(value);
        if (!result.success) throw validationError(where, result.error);
        return result.data as z.output<S>;
      };
      const params = parse(route.params, req.params, 'params');
      const query = parse(route.query, req.query, 'query');
      const body = route.body ? parse(route.body, req.body, 'body') : undefined;
      // Only a route that can answer CSV negotiates; the others answer JSON whatever the Accept header says.
      const mediaType = route.csv ? req.accepts(['application/json', 'text/csv']) : 'application/json';
      if (mediaType === false) throw new ApiError(406, 'not_acceptable', 'this resource is available as application/json or text/csv');
      const log = res.locals.log as Logger;
      const result = await route.handler({ params, query, body, auth, log, requestId: res.locals.requestId as string, req });
      const output = route.response.schema.parse(result);
      if (route.location) res.setHeader('Location', route.location(output));
      if (route.csv && mediaType === 'text/csv') {
        res.setHeader('Content-Disposition', `attachment; filename="${route.csv.filename(output)}"`);
        res.status(route.response.status).type('text/csv; charset=utf-8').send(route.csv.render(output));
        return;
      }
      res.status(route.response.status).json(output);
    });
  }
  // A known path answers any other method with 405 and the methods it does take (OPTIONS: 204 with the same list).
  const methodsByPath = new Map<string, string[]>();
  for (const route of routes) {
    const methods = methodsByPath.get(route.path) ?? [];
    methods.push(route.method.toUpperCase(), ...(route.method === 'get' ? ['HEAD'] : []));
    methodsByPath.set(route.path, methods);
  }
  for (const [path, methods] of methodsByPath) {
    const allowed = METHOD_ORDER.filter((method) => method === 'OPTIONS' || methods.includes(method));
    router.all(expressPath(path), (req: Request, res: Response) => {
      if (req.method !== 'OPTIONS') throw methodNotAllowed(req.method, req.path, allowed);
      res.setHeader('Allow', allowed.join(', ')).status(204).end();
    });
  }
  return router;
}

const errorDescriptions: Record<number, string> = {
  400: 'The request does not match this document: a body, parameter or query value is missing, malformed or out of range',
  401: 'Missing or unknown API key',
  403: 'The API key may not do this',
  404: 'Not found, or not visible to this API key',
  406: 'The Accept header allows none of the media types this resource is available in',
  409: 'Conflicts with the current state',
  413: 'Body too large (256 kB at most)',
  415: 'The body is not JSON, or not in a Content-Encoding or charset the server reads',
  422: 'Matches this document but breaks a rule it cannot express (one field against another, or against stored state)',
  503: 'A dependency (PostgreSQL or Temporal) is unavailable',
};

/** The OpenAPI 3.1 document, generated from the same zod schemas that validate the requests. */
export function openApiDocument(routes: AnyRoute[], info: { version: string; serverUrl?: string | undefined }) {
  const registry = new OpenAPIRegistry();
  registry.registerComponent('securitySchemes', 'bearer', {
    type: 'http',
    scheme: 'bearer',
    description: 'Company or admin API key: `Authorization: Bearer <key>`',
  });
  registry.registerComponent('securitySchemes', 'apiKeyHeader', {
    type: 'apiKey',
    in: 'header',
    name: 'X-Api-Key',
    description: 'The same key in the `X-Api-Key` header (used when there is no `Authorization` header)',
  });
  for (const route of routes) {
    const errors = new Set([
      400,
      ...(route.auth === 'none' ? [] : [401, 403]),
      ...(route.body ? [413, 415] : []),
      ...(route.csv ? [406] : []),
      ...(route.errors ?? []),
    ]);
    registry.registerPath({
      method: route.method,
      path: route.path,
      summary: route.summary,
      tags: [route.tag],
      ...(route.auth === 'none' ? {} : { security: [{ bearer: [] }, { apiKeyHeader: [] }] }),
      request: {
        ...(route.params ? { params: route.params as never } : {}),
        ...(route.query ? { query: route.query as never } : {}),
        ...(route.body ? { body: { required: true, content: { 'application/json': { schema: route.body } } } } : {}),
      },
      responses: {
        [route.response.status]: {
          description: route.response.description,
          ...(route.location ? { headers: { Location: { description: 'Where the resource is', schema: { type: 'string' } } } } : {}),
          content: {
            'application/json': { schema: route.response.schema },
            ...(route.csv ? { 'text/csv': { schema: { type: 'string' as const, description: 'The same answer as CSV (RFC 4180, a header line first)' } } } : {}),
          },
        },
        ...Object.fromEntries(
          [...errors].map((status) => [
            status,
            { description: errorDescriptions[status] ?? 'Error', content: { 'application/json': { schema: ErrorSchema } } },
          ]),
        ),
      },
    });
  }
  return new OpenApiGeneratorV31(registry.definitions).generateDocument({
    openapi: '3.1.0',
    info: {
      title: 'Aggregator bookings API',
      version: info.version,
      description:
        'Manage venues, aggregator connections, activities and sessions; the service syncs them to fitness aggregators.',
    },
    ...(info.serverUrl ? { servers: [{ url: info.serverUrl }] } : {}),
  });
}
