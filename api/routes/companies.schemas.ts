import type { Selectable } from 'kysely';
import type { CompaniesTable } from '../../db/schema.js';
import { iso, name, timestamp, Uuid } from '../schemas.js';
import { z } from '../zod.js';

export const CreateCompanyBody = z.object({ name }).strict().meta({ id: 'CreateCompany' });
export const Company = z.object({ id: Uuid, name: z.string(), createdAt: timestamp }).meta({ id: 'Company' });
export const CreatedCompany = z
  .object({
    company: Company,
    apiKey: z.object({
      key: z.string().meta({ description: 'Shown once: store it now; only its hash is kept.' }),
      prefix: z.string(),
    }),
  })
  .meta({ id: 'CreatedCompany' });

export function presentCompany(row: Selectable<CompaniesTable>) {
  return { id: row.id, name: row.name, createdAt: iso(row.created_at) };
}
