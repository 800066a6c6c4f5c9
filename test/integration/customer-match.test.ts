// The booking decision matches an aggregator's member to the studio's customer, or creates one, in one statement
// (db/customers.ts). Two first requests of one new member racing in two transactions must end with one customer
// holding the member id, and no customer left behind by the loser. Real PostgreSQL.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Db } from '../../db/index.js';
import { matchOrCreateCustomer } from '../../db/customers.js';
import { createTestDatabase } from '../support/harness.js';
import { seedActivity } from '../support/seed.js';

let db: Db;
let drop: () => Promise<void>;

beforeAll(async () => {
  ({ db, drop } = await createTestDatabase());
});
afterAll(async () => drop?.());

const customersOf = (companyId: string) => db.selectFrom('customers').select(['id', 'name', 'email']).where('company_id', '=', companyId).execute();

describe('matching an aggregator member to a customer', () => {
  it('creates the customer with the member id once, then finds it; the same id at another aggregator or company is another customer', async () => {
    const { companyId } = await seedActivity(db, { companyName: 'Match' });
    const { companyId: otherCompany } = await seedActivity(db, { companyName: 'Other' });
    const member = { externalId: 'wh-1', name: 'Mia', email: 'mia@example.com' };
    const first = await db.transaction().execute((trx) => matchOrCreateCustomer(trx, { companyId, aggregator: 'wellhub', member }));
    const again = await db.transaction().execute((trx) => matchOrCreateCustomer(trx, { companyId, aggregator: 'wellhub', member: { externalId: 'wh-1', name: 'Renamed' } }));
    expect(again).toBe(first);
    expect(await customersOf(companyId)).toEqual([{ id: first, name: 'Mia', email: 'mia@example.com' }]);
    const elsewhere = await db.transaction().execute((trx) => matchOrCreateCustomer(trx, { companyId, aggregator: 'classpass', member }));
    const otherCo = await db.transaction().execute((trx) => matchOrCreateCustomer(trx, { companyId: otherCompany, aggregator: 'wellhub', member }));
    expect(new Set([first, elsewhere, otherCo]).size).toBe(3);
  });

  it('gives two racing first requests of one new member the same customer and leaves no other behind', async () => {
    const { companyId } = await seedActivity(db, { companyName: 'Race' });
    const member = { externalId: 'wh-race', name: 'Noa' };
    let releaseFirst!: () => void;
    const firstMayCommit = new Promise<void>((resolve) => {
      releaseFirst = resolve;
    });
    let firstMatched!: () => void;
    const firstHasMatched = new Promise<void>((resolve) => {
      firstMatched = resolve;
    });
    // The first transaction creates the customer and its link, and holds its commit until the second has started.
    const first = db.transaction().execute(async (trx) => {
      const id = await matchOrCreateCustomer(trx, { companyId, aggregator: 'wellhub', member });
      firstMatched();
      await firstMayCommit;
      return id;
    });
    await firstHasMatched;
    // The second waits on the first's uncommitted link (the unique index), then finds it taken.
    const second = db.transaction().execute((trx) => matchOrCreateCustomer(trx, { companyId, aggregator: 'wellhub', member }));
    await new Promise((resolve) => setTimeout(resolve, 300));
    releaseFirst();
    const [a, b] = await Promise.all([first, second]);
    expect(b).toBe(a);
    expect((await customersOf(companyId)).map((c) => c.id)).toEqual([a]);
  });
});
