import type { Selectable } from 'kysely';
import type { VenuesTable } from '../../db/schema.js';
import { iso, name, timestamp, timeZone, Uuid } from '../schemas.js';
import { z } from '../zod.js';

export const CreateVenueBody = z.object({ name, timeZone }).strict().meta({ id: 'CreateVenue' });
export const UpdateVenueBody = z
  .object({ name: name.optional(), timeZone: timeZone.optional() })
  .strict()
  .refine((b) => Object.keys(b).length > 0, 'give at least one field to change')
  .meta({ id: 'UpdateVenue', minProperties: 1 });
export const Venue = z
  .object({ id: Uuid, companyId: Uuid, name: z.string(), timeZone: z.string(), createdAt: timestamp, updatedAt: timestamp })
  .meta({ id: 'Venue' });

export function presentVenue(row: Selectable<VenuesTable>) {
  return {
    id: row.id,
    companyId: row.company_id,
    name: row.name,
    timeZone: row.time_zone,
    createdAt: iso(row.created_at),
    updatedAt: iso(row.updated_at),
  };
}
