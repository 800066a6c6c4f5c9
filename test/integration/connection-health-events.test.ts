import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Db } from '../../db/index.js';
import { recordConnectionHealth } from '../../db/lifecycle-sync.js';
import { SecretBox } from '../../lib/secrets.js';
import { newSigningSecret } from '../../lib/standard-webhooks.js';
import { SECRETS_KEY, createTestDatabase } from '../support/harness.js';
import { seedActivity } from '../support/seed.js';

/**
 * `connection.failing` / `connection.recovered` on a real PostgreSQL: the sync reports each call's outcome, and each
 * transition is announced once, however many lanes report at once (the connection's row lock orders them).
 */
let db: Db;
let drop: () => Promise<void>;
beforeAll(async () => {
  ({ db, drop } = await createTestDatabase());
});
afterAll(async () => {
  await drop?.();
});

async function connectionWithEndpoint() {
  const { companyId, venueId } = await seedActivity(db);
  const connection = await db
    .insertInto('connections')
    .values({ company_id: companyId, venue_id: venueId, aggregator: 'wellhub', status: 'active', external_venue_id: randomUUID(), api_base_url: null, settings: '{}', credentials_sealed: null })
    .returning('id')
    .executeTakeFirstOrThrow();
  const endpoint = await db
    .insertInto('event_endpoints')
    .values({ company_id: companyId, url: 'http://127.0.0.1:9/', event_types: ['connection.failing', 'connection.recovered'], secrets_sealed: new SecretBox(SECRETS_KEY).sealJson({ current: newSigningSecret() }) })
    .returning('id')
    .executeTakeFirstOrThrow();
  return { companyId, connectionId: connection.id, endpointId: endpoint.id };
}

const eventsOf = (companyId: string) => db.selectFrom('events').select(['id', 'type', 'ordering_key', 'payload']).where('company_id', '=', companyId).orderBy('seq').execute();
const MIN = 60_000;

describe('connection health events', () => {
  it('failing after five minutes of failures (once, even with lanes reporting at once), recovered at the next success (once)', async () => {
    const { companyId, connectionId, endpointId } = await connectionWithEndpoint();
    const t0 = Date.parse('2026-12-06T10:00:00Z');
    const fail = (offset: number) => recordConnectionHealth(db, connectionId, { ok: false, at: new Date(t0 + offset), error: 'HTTP 503: <b>down</b> apiToken=abcdefghijklmnopqrstuvwxyz123456' });
    await fail(0);
    await fail(2 * MIN);
    expect(await eventsOf(companyId)).toEqual([]);
    await Promise.all([fail(5 * MIN), fail(5 * MIN + 1), fail(6 * MIN), fail(6 * MIN + 5)]);
    await fail(30 * MIN);
    let events = await eventsOf(companyId);
    expect(events.map((e) => e.type)).toEqual(['connection.failing']);
    expect(events[0]?.ordering_key).toBe(`connection:${connectionId}`);
    const failing = events[0]?.payload as { data: { connectionId: string; aggregator: string; failingSince: string; lastError: string } };
    expect(failing.data).toMatchObject({ connectionId, aggregator: 'wellhub', failingSince: new Date(t0).toISOString() });
    expect(failing.data.lastError).not.toMatch(/<b>|abcdefghijklmnopqrstuvwxyz/);
    const row = await db.selectFrom('connections').select(['first_failure_at', 'failing_since']).where('id', '=', connectionId).executeTakeFirstOrThrow();
    expect(row.failing_since?.getTime()).toBe(t0);

    await Promise.all([1, 2, 3].map(() => recordConnectionHealth(db, connectionId, { ok: true, at: new Date(t0 + 40 * MIN) })));
    await recordConnectionHealth(db, connectionId, { ok: true, at: new Date(t0 + 41 * MIN) });
    events = await eventsOf(companyId);
    expect(events.map((e) => e.type)).toEqual(['connection.failing', 'connection.recovered']);
    expect((events[1]?.payload as { data: { recoveredAt: string } }).data.recoveredAt).toBe(new Date(t0 + 40 * MIN).toISOString());
    // Each event has one dispatch to the subscribed endpoint, in order.
    const dispatches = await db.selectFrom('event_dispatches').select(['event_id', 'endpoint_id']).where('company_id', '=', companyId).orderBy('id').execute();
    expect(dispatches).toEqual(events.map((e) => ({ event_id: e.id, endpoint_id: endpointId })));

    // A short blip (under five minutes) announces nothing.
    await fail(50 * MIN);
    await fail(53 * MIN);
    await recordConnectionHealth(db, connectionId, { ok: true, at: new Date(t0 + 54 * MIN) });
    expect((await eventsOf(companyId)).length).toBe(2);
  });

  it('records nothing for a company with no endpoint taking the type', async () => {
    const { companyId, connectionId, endpointId } = await connectionWithEndpoint();
    await db.updateTable('event_endpoints').set({ event_types: ['booking.reserved'] }).where('id', '=', endpointId).execute();
    const t0 = Date.now();
    await recordConnectionHealth(db, connectionId, { ok: false, at: new Date(t0) });
    await recordConnectionHealth(db, connectionId, { ok: false, at: new Date(t0 + 10 * MIN) });
    expect(await eventsOf(companyId)).toEqual([]);
    // The transition itself is still kept: the next success clears it.
    expect((await db.selectFrom('connections').select('failing_since').where('id', '=', connectionId).executeTakeFirstOrThrow()).failing_since).not.toBeNull();
  });
});
