import type { Selectable } from 'kysely';
import { outboundGuard } from '../../aggregators/outbound-guard.js';
import type { Db } from '../../db/index.js';
import type { EventEndpointsTable } from '../../db/schema.js';
import { recordReplay } from '../../db/studio-events.js';
import type { SecretBox } from '../../lib/secrets.js';
import { activeSecrets, newSigningSecret, parseEndpointSecrets, rotateSecrets, type EndpointSecrets } from '../../lib/standard-webhooks.js';
import { companyOf } from '../auth.js';
import { ApiError, found, ruleViolation } from '../errors.js';
import { defineRoute, type AnyRoute } from '../route.js';
import { Uuid } from '../schemas.js';
import { z } from '../zod.js';
import {
  CreateEventEndpointBody,
  DeliveryList,
  DeliveryListQuery,
  EventEndpoint,
  EventEndpointList,
  EventId,
  EventListQuery,
  presentDelivery,
  presentEvent,
  presentEventEndpoint,
  ReplayAccepted,
  StudioEventList,
  UpdateEventEndpointBody,
} from './event-endpoints.schemas.js';

/**
 * A company's endpoints for signed events (Standard Webhooks), their delivery log, replays, and the company's
 * events. Every lookup carries the company the key proved: another company's endpoint or event is a 404.
 */
export function eventEndpointRoutes(db: Db, box: SecretBox): AnyRoute[] {
  const EndpointParams = z.object({ endpointId: Uuid });

  const secretsOf = (row: Selectable<EventEndpointsTable>): EndpointSecrets => parseEndpointSecrets(box.openJson(row.secrets_sealed));
  /** The previous secret's end, while it still signs. */
  const previousUntil = (secrets: EndpointSecrets): string | null => (activeSecrets(secrets, new Date()).length > 1 ? (secrets.previousUntil ?? null) : null);
  const present = (row: Selectable<EventEndpointsTable>, secret?: string) => presentEventEndpoint(row, previousUntil(secretsOf(row)), secret);

  async function load(companyId: string, endpointId: string) {
    return found(
      await db.selectFrom('event_endpoints').selectAll().where('id', '=', endpointId).where('company_id', '=', companyId).executeTakeFirst(),
      'event endpoint',
    );
  }

  /** The worker will POST events there: a URL the outbound guard refuses is a 422, checked before anything is written. */
  async function checkUrl(url: string | undefined): Promise<void> {
    if (url === undefined) return;
    const refusal = await outboundGuard().refusal(url);
    if (refusal !== undefined) throw ruleViolation([{ location: 'body', path: 'url', message: refusal }]);
  }

  return [
    defineRoute({
      method: 'post',
      path: '/v1/event-endpoints',
      summary: 'Register an endpoint for signed events; its signing secret is in this answer only',
      tag: 'Events',
      auth: 'company',
      body: CreateEventEndpointBody,
      response: { status: 201, description: 'Created, with its secret (shown once)', schema: EventEndpoint },
      errors: [422],
      location: (e) => `/v1/event-endpoints/${e.id}`,
      handler: async ({ body, auth }) => {
        await checkUrl(body.url);
        const secret = newSigningSecret();
        const row = await db
          .insertInto('event_endpoints')
          .values({
            company_id: companyOf(auth),
            url: body.url,
            event_types: body.eventTypes,
            description: body.description ?? null,
            enabled: body.enabled,
            secrets_sealed: box.sealJson({ current: secret } satisfies EndpointSecrets),
          })
          .returningAll()
          .executeTakeFirstOrThrow();
        return present(row, secret);
      },
    }),
    defineRoute({
      method: 'get',
      path: '/v1/event-endpoints',
      summary: "The company's event endpoints (secrets are never returned here)",
      tag: 'Events',
      auth: 'company',
      response: { status: 200, description: 'Endpoints', schema: EventEndpointList },
      handler: async ({ auth }) => {
        const rows = await db.selectFrom('event_endpoints').selectAll().where('company_id', '=', companyOf(auth)).orderBy('created_at').orderBy('id').execute();
        return { items: rows.map((r) => present(r)) };
      },
    }),
    defineRoute({
      method: 'get',
      path: '/v1/event-endpoints/{endpointId}',
      summary: 'Read an event endpoint',
      tag: 'Events',
      auth: 'company',
      params: EndpointParams,
      response: { status: 200, description: 'The endpoint', schema: EventEndpoint },
      errors: [404],
      handler: async ({ params, auth }) => present(await load(companyOf(auth), params.endpointId)),
    }),
    defineRoute({
      method: 'patch',
      path: '/v1/event-endpoints/{endpointId}',
      summary: 'Change an event endpoint: URL, event types, description, enabled, or rotate its secret',
      tag: 'Events',
      auth: 'company',
      params: EndpointParams,
      body: UpdateEventEndpointBody,
      response: { status: 200, description: 'The changed endpoint (with the new secret after a rotation)', schema: EventEndpoint },
      errors: [404, 422],
      handler: async ({ params, body, auth }) => {
        const current = await load(companyOf(auth), params.endpointId);
        await checkUrl(body.url);
        const rotated = body.rotateSecret === true ? rotateSecrets(secretsOf(current), new Date()) : undefined;
        const row = await db
          .updateTable('event_endpoints')
          .set({
            ...(body.url !== undefined ? { url: body.url } : {}),
            ...(body.eventTypes !== undefined ? { event_types: body.eventTypes } : {}),
            ...(body.description !== undefined ? { description: body.description } : {}),
            ...(body.enabled !== undefined ? { enabled: body.enabled } : {}),
            ...(rotated !== undefined ? { secrets_sealed: box.sealJson(rotated) } : {}),
            updated_at: new Date(),
          })
          .where('id', '=', current.id)
          .returningAll()
          .executeTakeFirstOrThrow();
        return present(row, rotated?.current);
      },
    }),
    defineRoute({
      method: 'delete',
      path: '/v1/event-endpoints/{endpointId}',
      summary: 'Delete an event endpoint: nothing more is sent to it, and its delivery log goes with it',
      tag: 'Events',
      auth: 'company',
      params: EndpointParams,
      response: { status: 200, description: 'The deleted endpoint', schema: EventEndpoint },
      errors: [404],
      handler: async ({ params, auth }) => {
        const current = await load(companyOf(auth), params.endpointId);
        await db.deleteFrom('event_endpoints').where('id', '=', current.id).execute();
        return present(current);
      },
    }),
    defineRoute({
      method: 'delete',
      path: '/v1/event-endpoints/{endpointId}/previous-secret',
      summary: 'End a secret rotation now: the previous secret no longer signs',
      tag: 'Events',
      auth: 'company',
      params: EndpointParams,
      response: { status: 200, description: 'The changed endpoint', schema: EventEndpoint },
      errors: [404, 409],
      handler: async ({ params, auth }) => {
        const current = await load(companyOf(auth), params.endpointId);
        const secrets = secretsOf(current);
        if (previousUntil(secrets) === null) throw new ApiError(409, 'conflict', 'the endpoint has no previous secret that still signs');
        const row = await db
          .updateTable('event_endpoints')
          .set({ secrets_sealed: box.sealJson({ current: secrets.current } satisfies EndpointSecrets), updated_at: new Date() })
          .where('id', '=', current.id)
          .returningAll()
          .executeTakeFirstOrThrow();
        return present(row);
      },
    }),
    defineRoute({
      method: 'get',
      path: '/v1/event-endpoints/{endpointId}/deliveries',
      summary: "The endpoint's delivery log, newest first: every attempt with its status code, error and duration",
      tag: 'Events',
      auth: 'company',
      params: EndpointParams,
      query: DeliveryListQuery,
      response: { status: 200, description: 'Attempts', schema: DeliveryList },
      errors: [404],
      handler: async ({ params, query, auth }) => {
        const endpoint = await load(companyOf(auth), params.endpointId);
        let q = db.selectFrom('event_delivery_attempts').selectAll().where('endpoint_id', '=', endpoint.id);
        if (query.after !== undefined) q = q.where('id', '<', Number(query.after));
        const rows = await q.orderBy('id', 'desc').limit(query.limit + 1).execute();
        const page = rows.slice(0, query.limit);
        return { items: page.map(presentDelivery), nextAfter: rows.length > query.limit ? String(page[page.length - 1]?.id) : null };
      },
    }),
    defineRoute({
      method: 'post',
      path: '/v1/event-endpoints/{endpointId}/events/{eventId}/replay',
      summary: 'Deliver an event to this endpoint again: the same webhook-id, a new timestamp and signature',
      tag: 'Events',
      auth: 'company',
      params: z.object({ endpointId: Uuid, eventId: EventId }),
      response: { status: 202, description: 'Queued behind what is pending for the same booking, session or connection', schema: ReplayAccepted },
      errors: [404, 409],
      handler: async ({ params, auth }) => {
        const companyId = companyOf(auth);
        const endpoint = await load(companyId, params.endpointId);
        if (!endpoint.enabled) throw ApiError.conflict('the endpoint is disabled: enable it to replay events to it');
        found(await recordReplay(db, { eventId: params.eventId, endpointId: endpoint.id, companyId }), 'event');
        return { endpointId: endpoint.id, eventId: params.eventId, status: 'queued' as const };
      },
    }),
    defineRoute({
      method: 'get',
      path: '/v1/events',
      summary: "The company's events, oldest first (recorded while an endpoint took their type)",
      tag: 'Events',
      auth: 'company',
      query: EventListQuery,
      response: { status: 200, description: 'Events', schema: StudioEventList },
      handler: async ({ query, auth }) => {
        let q = db.selectFrom('events').selectAll().where('company_id', '=', companyOf(auth));
        if (query.type !== undefined) q = q.where('type', '=', query.type);
        if (query.after !== undefined) q = q.where('seq', '>', Number(query.after));
        const rows = await q.orderBy('seq').limit(query.limit + 1).execute();
        const page = rows.slice(0, query.limit);
        return { items: page.map(presentEvent), nextAfter: rows.length > query.limit ? String(page[page.length - 1]?.seq) : null };
      },
    }),
  ];
}
