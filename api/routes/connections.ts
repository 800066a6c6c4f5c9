import { outboundGuard } from '../../aggregators/outbound-guard.js';
import type { AggregatorEndpoints } from '../../aggregators/registry.js';
import { findConnection, findVenue } from '../../db/company-scope.js';
import type { Db } from '../../db/index.js';
import { forgetRefusals } from '../../db/lifecycle-sync.js';
import type { Aggregator } from '../../domain/model.js';
import type { Selectable } from 'kysely';
import type { ConnectionsTable } from '../../db/schema.js';
import { openCredentials, type ConnectionCredentials, type SecretBox } from '../../lib/secrets.js';
import { companyOf } from '../auth.js';
import type { CancellationControl } from '../clients/session-cancellation.js';
import { wakeConnectionBranches } from './cancellations.js';
import type { LifecycleSignals } from '../lifecycle-relay.js';
import { ApiError, found, ruleViolation } from '../errors.js';
import { defineRoute, type AnyRoute } from '../route.js';
import { listOf, Uuid } from '../schemas.js';
import { Connection, CreateConnectionBody, presentConnection, UpdateConnectionBody } from './connections.schemas.js';
import { z } from '../zod.js';

export function connectionRoutes(
  db: Db,
  box: SecretBox,
  endpoints: AggregatorEndpoints,
  lifecycle: LifecycleSignals,
  cancellations?: CancellationControl,
): AnyRoute[] {
  /** A connection's status, ids or credentials decide what its aggregator receives: every offered activity syncs again. */
  async function notifyVenue(connection: { id: string; venue_id: string }) {
    const offered = await db
      .selectFrom('activities')
      .select(['id', 'company_id', 'venue_id'])
      .where('venue_id', '=', connection.venue_id)
      .where('allow_aggregator_bookings', '=', true)
      .execute();
    await Promise.all(
      offered.map((a) =>
        lifecycle.notifyChange({ companyId: a.company_id, venueId: a.venue_id, activityId: a.id }, { kind: 'connection', id: connection.id }),
      ),
    );
  }

  const present = (row: Selectable<ConnectionsTable>) => {
    const creds = openCredentials(box, row.credentials_sealed);
    const secretsSet = {
      apiToken: creds.apiToken !== undefined,
      webhookSecret: creds.webhookSecret !== undefined,
      previousWebhookSecret: creds.previousWebhookSecret !== undefined,
    };
    return presentConnection(row, secretsSet, endpoints.baseUrlFor(row.aggregator as Aggregator, row.api_base_url));
  };

  /**
   * The secrets after a change: a new `webhookSecret` replaces the current one and drops any previous one, unless
   * `keepPreviousWebhookSecret` keeps the current one as the previous (sending the current secret again keeps the
   * previous one as it is, so a retried rotation changes nothing).
   */
  function changedCredentials(stored: ConnectionCredentials, change: CredentialsInput): ConnectionCredentials {
    const { keepPreviousWebhookSecret, ...secrets } = change;
    const next: ConnectionCredentials = { ...stored, ...secrets };
    if (secrets.webhookSecret !== undefined) {
      const previous = keepPreviousWebhookSecret
        ? stored.webhookSecret === secrets.webhookSecret
          ? stored.previousWebhookSecret
          : stored.webhookSecret
        : undefined;
      if (previous === undefined) delete next.previousWebhookSecret;
      else next.previousWebhookSecret = previous;
    }
    return next;
  }
  const ConnectionParams = z.object({ connectionId: Uuid });

  /**
   * The worker will call this URL with the connection's token: it must be a host the outbound guard lets the
   * service reach (in production https, public addresses only, unless allow-listed). Checked before anything is
   * written; every call checks again, since what a name resolves to can change.
   */
  async function checkApiBaseUrl(url: string | null | undefined): Promise<void> {
    if (url === undefined || url === null) return;
    const refusal = await outboundGuard().refusal(url);
    if (refusal !== undefined) throw ruleViolation([{ location: 'body', path: 'apiBaseUrl', message: refusal }]);
  }

  return [
    defineRoute({
      method: 'post',
      path: '/v1/venues/{venueId}/connections',
      summary: 'Connect a venue to an aggregator',
      tag: 'Connections',
      auth: 'company',
      params: z.object({ venueId: Uuid }),
      body: CreateConnectionBody,
      response: { status: 201, description: 'Created', schema: Connection },
      errors: [404, 409, 422],
      location: (c) => `/v1/connections/${c.id}`,
      handler: async ({ params, body, auth }) => {
        const venue = found(await findVenue(db, companyOf(auth), params.venueId), 'venue');
        const existing = await db
          .selectFrom('connections')
          .select('id')
          .where('venue_id', '=', venue.id)
          .where('aggregator', '=', body.aggregator)
          .executeTakeFirst();
        if (existing) throw ApiError.conflict(`the venue already has a ${body.aggregator} connection`, { connectionId: existing.id });
        await checkApiBaseUrl(body.apiBaseUrl);
        // A new connection holds no secret yet: keepPreviousWebhookSecret has nothing to keep.
        const credentials = changedCredentials({}, body.credentials ?? {});
        const row = await db
          .insertInto('connections')
          .values({
            company_id: venue.company_id,
            venue_id: venue.id,
            aggregator: body.aggregator,
            status: body.status,
            external_venue_id: body.externalVenueId ?? null,
            api_base_url: body.apiBaseUrl ?? null,
            settings: JSON.stringify(body.settings),
            credentials_sealed: Object.keys(credentials).length > 0 ? box.sealJson(credentials) : null,
          })
          .returningAll()
          .executeTakeFirstOrThrow();
        await notifyVenue(row);
        return present(row);
      },
    }),
    defineRoute({
      method: 'get',
      path: '/v1/venues/{venueId}/connections',
      summary: "List a venue's aggregator connections",
      tag: 'Connections',
      auth: 'company',
      params: z.object({ venueId: Uuid }),
      response: { status: 200, description: 'Connections', schema: listOf(Connection, 'ConnectionList') },
      errors: [404],
      handler: async ({ params, auth }) => {
        const venue = found(await findVenue(db, companyOf(auth), params.venueId), 'venue');
        const rows = await db.selectFrom('connections').selectAll().where('venue_id', '=', venue.id).orderBy('aggregator').execute();
        return { items: rows.map(present) };
      },
    }),
    defineRoute({
      method: 'get',
      path: '/v1/connections/{connectionId}',
      summary: 'Read a connection (secrets are reported as set or not, never returned)',
      tag: 'Connections',
      auth: 'company',
      params: ConnectionParams,
      response: { status: 200, description: 'The connection', schema: Connection },
      errors: [404],
      handler: async ({ params, auth }) => present(found(await findConnection(db, companyOf(auth), params.connectionId), 'connection')),
    }),
    defineRoute({
      method: 'patch',
      path: '/v1/connections/{connectionId}',
      summary: 'Change a connection: status, ids, settings, or rotate its secrets',
      tag: 'Connections',
      auth: 'company',
      params: ConnectionParams,
      body: UpdateConnectionBody,
      response: { status: 200, description: 'The changed connection', schema: Connection },
      errors: [404, 409, 422],
      handler: async ({ params, body, auth }) => {
        const current = found(await findConnection(db, companyOf(auth), params.connectionId), 'connection');
        await checkApiBaseUrl(body.apiBaseUrl);
        const credentials = body.credentials
          ? changedCredentials(openCredentials(box, current.credentials_sealed), body.credentials)
          : undefined;
        const row = await db.transaction().execute(async (trx) => {
          const changed = await trx
            .updateTable('connections')
            .set({
              ...(body.status !== undefined ? { status: body.status } : {}),
              ...(body.externalVenueId !== undefined ? { external_venue_id: body.externalVenueId } : {}),
              ...(body.apiBaseUrl !== undefined ? { api_base_url: body.apiBaseUrl } : {}),
              ...(body.settings !== undefined ? { settings: JSON.stringify(body.settings) } : {}),
              ...(credentials !== undefined ? { credentials_sealed: box.sealJson(credentials) } : {}),
              updated_at: new Date(),
            })
            .where('id', '=', current.id)
            .returningAll()
            .executeTakeFirstOrThrow();
          // What the aggregator refused for good under the old ids, settings, URL or credentials is sent again.
          if (body.externalVenueId !== undefined || body.apiBaseUrl !== undefined || body.settings !== undefined || credentials !== undefined) {
            await forgetRefusals(trx, changed.id);
          }
          return changed;
        });
        await notifyVenue(row);
        // New credentials (or URL) may be what its waiting cancellation branches need: they retry now.
        if (cancellations) await wakeConnectionBranches(db, cancellations, row.id);
        return present(row);
      },
    }),
    defineRoute({
      method: 'delete',
      path: '/v1/connections/{connectionId}/previous-webhook-secret',
      summary: 'End a webhook secret rotation: the previous webhook secret no longer verifies webhooks',
      tag: 'Connections',
      auth: 'company',
      params: ConnectionParams,
      response: { status: 200, description: 'The changed connection', schema: Connection },
      errors: [404, 409],
      handler: async ({ params, auth }) => {
        const current = found(await findConnection(db, companyOf(auth), params.connectionId), 'connection');
        const { previousWebhookSecret, ...kept } = openCredentials(box, current.credentials_sealed);
        if (previousWebhookSecret === undefined) {
          throw new ApiError(409, 'conflict', 'the connection holds no previous webhook secret');
        }
        const row = await db
          .updateTable('connections')
          .set({ credentials_sealed: box.sealJson(kept), updated_at: new Date() })
          .where('id', '=', current.id)
          .returningAll()
          .executeTakeFirstOrThrow();
        await notifyVenue(row);
        return present(row);
      },
    }),
  ];
}

type CredentialsInput = NonNullable<z.output<typeof UpdateConnectionBody>['credentials']>;
