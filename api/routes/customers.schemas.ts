import type { Selectable } from 'kysely';
import type { CustomersTable } from '../../db/schema.js';
import { AGGREGATORS, type Aggregator } from '../../domain/model.js';
import { AggregatorSchema, iso, rule, timestamp, Uuid } from '../schemas.js';
import { text } from '../text.js';
import { z } from '../zod.js';

/** The aggregator's id for a member (Wellhub: unique_token). */
const externalMemberId = text({ max: 200, trim: false }).meta({ description: "The aggregator's id for the member" });
// An object of optional fields, so the document says exactly which keys are allowed.
const aggregatorIds = z
  .object(Object.fromEntries(AGGREGATORS.map((a) => [a, externalMemberId.optional()])) as Record<Aggregator, z.ZodOptional<typeof externalMemberId>>)
  .strict()
  .meta({ description: 'At most one id per aggregator; unique per aggregator within the company' });
// A plain shape check, spelled out so the document's pattern and the server's check are the same on every engine.
const email = z
  .string()
  .max(320)
  .regex(new RegExp(String.raw`^[^@\u0000-\u0020\u007f]+@[^@\u0000-\u0020\u007f]+$`), 'must be an e-mail address');

export const CreateCustomerBody = z
  .object({
    name: text({ max: 200 }).nullable().default(null),
    email: email.nullable().default(null),
    aggregatorIds: aggregatorIds.default({}),
  })
  .strict()
  .meta({ id: 'CreateCustomer' });

export const AggregatorIdBody = z.object({ externalId: externalMemberId }).strict().meta({ id: 'AggregatorIdBody' });

export const Customer = z
  .object({
    id: Uuid,
    name: z.string().nullable(),
    email: z.string().nullable(),
    aggregatorIds: z.record(z.string(), z.string()),
    erasedAt: timestamp.nullable().meta({ description: 'When the personal data (name, e-mail) was erased on request' }),
    createdAt: timestamp,
    updatedAt: timestamp,
  })
  .meta({ id: 'Customer' });

export const CustomerListQuery = z
  .object({
    aggregator: AggregatorSchema.optional(),
    externalId: externalMemberId.optional(),
    after: Uuid.optional().meta({ description: 'The last customer id of the previous page' }),
    limit: z.coerce.number().int().min(1).max(500).default(100),
  })
  .strict()
  .refine((q) => q.externalId === undefined || q.aggregator !== undefined, rule('externalId needs aggregator', ['externalId']));

export const CustomerList = z
  .object({ items: z.array(Customer), nextAfter: Uuid.nullable().meta({ description: 'Pass as `after` for the next page; null on the last' }) })
  .meta({ id: 'CustomerList' });

/** A customer with its aggregator ids (the rows of customer_aggregator_ids that are its own). */
export function presentCustomer(row: Selectable<CustomersTable>, ids: { aggregator: string; external_id: string }[]) {
  return {
    id: row.id,
    name: row.name,
    email: row.email,
    aggregatorIds: Object.fromEntries(ids.map((i) => [i.aggregator, i.external_id])),
    erasedAt: row.erased_at === null ? null : iso(row.erased_at),
    createdAt: iso(row.created_at),
    updatedAt: iso(row.updated_at),
  };
}
