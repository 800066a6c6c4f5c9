import type { Express } from 'express';
import request from 'supertest';
import { expect } from 'vitest';
import type { Db } from '../../db/index.js';
import type { Database } from '../../db/schema.js';
import { ADMIN_KEY } from './harness.js';

export const bearer = (key: string) => ({ Authorization: `Bearer ${key}` });

/** A company (with its key) and venues made through the API; `app` is read when called, after beforeAll built it. */
export function apiFixtures(app: () => Express) {
  return {
    newCompany: async (name = 'Studio Nord') => {
      const res = await request(app()).post('/v1/companies').set(bearer(ADMIN_KEY)).send({ name });
      expect(res.status).toBe(201);
      return { id: res.body.company.id as string, key: res.body.apiKey.key as string };
    },
    newVenue: async (key: string) => {
      const res = await request(app()).post('/v1/venues').set(bearer(key)).send({ name: 'Main hall', timeZone: 'Europe/Berlin' });
      expect(res.status).toBe(201);
      return res.body.id as string;
    },
  };
}

/** Row counts of the given tables: what a refused request must leave unchanged. */
export async function rowCounts(db: Db, tables: ReadonlyArray<keyof Database>): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  for (const table of tables) {
    const row = await db.selectFrom(table).select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
    counts[table] = Number(row.n);
  }
  return counts;
}
