/**
 * What every benchmark seeds first, through the API: a company, one venue, and an active connection per aggregator
 * with its sandbox's credentials (checked to call that sandbox), the sandboxes' webhooks pointed at the API.
 */
import { AGGREGATORS, type Aggregator } from '../domain/model.js';
import { Api, putJson } from './http.js';
import { partnerVenue, VENUE_TIME_ZONE, WELLHUB_GYM } from './sandbox-views.js';
import type { Stack } from './stack.js';

export interface Studio {
  /** The API with the company's own key. */
  api: Api;
  venueId: string;
  connectionIds: Record<Aggregator, string>;
}

export async function seedStudio(stack: Stack, companyName: string): Promise<Studio> {
  const admin = new Api(stack.apiUrl, stack.adminKey);
  const created = await admin.call<{ apiKey: { key: string } }>('POST', '/v1/companies', { name: companyName });
  const api = admin.withKey(created.apiKey.key);
  const venue = await api.call<{ id: string }>('POST', '/v1/venues', { name: 'Bench hall', timeZone: VENUE_TIME_ZONE });
  const connectionIds = {} as Record<Aggregator, string>;
  for (const aggregator of AGGREGATORS) {
    const wellhub = aggregator === 'wellhub';
    const connection = await api.call<{ id: string; effectiveApiBaseUrl: string }>('POST', `/v1/venues/${venue.id}/connections`, {
      aggregator,
      status: 'active',
      externalVenueId: wellhub ? WELLHUB_GYM : partnerVenue(aggregator),
      settings: wellhub ? { productId: 1 } : {},
      credentials: { apiToken: `${aggregator}-sandbox-token`, webhookSecret: `${aggregator}-sandbox-secret` },
    });
    if (connection.effectiveApiBaseUrl !== stack.sandboxUrls[aggregator]) {
      throw new Error(`the ${aggregator} connection calls ${connection.effectiveApiBaseUrl}, not the sandbox at ${stack.sandboxUrls[aggregator]}`);
    }
    connectionIds[aggregator] = connection.id;
  }
  // The service points the sandboxes' webhooks at its API when it starts them; say so explicitly all the same.
  for (const aggregator of AGGREGATORS) await putJson(`${stack.sandboxUrls[aggregator]}/__sandbox/webhook`, { url: `${stack.apiUrl}/webhooks/${aggregator}` });
  return { api, venueId: venue.id, connectionIds };
}
