import request from 'supertest';
import { describe, expect, it } from 'vitest';
import type { Express } from 'express';
import type { Db } from '../../db/index.js';
import { apiFixtures, bearer, rowCounts } from '../support/api-fixtures.js';
import { useApiHarness } from '../support/harness.js';

let db: Db;
let app: Express;
const { newCompany } = apiFixtures(() => app);

useApiHarness((h) => ({ db, app } = h));

const counts = () => rowCounts(db, ['customers', 'customer_aggregator_ids']);

describe('customers', () => {
  it('are created with aggregator ids, read, and found by an aggregator id', async () => {
    const { key } = await newCompany();
    const created = await request(app)
      .post('/v1/customers')
      .set(bearer(key))
      .send({ name: 'Ana Costa', email: 'ana@example.com', aggregatorIds: { wellhub: 'wh-token-1', onefit: 'of-9' } });
    expect(created.status).toBe(201);
    expect(created.headers.location).toBe(`/v1/customers/${created.body.id}`);
    expect(created.body).toMatchObject({ name: 'Ana Costa', email: 'ana@example.com', aggregatorIds: { wellhub: 'wh-token-1', onefit: 'of-9' }, erasedAt: null });
    expect((await request(app).get(`/v1/customers/${created.body.id}`).set(bearer(key))).body).toEqual(created.body);
    const byId = await request(app).get('/v1/customers?aggregator=wellhub&externalId=wh-token-1').set(bearer(key));
    expect(byId.body.items.map((c: { id: string }) => c.id)).toEqual([created.body.id]);
    expect((await request(app).get('/v1/customers?aggregator=wellhub&externalId=other').set(bearer(key))).body.items).toEqual([]);
    const needsAggregator = await request(app).get('/v1/customers?externalId=wh-token-1').set(bearer(key));
    expect(needsAggregator.status).toBe(422);
  });

  it('keep one aggregator id to one customer within a company: 409, nothing written', async () => {
    const { key } = await newCompany();
    const first = await request(app).post('/v1/customers').set(bearer(key)).send({ aggregatorIds: { classpass: 'cp-1' } });
    const second = await request(app).post('/v1/customers').set(bearer(key)).send({ name: 'Ben' });
    const before = await counts();
    const taken = await request(app).put(`/v1/customers/${second.body.id}/aggregator-ids/classpass`).set(bearer(key)).send({ externalId: 'cp-1' });
    expect(taken.status).toBe(409);
    expect(taken.body.error.message).toBe('another customer of the company holds this aggregator id');
    const duplicate = await request(app).post('/v1/customers').set(bearer(key)).send({ name: 'Copy', aggregatorIds: { classpass: 'cp-1' } });
    expect(duplicate.status).toBe(409);
    expect(await counts()).toEqual(before);

    // Moved: removed from the first, then given to the second.
    expect((await request(app).delete(`/v1/customers/${first.body.id}/aggregator-ids/classpass`).set(bearer(key))).body.aggregatorIds).toEqual({});
    const moved = await request(app).put(`/v1/customers/${second.body.id}/aggregator-ids/classpass`).set(bearer(key)).send({ externalId: 'cp-1' });
    expect(moved.status).toBe(200);
    expect(moved.body.aggregatorIds).toEqual({ classpass: 'cp-1' });

    // Another company may hold the same id: ids are per company, and neither learns of the other.
    const other = await newCompany('Other studio');
    expect((await request(app).post('/v1/customers').set(bearer(other.key)).send({ aggregatorIds: { classpass: 'cp-1' } })).status).toBe(201);
    expect((await request(app).get(`/v1/customers/${second.body.id}`).set(bearer(other.key))).status).toBe(404);
  });

  it('have their personal data erased on request, keeping the profile and its aggregator ids', async () => {
    const { key } = await newCompany();
    const created = await request(app).post('/v1/customers').set(bearer(key)).send({ name: 'Cleo', email: 'cleo@example.com', aggregatorIds: { workit: 'wk-5' } });
    const erased = await request(app).post(`/v1/customers/${created.body.id}/erase`).set(bearer(key));
    expect(erased.status).toBe(200);
    expect(erased.body).toMatchObject({ id: created.body.id, name: null, email: null, aggregatorIds: { workit: 'wk-5' } });
    expect(erased.body.erasedAt).not.toBeNull();
    const row = await db.selectFrom('customers').select(['name', 'email']).where('id', '=', created.body.id).executeTakeFirstOrThrow();
    expect(row).toEqual({ name: null, email: null });
    const again = await request(app).post(`/v1/customers/${created.body.id}/erase`).set(bearer(key));
    expect(again.body.erasedAt).toBe(erased.body.erasedAt);
  });

  it('are listed page by page', async () => {
    const { key } = await newCompany();
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push((await request(app).post('/v1/customers').set(bearer(key)).send({ name: `C${i}` })).body.id as string);
    const seen: string[] = [];
    let after: string | null = null;
    do {
      const page: request.Response = await request(app).get(`/v1/customers?limit=2${after ? `&after=${after}` : ''}`).set(bearer(key));
      expect(page.status).toBe(200);
      seen.push(...page.body.items.map((c: { id: string }) => c.id));
      after = page.body.nextAfter as string | null;
    } while (after !== null);
    expect(seen).toEqual(ids);
  });

  it('refuse invalid input with a 400 that names the field, writing nothing', async () => {
    const { key } = await newCompany();
    const before = await counts();
    for (const [body, field] of [
      [{ email: 'not an address' }, 'email'],
      [{ aggregatorIds: { gymbook: 'x' } }, 'aggregatorIds'],
      [{ aggregatorIds: { wellhub: '' } }, 'aggregatorIds.wellhub'],
      [{ name: 'a\u0000b' }, 'name'],
    ] as const) {
      const res = await request(app).post('/v1/customers').set(bearer(key)).send(body);
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(res.body.error.details.some((d: { path: string }) => d.path.startsWith(field))).toBe(true);
    }
    expect(await counts()).toEqual(before);
  });
});
