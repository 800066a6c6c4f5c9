import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EventDeliveryControl, EventLane } from '../../api/clients/studio-events.js';
import { startEventRelay } from '../../api/event-relay.js';
import type { Db } from '../../db/index.js';
import { recordEvent } from '../../db/studio-events.js';
import { orderingKey } from '../../domain/studio-events.js';
import { SecretBox } from '../../lib/secrets.js';
import { newSigningSecret } from '../../lib/standard-webhooks.js';
import { SECRETS_KEY, createTestDatabase, logger } from '../support/harness.js';

/**
 * The event relay on a real PostgreSQL, with the Temporal side replaced by a control that fails or records: nothing
 * is lost while Temporal is away, and several relays (API processes) wake each lane once per claim.
 */
let db: Db;
let drop: () => Promise<void>;
beforeAll(async () => {
  ({ db, drop } = await createTestDatabase());
});
afterAll(async () => {
  await drop?.();
});

async function seedLanes(lanes: number) {
  const company = await db.insertInto('companies').values({ name: 'Relay studio' }).returning('id').executeTakeFirstOrThrow();
  const endpoint = await db
    .insertInto('event_endpoints')
    .values({ company_id: company.id, url: 'http://127.0.0.1:9/', event_types: ['booking.reserved'], secrets_sealed: new SecretBox(SECRETS_KEY).sealJson({ current: newSigningSecret() }) })
    .returning('id')
    .executeTakeFirstOrThrow();
  const keys = Array.from({ length: lanes }, () => orderingKey('booking', randomUUID()));
  for (const key of keys) {
    await recordEvent(db, { companyId: company.id, type: 'booking.reserved', orderingKey: key, data: {} });
    await recordEvent(db, { companyId: company.id, type: 'booking.reserved', orderingKey: key, data: {} });
  }
  return { endpointId: endpoint.id, keys };
}

const dispatches = (endpointId: string) =>
  db.selectFrom('event_dispatches').select(['id', 'ordering_key', 'handed_over_at', 'due_at', 'last_handover_error']).where('endpoint_id', '=', endpointId).orderBy('id').execute();

function recording(delayMs = 0): EventDeliveryControl & { woken: EventLane[] } {
  const woken: EventLane[] = [];
  return {
    woken,
    async wake(lane) {
      await new Promise((resolve) => setTimeout(resolve, delayMs));
      woken.push(lane);
    },
  };
}

describe('the event relay', () => {
  it('keeps every dispatch while Temporal refuses, with backoff, then hands each lane over once it answers', async () => {
    const { endpointId, keys } = await seedLanes(2);
    const down: EventDeliveryControl = {
      wake: () => Promise.reject(new Error('14 UNAVAILABLE: connection refused')),
    };
    const failing = startEventRelay({ db, control: down, logger, intervalMs: 3_600_000 });
    expect(await failing.tick()).toBe(0);
    await failing.stop();
    const postponed = await dispatches(endpointId);
    expect(postponed).toHaveLength(4);
    expect(postponed.every((d) => d.handed_over_at === null && d.last_handover_error?.includes('UNAVAILABLE') === true)).toBe(true);
    expect(postponed.every((d) => d.due_at.getTime() > Date.now())).toBe(true);

    const up = recording();
    const relay = startEventRelay({ db, control: up, logger, intervalMs: 3_600_000 });
    expect(await relay.tick()).toBe(0); // still backing off
    await db.updateTable('event_dispatches').set({ due_at: sql`now()` }).where('endpoint_id', '=', endpointId).execute();
    expect(await relay.tick()).toBe(4);
    expect(up.woken.map((l) => l.orderingKey).sort()).toEqual([...keys].sort());
    expect((await dispatches(endpointId)).every((d) => d.handed_over_at !== null)).toBe(true);
    expect(await relay.tick()).toBe(0);

    // A lane whose workflow went away (no attempt for 20 minutes) is handed over again by the sweep.
    await db.updateTable('event_dispatches').set({ handed_over_at: sql`now() - interval '1 hour'` }).where('ordering_key', '=', keys[0] as string).execute();
    expect(await relay.sweep()).toBe(2);
    expect(await relay.tick()).toBe(2);
    expect(up.woken.map((l) => l.orderingKey)).toEqual([...up.woken.slice(0, 2).map((l) => l.orderingKey), keys[0]]);
    await relay.stop();
  });

  it('several relays (API processes) claiming at once hand each dispatch over once: each lane woken once', async () => {
    const { keys } = await seedLanes(20);
    const controls = [recording(5), recording(5), recording(5)];
    const relays = controls.map((control) => startEventRelay({ db, control, logger, intervalMs: 3_600_000 }));
    const handed = await Promise.all(relays.map((r) => r.tick()));
    expect(handed.reduce((a, b) => a + b, 0)).toBe(40);
    const woken = controls.flatMap((c) => c.woken.map((l) => l.orderingKey));
    expect(woken.sort()).toEqual([...keys].sort());
    await Promise.all(relays.map((r) => r.stop()));
  });

  it('deletes, at the sweep, events past the retention with their dispatches and delivery log, and keeps newer ones and any still pending', async () => {
    const { endpointId, keys } = await seedLanes(3);
    const [oldDone, oldPending, recent] = keys as [string, string, string];
    const rows = await db.selectFrom('event_dispatches').select(['id', 'event_id', 'ordering_key']).where('endpoint_id', '=', endpointId).execute();
    const eventsOf = (key: string) => rows.filter((r) => r.ordering_key === key).map((r) => r.event_id);
    // Two lanes 40 days old: one delivered (with its delivery log), one still pending; the third lane is new.
    await db.updateTable('events').set({ created_at: sql`now() - interval '40 days'` }).where('id', 'in', [...eventsOf(oldDone), ...eventsOf(oldPending)]).execute();
    await db.updateTable('event_dispatches').set({ status: 'delivered', finished_at: sql`now() - interval '40 days'` }).where('ordering_key', 'in', [oldDone, recent]).execute();
    const delivered = rows.filter((r) => r.ordering_key === oldDone);
    await db
      .insertInto('event_delivery_attempts')
      .values(delivered.map((d) => ({ dispatch_id: d.id, endpoint_id: endpointId, event_id: d.event_id, event_type: 'booking.reserved', attempt: 1, outcome: 'delivered', status_code: 200 })))
      .execute();

    const relay = startEventRelay({ db, control: recording(), logger, intervalMs: 3_600_000, retentionMs: 30 * 86_400_000 });
    await relay.sweep();
    await relay.stop();
    const left = await db.selectFrom('events').select('id').where('id', 'in', rows.map((r) => r.event_id)).execute();
    expect(left.map((e) => e.id).sort()).toEqual([...eventsOf(oldPending), ...eventsOf(recent)].sort());
    expect(await db.selectFrom('event_dispatches').select('id').where('ordering_key', '=', oldDone).execute()).toEqual([]);
    expect(await db.selectFrom('event_delivery_attempts').select('id').where('endpoint_id', '=', endpointId).execute()).toEqual([]);
  });
});
