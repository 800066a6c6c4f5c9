import type { AggregatorEndpoints } from '../aggregators/registry.js';
import type { ConnectionContext } from '../aggregators/types.js';
import type { Connection } from '../db/schema.js';
import type { Aggregator } from '../domain/model.js';
import { openCredentials, type SecretBox } from '../lib/secrets.js';

/** What an adapter needs to call the aggregator for one connection; the secrets are opened in memory only. */
export function connectionContext(
  deps: { secretBox: SecretBox; endpoints: AggregatorEndpoints },
  connection: Pick<Connection, 'id' | 'aggregator' | 'external_venue_id' | 'api_base_url' | 'credentials_sealed' | 'settings'>,
): ConnectionContext {
  return {
    connectionId: connection.id,
    externalVenueId: connection.external_venue_id ?? '',
    baseUrl: deps.endpoints.baseUrlFor(connection.aggregator as Aggregator, connection.api_base_url),
    credentials: openCredentials(deps.secretBox, connection.credentials_sealed),
    settings: connection.settings,
  };
}
