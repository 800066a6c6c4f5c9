import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import request from 'supertest';
import type { Express } from 'express';
import type { Db } from '../../db/index.js';
import { AGGREGATORS, type Aggregator } from '../../domain/model.js';
import { bearer } from './api-fixtures.js';
import { ADMIN_KEY, eventually } from './harness.js';
import { startSandboxWorld, type SandboxWorld } from './sandbox-world.js';

/**
 * A studio whose venue is connected to every aggregator's sandbox, with the service listening on a real port so the
 * sandboxes' webhooks reach it over HTTP: what the booking tests and the bench start from.
 */
export interface BookingWorld {
  world: SandboxWorld;
  baseUrl: string;
  key: string;
  companyId: string;
  venueId: string;
  connectionIds: Record<Aggregator, string>;
  /** Creates an opted-in activity with the rules given and one session per start; waits until all five hold them. */
  offer(options: OfferOptions): Promise<{ activityId: string; sessionIds: string[] }>;
  /** The session's id at the aggregator (Wellhub: the slot id), as published. */
  externalSessionId(aggregator: Aggregator, sessionId: string): Promise<string>;
  close(): Promise<void>;
}

export interface OfferOptions {
  maxParticipants: number;
  registrationRules?: Record<string, unknown>;
  /** Session starts (ISO with offset); default one session tomorrow at 18:00 UTC. */
  starts?: string[];
  aggregators?: readonly Aggregator[];
}

export const tomorrowAt = (hour = 18, days = 1): string => {
  const d = new Date(Date.now() + days * 86_400_000);
  d.setUTCHours(hour, 0, 0, 0);
  return d.toISOString().replace('.000Z', '+00:00');
};

export async function startBookingWorld(app: Express, db: Db, options: { aggregators?: readonly Aggregator[] } = {}): Promise<BookingWorld> {
  const aggregators = options.aggregators ?? AGGREGATORS;
  const server: Server = await new Promise((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s));
  });
  const baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const world = await startSandboxWorld();
  await world.setWebhookBase(baseUrl);

  const company = await request(app).post('/v1/companies').set(bearer(ADMIN_KEY)).send({ name: 'Studio Süd' });
  const key = company.body.apiKey.key as string;
  const companyId = (company.body.company as { id: string }).id;
  const venue = await request(app).post('/v1/venues').set(bearer(key)).send({ name: 'Main hall', timeZone: 'Europe/Berlin' });
  const venueId = venue.body.id as string;
  const connectionIds = {} as Record<Aggregator, string>;
  for (const aggregator of aggregators) {
    const created = await request(app).post(`/v1/venues/${venueId}/connections`).set(bearer(key)).send(world.connectionBody(aggregator));
    if (created.status !== 201) throw new Error(`connection ${aggregator}: ${created.status} ${JSON.stringify(created.body)}`);
    connectionIds[aggregator] = created.body.id as string;
  }

  async function externalSessionId(aggregator: Aggregator, sessionId: string): Promise<string> {
    return eventually(
      async () => {
        const row = await db
          .selectFrom('session_publications')
          .select('external_id')
          .where('session_id', '=', sessionId)
          .where('connection_id', '=', connectionIds[aggregator])
          .where('removed', '=', false)
          .executeTakeFirst();
        return row?.external_id ?? undefined;
      },
      30_000,
      `${aggregator} to hold session ${sessionId}`,
    );
  }

  return {
    world,
    baseUrl,
    key,
    companyId,
    venueId,
    connectionIds,
    externalSessionId,
    async offer(offer) {
      const activity = await request(app)
        .post('/v1/activities')
        .set(bearer(key))
        .send({
          venueId,
          name: 'Spin',
          maxParticipants: offer.maxParticipants,
          registrationRules: { allowAggregatorBookings: true, ...offer.registrationRules },
        });
      if (activity.status !== 201) throw new Error(`activity: ${activity.status} ${JSON.stringify(activity.body)}`);
      const activityId = activity.body.id as string;
      const sessionIds: string[] = [];
      for (const startsAt of offer.starts ?? [tomorrowAt()]) {
        const s = await request(app).post(`/v1/activities/${activityId}/sessions`).set(bearer(key)).send({ startsAt, durationMinutes: 60 });
        if (s.status !== 201) throw new Error(`session: ${s.status} ${JSON.stringify(s.body)}`);
        sessionIds.push(s.body.id as string);
      }
      for (const aggregator of offer.aggregators ?? aggregators) {
        for (const sessionId of sessionIds) await externalSessionId(aggregator, sessionId);
      }
      return { activityId, sessionIds };
    },
    async close() {
      await world.close();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
