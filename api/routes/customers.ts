import { sql } from 'kysely';
import type { Selectable } from 'kysely';
import { findCustomer } from '../../db/company-scope.js';
import type { Db } from '../../db/index.js';
import type { CustomersTable } from '../../db/schema.js';
import { companyOf } from '../auth.js';
import { found } from '../errors.js';
import { defineRoute, type AnyRoute } from '../route.js';
import { AggregatorSchema, Uuid } from '../schemas.js';
import { AggregatorIdBody, CreateCustomerBody, Customer, CustomerList, CustomerListQuery, presentCustomer } from './customers.schemas.js';
import { z } from '../zod.js';

/**
 * Customers of a company and their aggregator ids. An aggregator's booking request books the customer holding its
 * member id (or a new one created with it), so one id never stands for two profiles.
 */
export function customerRoutes(db: Db): AnyRoute[] {
  const CustomerParams = z.object({ customerId: Uuid });

  async function presentAll(rows: Selectable<CustomersTable>[]) {
    if (rows.length === 0) return [];
    const ids = await db
      .selectFrom('customer_aggregator_ids')
      .select(['customer_id', 'aggregator', 'external_id'])
      .where('customer_id', 'in', rows.map((r) => r.id))
      .orderBy('aggregator')
      .execute();
    return rows.map((row) => presentCustomer(row, ids.filter((i) => i.customer_id === row.id)));
  }
  const present = async (row: Selectable<CustomersTable>) => (await presentAll([row]))[0] as z.input<typeof Customer>;
  const load = async (companyId: string, customerId: string) => found(await findCustomer(db, companyId, customerId), 'customer');

  return [
    defineRoute({
      method: 'post',
      path: '/v1/customers',
      summary: 'Create a customer, with aggregator ids',
      tag: 'Customers',
      auth: 'company',
      body: CreateCustomerBody,
      response: { status: 201, description: 'Created', schema: Customer },
      errors: [409],
      location: (c) => `/v1/customers/${c.id}`,
      handler: async ({ body, auth }) => {
        const companyId = companyOf(auth);
        const row = await db.transaction().execute(async (trx) => {
          const inserted = await trx.insertInto('customers').values({ company_id: companyId, name: body.name, email: body.email }).returningAll().executeTakeFirstOrThrow();
          const ids = Object.entries(body.aggregatorIds).flatMap(([aggregator, externalId]) =>
            externalId === undefined ? [] : [{ company_id: companyId, customer_id: inserted.id, aggregator, external_id: externalId }],
          );
          if (ids.length > 0) await trx.insertInto('customer_aggregator_ids').values(ids).execute();
          return inserted;
        });
        return present(row);
      },
    }),
    defineRoute({
      method: 'get',
      path: '/v1/customers',
      summary: "List the company's customers, or find the one holding an aggregator id",
      tag: 'Customers',
      auth: 'company',
      query: CustomerListQuery,
      response: { status: 200, description: 'Customers, oldest first', schema: CustomerList },
      errors: [422],
      handler: async ({ query, auth }) => {
        let q = db.selectFrom('customers').selectAll('customers').where('customers.company_id', '=', companyOf(auth));
        if (query.aggregator !== undefined) {
          const { aggregator, externalId } = query;
          q = q.where((eb) =>
            eb.exists(
              eb
                .selectFrom('customer_aggregator_ids as ids')
                .select('ids.customer_id')
                .whereRef('ids.customer_id', '=', 'customers.id')
                .where('ids.aggregator', '=', aggregator)
                .$if(externalId !== undefined, (sub) => sub.where('ids.external_id', '=', externalId as string)),
            ),
          );
        }
        if (query.after !== undefined) {
          const after = query.after;
          q = q.where((eb) =>
            eb(
              eb.refTuple('customers.created_at', 'customers.id'),
              '>',
              eb.selectFrom('customers as c').select(['c.created_at', 'c.id']).where('c.id', '=', after) as never,
            ),
          );
        }
        const rows = await q.orderBy('customers.created_at').orderBy('customers.id').limit(query.limit + 1).execute();
        const page = rows.slice(0, query.limit);
        return { items: await presentAll(page), nextAfter: rows.length > query.limit ? (page.at(-1)?.id ?? null) : null };
      },
    }),
    defineRoute({
      method: 'get',
      path: '/v1/customers/{customerId}',
      summary: 'Read a customer',
      tag: 'Customers',
      auth: 'company',
      params: CustomerParams,
      response: { status: 200, description: 'The customer', schema: Customer },
      errors: [404],
      handler: async ({ params, auth }) => present(await load(companyOf(auth), params.customerId)),
    }),
    defineRoute({
      method: 'put',
      path: '/v1/customers/{customerId}/aggregator-ids/{aggregator}',
      summary: "Set the customer's id at an aggregator (409 when another customer of the company holds it)",
      tag: 'Customers',
      auth: 'company',
      params: z.object({ customerId: Uuid, aggregator: AggregatorSchema }),
      body: AggregatorIdBody,
      response: { status: 200, description: 'The customer', schema: Customer },
      errors: [404, 409],
      handler: async ({ params, body, auth }) => {
        const customer = await load(companyOf(auth), params.customerId);
        await db
          .insertInto('customer_aggregator_ids')
          .values({ company_id: customer.company_id, customer_id: customer.id, aggregator: params.aggregator, external_id: body.externalId })
          .onConflict((oc) => oc.columns(['customer_id', 'aggregator']).doUpdateSet({ external_id: body.externalId }))
          .execute();
        return present(await touch(customer.id));
      },
    }),
    defineRoute({
      method: 'delete',
      path: '/v1/customers/{customerId}/aggregator-ids/{aggregator}',
      summary: "Remove the customer's id at an aggregator (its bookings stay)",
      tag: 'Customers',
      auth: 'company',
      params: z.object({ customerId: Uuid, aggregator: AggregatorSchema }),
      response: { status: 200, description: 'The customer', schema: Customer },
      errors: [404],
      handler: async ({ params, auth }) => {
        const customer = await load(companyOf(auth), params.customerId);
        await db.deleteFrom('customer_aggregator_ids').where('customer_id', '=', customer.id).where('aggregator', '=', params.aggregator).execute();
        return present(await touch(customer.id));
      },
    }),
    defineRoute({
      method: 'post',
      path: '/v1/customers/{customerId}/erase',
      summary: "Erase the customer's personal data (name, e-mail) on request; the profile, its aggregator ids and bookings stay",
      tag: 'Customers',
      auth: 'company',
      params: CustomerParams,
      response: { status: 200, description: 'The customer, erased', schema: Customer },
      errors: [404],
      handler: async ({ params, auth }) => {
        const customer = await load(companyOf(auth), params.customerId);
        const row = await db.transaction().execute(async (trx) => {
          const erased = await trx
            .updateTable('customers')
            .set((eb) => ({ name: null, email: null, erased_at: eb.fn.coalesce('erased_at', eb.val(new Date())), updated_at: new Date() }))
            .where('id', '=', customer.id)
            .returningAll()
            .executeTakeFirstOrThrow();
          // The aggregators' webhooks kept in the inbox carry the member's name and e-mail too: only the id stays.
          await sql`
            UPDATE webhook_inbox i
            SET payload = jsonb_set(i.payload, '{member}', jsonb_build_object('externalId', i.payload->'member'->'externalId'))
            FROM customer_aggregator_ids c, connections k
            WHERE c.customer_id = ${customer.id} AND k.id = i.connection_id AND k.company_id = c.company_id
              AND i.aggregator = c.aggregator AND i.payload->'member'->>'externalId' = c.external_id
          `.execute(trx);
          return erased;
        });
        return present(row);
      },
    }),
  ];

  function touch(customerId: string) {
    return db.updateTable('customers').set({ updated_at: new Date() }).where('id', '=', customerId).returningAll().executeTakeFirstOrThrow();
  }
}
