import type { Transaction } from 'kysely';
import type { Database } from './schema.js';

/** Customers as the aggregators' requests find them: by the member id an aggregator knows them by. */

type Trx = Transaction<Database>;
interface MemberRef {
  companyId: string;
  aggregator: string;
  member: { externalId: string; name?: string | undefined; email?: string | undefined };
}

/** The customer of the company that holds this aggregator's member id, if any. */
async function customerHolding(trx: Trx, input: MemberRef): Promise<string | undefined> {
  const row = await trx
    .selectFrom('customer_aggregator_ids')
    .select('customer_id')
    .where('company_id', '=', input.companyId)
    .where('aggregator', '=', input.aggregator)
    .where('external_id', '=', input.member.externalId)
    .executeTakeFirst();
  return row?.customer_id;
}

/**
 * The customer holding this aggregator id in the company, or a new one created with it (name and e-mail from the
 * event). Two requests of a new member racing: the unique (company, aggregator, external id) index lets one insert
 * win; the other drops the profile it began and takes the winner's.
 */
export async function matchOrCreateCustomer(trx: Trx, input: MemberRef): Promise<string> {
  const existing = await customerHolding(trx, input);
  if (existing !== undefined) return existing;
  const created = await trx
    .insertInto('customers')
    .values({ company_id: input.companyId, name: input.member.name ?? null, email: input.member.email ?? null })
    .returning('id')
    .executeTakeFirstOrThrow();
  const linked = await trx
    .insertInto('customer_aggregator_ids')
    .values({ company_id: input.companyId, customer_id: created.id, aggregator: input.aggregator, external_id: input.member.externalId })
    .onConflict((oc) => oc.columns(['company_id', 'aggregator', 'external_id']).doNothing())
    .returning('customer_id')
    .executeTakeFirst();
  if (linked) return linked.customer_id;
  await trx.deleteFrom('customers').where('id', '=', created.id).execute();
  const winner = await customerHolding(trx, input);
  if (winner === undefined) throw new Error('the customer that won the race for this aggregator id is gone');
  return winner;
}
