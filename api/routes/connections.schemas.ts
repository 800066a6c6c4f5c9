import type { Selectable } from 'kysely';
import type { ConnectionsTable } from '../../db/schema.js';
import { CONNECTION_STATUSES } from '../../domain/model.js';
import { AggregatorSchema, iso, rule, timestamp, Uuid, updateBody } from '../schemas.js';
import { text } from '../text.js';
import { z } from '../zod.js';

const credentials = z
  .object({
    apiToken: text({ max: 4096, trim: false }).optional(),
    webhookSecret: text({ min: 8, max: 4096, trim: false }).optional(),
    keepPreviousWebhookSecret: z
      .boolean()
      .optional()
      .meta({
        description:
          'With a new `webhookSecret`: true keeps the secret held until now as the previous one (both verify webhooks) ' +
          'until it is removed with DELETE /v1/connections/{connectionId}/previous-webhook-secret; without it a new ' +
          '`webhookSecret` replaces the current one and drops any previous one. Needs `webhookSecret`.',
      }),
  })
  .strict()
  .refine(
    (c) => c.keepPreviousWebhookSecret !== true || c.webhookSecret !== undefined,
    rule('keepPreviousWebhookSecret needs a new webhookSecret', ['keepPreviousWebhookSecret']),
  );
const externalVenueId = text({ max: 200 });
const settingKey = text({ min: 0, max: 100, trim: false });
const settings = z
  .record(settingKey, z.union([text({ min: 0, max: 2000, trim: false }), z.number(), z.boolean()]))
  .meta({
    description: 'Product mapping and other non-secret settings, e.g. { "productId": 1 } for Wellhub',
    // zod's records do not describe their keys in the document: the key schema's own JSON Schema does.
    propertyNames: (({ $schema: _schema, ...keySchema }) => keySchema)(z.toJSONSchema(settingKey, { io: 'input' })),
  });
const httpUrl = z
  .url({ protocol: /^https?$/ })
  .max(2000)
  .meta({
    description:
      "Base URL of the aggregator's API; default: the adapter's production URL. Refused with 422: a URL with " +
      'credentials (user:password@), or pointing at a link-local or cloud metadata address; in production also a ' +
      'URL that is not https or whose host resolves to a loopback, private or other non-public address, unless ' +
      'the host is listed in the AGGREGATOR_HOST_ALLOWLIST setting.',
  });

export const CreateConnectionBody = z
  .object({
    aggregator: AggregatorSchema,
    status: z.enum(CONNECTION_STATUSES).default('requested'),
    externalVenueId: externalVenueId.optional().meta({ description: "The aggregator's id for the venue (Wellhub gym_id)" }),
    apiBaseUrl: httpUrl.optional(),
    settings: settings.default({}),
    credentials: credentials.optional().meta({ description: 'Write-only: never returned' }),
  })
  .strict()
  .meta({ id: 'CreateConnection' });

export const UpdateConnectionBody = updateBody({
  status: z.enum(CONNECTION_STATUSES).optional(),
  externalVenueId: externalVenueId.nullable().optional(),
  apiBaseUrl: httpUrl.nullable().optional(),
  settings: settings.optional(),
  credentials: credentials.optional(),
}, 'UpdateConnection');

export const Connection = z
  .object({
    id: Uuid,
    venueId: Uuid,
    aggregator: z.string(),
    status: z.enum(CONNECTION_STATUSES),
    externalVenueId: z.string().nullable(),
    apiBaseUrl: z.string().nullable(),
    effectiveApiBaseUrl: z
      .string()
      .meta({ description: 'Where calls for this connection go: its own URL, the configured one, the local sandbox, or production' }),
    settings: z.record(z.string(), z.unknown()),
    credentials: z
      .object({
        apiToken: z.boolean(),
        webhookSecret: z.boolean(),
        previousWebhookSecret: z.boolean().meta({ description: 'A webhook secret kept from a rotation, which still verifies webhooks' }),
      })
      .meta({ description: 'Which secrets are set; their values are never returned' }),
    createdAt: timestamp,
    updatedAt: timestamp,
  })
  .meta({ id: 'Connection' });

/** Secrets are reduced to whether they are set. */
export function presentConnection(
  row: Selectable<ConnectionsTable>,
  secretsSet: { apiToken: boolean; webhookSecret: boolean; previousWebhookSecret: boolean },
  effectiveApiBaseUrl: string,
) {
  return {
    id: row.id,
    venueId: row.venue_id,
    aggregator: row.aggregator,
    status: row.status,
    externalVenueId: row.external_venue_id,
    apiBaseUrl: row.api_base_url,
    effectiveApiBaseUrl,
    settings: row.settings,
    credentials: secretsSet,
    createdAt: iso(row.created_at),
    updatedAt: iso(row.updated_at),
  };
}
