import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createStudioEventActivities } from '../../activities/studio-events.js';
import type { Db } from '../../db/index.js';
import { recordEvent } from '../../db/studio-events.js';
import { orderingKey } from '../../domain/studio-events.js';
import { SecretBox } from '../../lib/secrets.js';
import { newSigningSecret } from '../../lib/standard-webhooks.js';
import { SECRETS_KEY, activitiesDeps, createTestDatabase } from '../support/harness.js';

/**
 * One delivery attempt (the activity, called directly) against receivers that misbehave over real HTTP: an endless
 * error body, a throttle with Retry-After, a redirect, a disabled endpoint. The ledger is a real PostgreSQL.
 */
let db: Db;
let drop: () => Promise<void>;
let server: http.Server;
let base: string;
const hits: Record<string, number> = {};
/** How much of the endless body the server had written when the attempt hung up. */
let hugeSent = 0;

beforeAll(async () => {
  ({ db, drop } = await createTestDatabase());
  server = http.createServer((req, res) => {
    const path = req.url ?? '/';
    hits[path] = (hits[path] ?? 0) + 1;
    req.resume();
    if (path === '/huge') {
      // 50 MB of error page, streamed: the attempt keeps 4 kB and hangs up.
      res.writeHead(500, { 'content-type': 'text/html' });
      const chunk = Buffer.alloc(64 * 1024, 'x');
      let sent = 0;
      const pump = () => {
        while (sent < 50 * 1024 * 1024) {
          sent += chunk.length;
          if (!res.write(chunk)) {
            res.once('drain', pump);
            return;
          }
        }
        res.end();
      };
      res.on('close', () => {
        hugeSent = sent;
        res.removeAllListeners('drain');
      });
      pump();
      return;
    }
    if (path === '/throttle') {
      res.writeHead(429, { 'retry-after': '120' }).end('slow down');
      return;
    }
    if (path === '/moved') {
      res.writeHead(301, { location: `${base}/target` }).end();
      return;
    }
    res.writeHead(204).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  server?.closeAllConnections();
  await new Promise<void>((resolve) => server?.close(() => resolve()));
  await drop?.();
});

async function dispatchTo(path: string, enabled = true) {
  const company = await db.insertInto('companies').values({ name: 'Attempts' }).returning('id').executeTakeFirstOrThrow();
  const endpoint = await db
    .insertInto('event_endpoints')
    .values({ company_id: company.id, url: `${base}${path}`, enabled, event_types: ['booking.reserved'], secrets_sealed: new SecretBox(SECRETS_KEY).sealJson({ current: newSigningSecret() }) })
    .returning('id')
    .executeTakeFirstOrThrow();
  if (!enabled) await db.updateTable('event_endpoints').set({ enabled: true }).where('id', '=', endpoint.id).execute();
  await recordEvent(db, { companyId: company.id, type: 'booking.reserved', orderingKey: orderingKey('booking', company.id), data: {} });
  if (!enabled) await db.updateTable('event_endpoints').set({ enabled: false }).where('id', '=', endpoint.id).execute();
  const dispatch = await db.selectFrom('event_dispatches').select('id').where('endpoint_id', '=', endpoint.id).executeTakeFirstOrThrow();
  return { endpointId: endpoint.id, dispatchId: dispatch.id };
}

const acts = () => createStudioEventActivities(activitiesDeps(db));
const log = (endpointId: string) => db.selectFrom('event_delivery_attempts').selectAll().where('endpoint_id', '=', endpointId).execute();

describe('one delivery attempt', () => {
  it('keeps a summary of an endless error body, not the body', async () => {
    const { endpointId, dispatchId } = await dispatchTo('/huge');
    const started = Date.now();
    const result = await acts().deliverEvent({ dispatchId, attempt: 1 });
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(result).toMatchObject({ outcome: 'failed', statusCode: 500 });
    const [row] = await log(endpointId);
    expect(row?.error?.startsWith('HTTP 500: x')).toBe(true);
    expect(row?.error?.length).toBeLessThanOrEqual(200);
    // The attempt hung up early: the server never got to write most of it.
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(hugeSent).toBeGreaterThan(0);
    expect(hugeSent).toBeLessThan(20 * 1024 * 1024);
  });

  it("honours a 429's Retry-After and follows no redirect", async () => {
    const throttled = await dispatchTo('/throttle');
    expect(await acts().deliverEvent({ dispatchId: throttled.dispatchId, attempt: 1 })).toMatchObject({ outcome: 'failed', statusCode: 429, retryAfterMs: 120_000 });
    const moved = await dispatchTo('/moved');
    expect(await acts().deliverEvent({ dispatchId: moved.dispatchId, attempt: 1 })).toMatchObject({ outcome: 'failed', statusCode: 301 });
    expect(hits['/target']).toBeUndefined();
  });

  it('delivers once: a second run of the step sends nothing; a disabled endpoint gets nothing', async () => {
    const ok = await dispatchTo('/ok');
    expect(await acts().deliverEvent({ dispatchId: ok.dispatchId, attempt: 1 })).toEqual({ outcome: 'delivered', statusCode: 204 });
    expect(await acts().deliverEvent({ dispatchId: ok.dispatchId, attempt: 1 })).toEqual({ outcome: 'skipped' });
    expect(hits['/ok']).toBe(1);
    const off = await dispatchTo('/off', false);
    expect(await acts().deliverEvent({ dispatchId: off.dispatchId, attempt: 1 })).toEqual({ outcome: 'skipped' });
    expect(hits['/off']).toBeUndefined();
    expect((await db.selectFrom('event_dispatches').select('status').where('id', '=', off.dispatchId).executeTakeFirstOrThrow()).status).toBe('cancelled');
  });
});
