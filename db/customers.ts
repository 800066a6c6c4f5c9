import { sql, type Transaction } from 'kysely';
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
 * event), in one statement: the lookup, and only when it finds nobody, the new customer and its link (this runs in
 * the booking decision's transaction, where every round trip counts). Two requests of a new member racing: the unique
 * (company, aggregator, external id) index lets one link win; the other drops the customer it created and takes the
 * winner's.
 */
export async function matchOrCreateCustomer(trx: Trx, input: MemberRef): Promise<string> {
  const { companyId, aggregator } = input;
  const { externalId, name, email } = input.member;
  const { rows } = await sql<{ found: string | null; created: string | null; linked: string | null }>`
    WITH found AS (
      SELECT customer_id FROM customer_aggregator_ids
      WHERE company_id = ${companyId} AND aggregator = ${aggregator} AND external_id = ${externalId}
    ), created AS (
      INSERT INTO customers (company_id, name, email)
      SELECT ${companyId}, ${name ?? null}, ${email ?? null} WHERE NOT EXISTS (SELECT 1 FROM found)
      RETURNING id
    ), linked AS (
      INSERT INTO customer_aggregator_ids (company_id, customer_id, aggregator, external_id)
      SELECT ${companyId}, created.id, ${aggregator}, ${externalId} FROM created
      ON CONFLICT (company_id, aggregator, external_id) DO NOTHING
      RETURNING customer_id
    )
    SELECT (SELECT customer_id FROM found) AS found, (SELECT id FROM created) AS created, (SELECT customer_id FROM linked) AS linked
  `.execute(trx);
  const row = rows[0];
  if (row?.found) return row.found;
  if (row?.linked) return row.linked;
  // Lost the race for the link: the customer created above is nobody's.
  if (row?.created) await trx.deleteFrom('customers').where('id', '=', row.created).execute();
  const winner = await customerHolding(trx, input);
  if (winner === undefined) throw new Error('the customer that won the race for this aggregator id is gone');
  return winner;
}
