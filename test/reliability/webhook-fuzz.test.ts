/**
 * Property-based fuzzing of every aggregator's webhook body, validly signed (so the parser, not the signature check,
 * meets it) and now and then not: whatever comes in, the answer is never a 5xx, and a refused one (4xx) writes
 * nothing. In process against the real Express app on a real PostgreSQL and a real Temporal; no worker polls the
 * task queue, so whatever an accepted event starts waits there and writes nothing behind the next case's back.
 */
import { createHmac, randomUUID } from 'node:crypto';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Client, Connection } from '@temporalio/client';
import fc from 'fast-check';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { Worker } from '@temporalio/worker';
import { signWebhook } from '../../aggregators/partner/signature.js';
import { AGGREGATORS, type Aggregator } from '../../domain/model.js';
import type { Db } from '../../db/index.js';
import { startSandboxWorld, type SandboxWorld } from '../support/sandbox-world.js';
import { ADMIN_KEY, buildApp, createTestDatabase } from '../support/harness.js';

const SHORT = process.env.RELIABILITY_SHORT === '1' || process.argv.includes('--short');
/** Cases per aggregator: 5 × 2,000 = 10,000 in the full run. */
const RUNS = SHORT ? 400 : 2_000;

let db: Db;
let drop: () => Promise<void>;
let connection: Connection;
let server: Server;
let baseUrl: string;
let world: SandboxWorld;
const venues = {} as Record<Aggregator, string>;
const secrets = {} as Record<Aggregator, string>;
const tally: Record<string, Record<string, number>> = {};

beforeAll(async () => {
  const created = await createTestDatabase();
  db = created.db;
  drop = created.drop;
  connection = await Connection.connect({ address: inject('temporalAddress') });
  const taskQueue = `fuzz-nobody-polls-${randomUUID()}`;
  const temporal = { client: new Client({ connection }), taskQueue, worker: undefined as unknown as Worker, stop: () => Promise.resolve() };
  const app = buildApp(db, temporal);
  server = await new Promise((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s));
  });
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  world = await startSandboxWorld();
  const post = async (path: string, key: string, body: unknown) => {
    const res = await fetch(`${baseUrl}${path}`, { method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
    if (res.status !== 201) throw new Error(`${path}: ${res.status} ${await res.text()}`);
    return (await res.json()) as Record<string, unknown>;
  };
  const company = await post('/v1/companies', ADMIN_KEY, { name: 'Fuzz studio' });
  const key = (company.apiKey as { key: string }).key;
  const venue = await post('/v1/venues', key, { name: 'Hall', timeZone: 'Europe/Berlin' });
  for (const aggregator of AGGREGATORS) {
    await post(`/v1/venues/${String(venue.id)}/connections`, key, world.connectionBody(aggregator));
    venues[aggregator] = world.sandboxes[aggregator].connection.externalVenueId;
    secrets[aggregator] = world.sandboxes[aggregator].connection.webhookSecret;
  }
}, 120_000);

afterAll(async () => {
  const lines = Object.entries(tally).map(([aggregator, statuses]) => `   ${aggregator.padEnd(14)} ${Object.entries(statuses).map(([s, n]) => `${s}: ${n}`).join(', ')}`);
  process.stdout.write(['', `== 8. webhook bodies fuzzed (fast-check, ${RUNS} cases per aggregator, ${RUNS * AGGREGATORS.length} in all): answers by status`, ...lines, ''].join('\n'));
  await new Promise<void>((resolve) => server?.close(() => resolve()));
  await world?.close();
  await connection?.close();
  await drop?.();
}, 60_000);

/** Everything a webhook can write, in one round trip. */
async function written(): Promise<string> {
  const { rows } = await sql<{ counts: string }>`
    SELECT concat_ws(',', (SELECT count(*) FROM webhook_inbox), (SELECT count(*) FROM booking_requests), (SELECT count(*) FROM bookings),
      (SELECT count(*) FROM customers), (SELECT count(*) FROM customer_aggregator_ids)) AS counts`.execute(db);
  return rows[0]!.counts;
}

type Json = Record<string, unknown>;

/** A well-formed event of each kind the aggregator sends, with fresh ids. */
function templates(aggregator: Aggregator): fc.Arbitrary<Json> {
  const id = fc.stringMatching(/^[A-Za-z0-9_.:-]{1,40}$/);
  const member = fc.record({ id, name: fc.string({ minLength: 1, maxLength: 40 }), email: fc.constant('member@example.test') });
  if (aggregator === 'wellhub') {
    return fc
      .record({ type: fc.constantFrom('booking-requested', 'booking-canceled', 'booking-late-canceled', 'checkin-booking-occurred'), number: id, user: id, slot: fc.nat({ max: 10_000 }), eventId: id })
      .map((v) => ({
        event_type: v.type,
        event_data: {
          user: { unique_token: v.user, name: 'Member', email: 'member@example.test' },
          slot: { id: v.slot, gym_id: Number(venues.wellhub), class_id: 1, booking_number: v.number },
          timestamp: Date.now(),
          event_id: v.eventId,
        },
      }));
  }
  return fc.record({ type: fc.constantFrom('booking.requested', 'booking.cancelled', 'booking.checked_in'), eventId: id, booking: id, session: id, activity: id, member }).map((v) => ({
    id: v.eventId,
    type: v.type,
    created_at: new Date().toISOString(),
    data: {
      venue_id: venues[aggregator],
      booking_id: v.booking,
      session_reference: v.session,
      activity_reference: v.activity,
      member: v.member,
      ...(v.type === 'booking.requested' ? { respond_by: new Date(Date.now() + 60_000).toISOString() } : v.type === 'booking.cancelled' ? { late: false } : { checked_in_at: new Date().toISOString() }),
    },
  }));
}

/** Every path to a value in a JSON object (objects and their leaves). */
function paths(value: unknown, prefix: string[] = []): string[][] {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return [prefix];
  return [prefix, ...Object.entries(value as Json).flatMap(([k, v]) => paths(v, [...prefix, k]))];
}

function mutate(body: Json, path: string[], op: 'delete' | 'replace' | 'huge', value: unknown): unknown {
  if (path.length === 0) return op === 'delete' ? {} : op === 'huge' ? 'x'.repeat(6_000) : value;
  const copy = structuredClone(body);
  let target: Json = copy;
  for (const key of path.slice(0, -1)) target = target[key] as Json;
  const last = path[path.length - 1]!;
  if (op === 'delete') delete target[last];
  else target[last] = op === 'huge' ? 'x'.repeat(6_000) : value;
  return copy;
}

/** A raw body: a well-formed event, one with a field removed, replaced by anything or made huge, any JSON, or not JSON. */
function bodies(aggregator: Aggregator): fc.Arbitrary<string> {
  const template = templates(aggregator);
  const mutated = fc
    .tuple(template, fc.nat(), fc.constantFrom('delete' as const, 'replace' as const, 'huge' as const), fc.anything({ maxDepth: 2, withNullPrototype: false }))
    .map(([body, pick, op, value]) => {
      const all = paths(body);
      return JSON.stringify(mutate(body, all[pick % all.length]!, op, value) ?? null);
    });
  return fc.oneof(
    { weight: 2, arbitrary: template.map((b) => JSON.stringify(b)) },
    { weight: 6, arbitrary: mutated },
    { weight: 1, arbitrary: fc.json({ maxDepth: 3 }) },
    { weight: 1, arbitrary: fc.string({ maxLength: 200 }) },
  );
}

function signed(aggregator: Aggregator, raw: Buffer, valid: boolean): Record<string, string> {
  const secret = valid ? secrets[aggregator] : 'not-the-secret';
  if (aggregator === 'wellhub') return { 'x-gympass-signature': createHmac('sha1', secret).update(raw).digest('hex').toUpperCase() };
  return signWebhook(secret, raw, Date.now() / 1000);
}

describe('8. webhook bodies fuzzed', () => {
  for (const aggregator of AGGREGATORS) {
    it(`${aggregator}: no 5xx, and a refused body writes nothing (${RUNS} cases)`, async () => {
      const statuses: Record<string, number> = {};
      tally[aggregator] = statuses;
      let before = await written();
      await fc.assert(
        fc.asyncProperty(bodies(aggregator), fc.integer({ min: 0, max: 9 }).map((n) => n > 0), async (body, validSignature) => {
          const raw = Buffer.from(body);
          const res = await fetch(`${baseUrl}/webhooks/${aggregator}`, {
            method: 'POST',
            headers: { 'content-type': 'application/json', ...signed(aggregator, raw, validSignature) },
            body: raw,
          });
          await res.arrayBuffer();
          statuses[res.status] = (statuses[res.status] ?? 0) + 1;
          const after = await written();
          const changed = after !== before;
          before = after;
          expect(res.status).toBeLessThan(500);
          if (res.status >= 400) expect(changed, `a ${res.status} wrote rows: ${body.slice(0, 300)}`).toBe(false);
        }),
        { numRuns: RUNS },
      );
    });
  }
});
