import type { Selectable } from 'kysely';
import type { VenuesTable } from '../../db/schema.js';
import { iso, name, timestamp, timeZone, Uuid, updateBody } from '../schemas.js';
import { z } from '../zod.js';

export const CreateVenueBody = z.object({ name, timeZone }).strict().meta({ id: 'CreateVenue' });
export const UpdateVenueBody = updateBody({ name: name.optional(), timeZone: timeZone.optional() }, 'UpdateVenue');
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
