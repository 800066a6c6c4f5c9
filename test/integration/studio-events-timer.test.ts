import { randomUUID } from 'node:crypto';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, inject, it } from 'vitest';
import { createActivities } from '../../activities/index.js';
import { temporalEventDeliveryControl } from '../../api/clients/studio-events.js';
import type { Db } from '../../db/index.js';
import { recordEvent } from '../../db/studio-events.js';
import { DELIVERY_GIVE_UP_AFTER_MS, orderingKey } from '../../domain/studio-events.js';
import { SecretBox } from '../../lib/secrets.js';
import { newSigningSecret } from '../../lib/standard-webhooks.js';
import { workflowIds } from '../../workflows/ids.js';
import { startEventReceiver, type EventReceiver } from '../support/event-receiver.js';
import { SECRETS_KEY, activitiesDeps, createTestDatabase, eventually, startTimeSkipping } from '../support/harness.js';

/**
 * Delivery over hours and days, on the time-skipping test server: the delivery workflow paces its attempts with
 * timers on the server's clock, which these tests skip through (never waited for, never shortened). The receiver is a
 * real HTTP server verifying every signature; the attempts' HTTP calls and the ledger are real.
 */
let env: TestWorkflowEnvironment;
let db: Db;
let drop: () => Promise<void>;
let receiver: EventReceiver;

beforeAll(async () => {
  ({ db, drop } = await createTestDatabase());
});
beforeEach(async () => {
  env = await startTimeSkipping();
  receiver = await startEventReceiver();
});
afterEach(async () => {
  await receiver?.close();
  await env?.teardown();
});
afterAll(async () => {
  await drop?.();
});

const HOUR = 3_600_000;

/** A company with one endpoint (the receiver, holding its secret) and `n` events of one booking recorded in order. */
async function seed(n: number) {
  const company = await db.insertInto('companies').values({ name: 'Studio Ost' }).returning('id').executeTakeFirstOrThrow();
  const secret = newSigningSecret();
  receiver.secrets.push(secret);
  const endpoint = await db
    .insertInto('event_endpoints')
    .values({ company_id: company.id, url: receiver.url, event_types: ['booking.reserved', 'booking.cancelled'], secrets_sealed: new SecretBox(SECRETS_KEY).sealJson({ current: secret }) })
    .returning('id')
    .executeTakeFirstOrThrow();
  const key = orderingKey('booking', randomUUID());
  const ids: string[] = [];
  for (let i = 0; i < n; i += 1) {
    const id = await recordEvent(db, { companyId: company.id, type: i % 2 === 0 ? 'booking.reserved' : 'booking.cancelled', orderingKey: key, data: { n: i } });
    ids.push(id as string);
  }
  return { companyId: company.id, endpointId: endpoint.id, orderingKey: key, ids };
}

const attemptsOf = (eventId: string) =>
  db.selectFrom('event_delivery_attempts').selectAll().where('event_id', '=', eventId).orderBy('id').execute();

async function withWorker(run: (taskQueue: string) => Promise<void>): Promise<void> {
  const taskQueue = `events-timer-${randomUUID()}`;
  const worker = await Worker.create({
    connection: env.nativeConnection,
    taskQueue,
    workflowBundle: { codePath: inject('workflowBundlePath') },
    activities: createActivities(activitiesDeps(db)),
  });
  await worker.runUntil(run(taskQueue));
}

describe('event delivery over hours (time-skipping server)', () => {
  it('a receiver down for hours gets every event, in order, each once, within 10 minutes of coming back', async () => {
    const { companyId, endpointId, orderingKey, ids } = await seed(3);
    receiver.mode = 'refuse';
    await withWorker(async (taskQueue) => {
      await temporalEventDeliveryControl(env.client, { taskQueue }).wake({ companyId, endpointId, orderingKey });
      await env.sleep(5 * HOUR);
      const tried = await attemptsOf(ids[0] as string);
      // 1 s doubling to 10 minutes: about 37 attempts in 5 hours, all failed; the later events wait their turn.
      expect(tried.length).toBeGreaterThanOrEqual(30);
      expect(tried.length).toBeLessThanOrEqual(45);
      expect(tried.every((a) => a.outcome === 'failed' && a.status_code === null)).toBe(true);
      expect((await attemptsOf(ids[1] as string)).length).toBe(0);
      expect(receiver.accepted).toHaveLength(0);

      receiver.mode = 'ok';
      await env.sleep(10 * 60_000 + 1_000);
      await eventually(() => Promise.resolve(receiver.accepted.length >= 3 ? true : undefined), 20_000, 'all three delivered');
      expect(receiver.accepted.map((e) => e.id)).toEqual(ids);
      expect(receiver.accepted.map((e) => e.body.data.n)).toEqual([0, 1, 2]);
      expect(receiver.forged()).toBe(0);
      const dispatches = await db.selectFrom('event_dispatches').select(['event_id', 'status']).where('endpoint_id', '=', endpointId).orderBy('id').execute();
      expect(dispatches.map((d) => d.status)).toEqual(['delivered', 'delivered', 'delivered']);
      // Every attempt of the first event carried its one webhook-id.
      expect(new Set(receiver.requests.filter((r) => r.id === ids[0]).map((r) => r.id)).size).toBe(1);
      // The lane's workflow ends once idle.
      const handle = env.client.workflow.getHandle(workflowIds.eventDelivery(endpointId, orderingKey));
      await env.sleep(2 * 60_000);
      await eventually(async () => ((await handle.describe()).status.name === 'COMPLETED' ? true : undefined), 20_000, 'the lane ends when idle');
    });
  }, 180_000);

  it('gives up after three days, records it in the delivery log, and delivers the next event of the lane', async () => {
    const { companyId, endpointId, orderingKey, ids } = await seed(2);
    receiver.mode = 'error';
    await withWorker(async (taskQueue) => {
      await temporalEventDeliveryControl(env.client, { taskQueue }).wake({ companyId, endpointId, orderingKey });
      await env.sleep(DELIVERY_GIVE_UP_AFTER_MS - HOUR);
      expect((await db.selectFrom('event_dispatches').select('status').where('event_id', '=', ids[0] as string).executeTakeFirstOrThrow()).status).toBe('pending');
      await env.sleep(2 * HOUR);
      const first = await eventually(async () => {
        const rows = await attemptsOf(ids[0] as string);
        return rows.at(-1)?.outcome === 'gave_up' ? rows : undefined;
      }, 30_000, 'the give-up');
      const gaveUp = first.at(-1);
      expect(gaveUp?.error).toMatch(/^gave up after \d+ attempts over 3 days; last: HTTP 500/);
      expect(first.length).toBeGreaterThan(400);
      expect((await db.selectFrom('event_dispatches').select('status').where('event_id', '=', ids[0] as string).executeTakeFirstOrThrow()).status).toBe('failed');
      // The next event of the lane is tried only after the give-up.
      const second = await attemptsOf(ids[1] as string);
      expect(second.length).toBeGreaterThan(0);
      expect(Number(second[0]?.id)).toBeGreaterThan(Number(gaveUp?.id));
      // The runs continued as new: no history grows with the days of retries.
      const { events } = await env.client.workflow.getHandle(workflowIds.eventDelivery(endpointId, orderingKey)).fetchHistory();
      expect(events?.length ?? 0).toBeLessThan(1_500);
    });
  }, 300_000);
});
