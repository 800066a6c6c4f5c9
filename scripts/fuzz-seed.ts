// Seeds a running service through its own API for scripts/schemathesis.sh: a company (admin key), then with the
// company's key a venue, a Wellhub connection, an activity opted in to aggregators (so its lifecycle workflow runs)
// and a session; and a second company, whose key must not reach the first one's data. Prints what it created as
// KEY=value lines, the API keys included (a throw-away instance's).
//
//   FUZZ_BASE_URL=http://127.0.0.1:3000 FUZZ_ADMIN_KEY=... npx tsx scripts/fuzz-seed.ts

const baseUrl = process.env.FUZZ_BASE_URL;
const adminKey = process.env.FUZZ_ADMIN_KEY;

async function call(method: string, path: string, key: string, body: unknown): Promise<Record<string, unknown>> {
  const res = await fetch(`${baseUrl}${path}`, {
    method,
    headers: { Authorization: `Bearer ${key}`, 'Content-Type': 'application/json' },
    body: JSON.stringify(body),
  });
  const text = await res.text();
  if (res.status !== 201) throw new Error(`${method} ${path} answered ${res.status}: ${text}`);
  return JSON.parse(text) as Record<string, unknown>;
}

function field(object: unknown, ...path: string[]): string {
  let current: unknown = object;
  for (const key of path) current = (current as Record<string, unknown> | undefined)?.[key];
  if (typeof current !== 'string') throw new Error(`no ${path.join('.')} in ${JSON.stringify(object)}`);
  return current;
}

async function main(): Promise<void> {
  if (!baseUrl || !adminKey) throw new Error('set FUZZ_BASE_URL and FUZZ_ADMIN_KEY');
  const created = await call('POST', '/v1/companies', adminKey, { name: 'Fuzz Studio' });
  const companyId = field(created, 'company', 'id');
  const key = field(created, 'apiKey', 'key');

  const venue = await call('POST', '/v1/venues', key, { name: 'Fuzz hall', timeZone: 'Europe/Berlin' });
  const venueId = field(venue, 'id');
  // The local Wellhub sandbox's own credentials (the connection has no apiBaseUrl, so its calls go to the sandbox).
  const connection = await call('POST', `/v1/venues/${venueId}/connections`, key, {
    aggregator: 'wellhub',
    status: 'active',
    externalVenueId: '1',
    settings: { productId: 1 },
    credentials: { apiToken: 'wellhub-sandbox-token', webhookSecret: 'wellhub-sandbox-secret' },
  });
  const activity = await call('POST', '/v1/activities', key, {
    venueId,
    name: 'Fuzz yoga',
    maxParticipants: 10,
    registrationRules: { allowAggregatorBookings: true },
  });
  const activityId = field(activity, 'id');
  const session = await call('POST', `/v1/activities/${activityId}/sessions`, key, {
    startsAt: '2031-06-02T18:00:00+02:00',
    durationMinutes: 60,
    room: 'Studio 1',
  });

  const customer = await call('POST', '/v1/customers', key, { name: 'Fuzz Member', aggregatorIds: { wellhub: 'fuzz-member-1' } });

  // An endpoint for events (nothing listens there: its deliveries fail and are retried, as with any receiver down).
  const endpoint = await call('POST', '/v1/event-endpoints', key, { url: 'http://127.0.0.1:9/events', eventTypes: ['booking.reserved'] });

  const other = await call('POST', '/v1/companies', adminKey, { name: 'Fuzz Rival Studio' });

  const lines = {
    COMPANY_ID: companyId,
    COMPANY_KEY: key,
    OTHER_COMPANY_KEY: field(other, 'apiKey', 'key'),
    VENUE_ID: venueId,
    CONNECTION_ID: field(connection, 'id'),
    ACTIVITY_ID: activityId,
    SESSION_ID: field(session, 'id'),
    CUSTOMER_ID: field(customer, 'id'),
    ENDPOINT_ID: field(endpoint, 'id'),
  };
  process.stdout.write(
    Object.entries(lines)
      .map(([name, value]) => `${name}=${value}\n`)
      .join(''),
  );
}

main().catch((error: unknown) => {
  console.error(`[fuzz-seed] ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
});
