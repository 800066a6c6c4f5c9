import { OpenAPIRegistry, OpenApiGeneratorV31 } from '@asteasolutions/zod-to-openapi';
import { Router, type Request, type Response } from 'express';
import type { Logger } from '../lib/logger.js';
import { authenticate, type Auth, type AuthRequirement } from './auth.js';
import { validationError } from './errors.js';
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

export function mountRoutes(routes: AnyRoute[], deps: { db: Db; adminApiKey: string | undefined }): Router {
  const router = Router();
  for (const route of routes) {
    router[route.method](expressPath(route.path), async (req: Request, res: Response) => {
      const auth = await authenticate(req, route.auth, deps.db, deps.adminApiKey);
      // A route without a params or query schema takes none: anything given is refused by the empty strict object.
      const parse = <S extends z.ZodType>(schema: S | undefined, value: unknown, where: 'params' | 'query' | 'body') => {
        const result = (schema ?? emptyObject).safeParse(value);
        if (!result.success) throw validationError(where, result.error);
        return result.data as z.output<S>;
      };
      const params = parse(route.params, req.params, 'params');
      const query = parse(route.query, req.query, 'query');
      const body = route.body ? parse(route.body, req.body ?? {}, 'body') : undefined;
      const log = res.locals.log as Logger;
      const result = await route.handler({ params, query, body, auth, log, requestId: res.locals.requestId as string, req });
      const output = route.response.schema.parse(result);
      if (route.location) res.setHeader('Location', route.location(output));
      res.status(route.response.status).json(output);
    });
  }
  return router;
}

const errorDescriptions: Record<number, string> = {
  400: 'Invalid request: the body, a parameter or the query failed validation',
  401: 'Missing or unknown API key',
  403: 'The API key may not do this',
  404: 'Not found, or not visible to this API key',
  409: 'Conflicts with the current state',
  413: 'Body too large',
  503: 'A dependency (PostgreSQL or Temporal) is unavailable',
};

/** The OpenAPI 3.1 document, generated from the same zod schemas that validate the requests. */
export function openApiDocument(routes: AnyRoute[], info: { version: string; serverUrl?: string | undefined }) {
  const registry = new OpenAPIRegistry();
  registry.registerComponent('securitySchemes', 'apiKey', { type: 'http', scheme: 'bearer', description: 'Company or admin API key' });
  for (const route of routes) {
    const errors = new Set([400, ...(route.auth === 'none' ? [] : [401, 403]), ...(route.errors ?? [])]);
    registry.registerPath({
      method: route.method,
      path: route.path,
      summary: route.summary,
      tags: [route.tag],
      ...(route.auth === 'none' ? {} : { security: [{ apiKey: [] }] }),
      request: {
        ...(route.params ? { params: route.params as never } : {}),
        ...(route.query ? { query: route.query as never } : {}),
        ...(route.body ? { body: { content: { 'application/json': { schema: route.body } } } } : {}),
      },
      responses: {
        [route.response.status]: {
          description: route.response.description,
          content: { 'application/json': { schema: route.response.schema } },
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
