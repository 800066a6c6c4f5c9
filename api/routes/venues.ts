import { findVenue } from '../../db/company-scope.js';
import type { Db } from '../../db/index.js';
import { companyOf } from '../auth.js';
import { ApiError, found } from '../errors.js';
import { defineRoute, type AnyRoute } from '../route.js';
import { listOf, Uuid } from '../schemas.js';
import { CreateVenueBody, presentVenue, UpdateVenueBody, Venue } from './venues.schemas.js';
import { z } from '../zod.js';

const VenueParams = z.object({ venueId: Uuid });

export function venueRoutes(db: Db): AnyRoute[] {
  return [
    defineRoute({
      method: 'post',
      path: '/v1/venues',
      summary: 'Create a venue',
      tag: 'Venues',
      auth: 'company',
      body: CreateVenueBody,
      response: { status: 201, description: 'Created', schema: Venue },
      location: (v) => `/v1/venues/${v.id}`,
      handler: async ({ body, auth }) => {
        const row = await db
          .insertInto('venues')
          .values({ company_id: companyOf(auth), name: body.name, time_zone: body.timeZone })
          .returningAll()
          .executeTakeFirstOrThrow();
        return presentVenue(row);
      },
    }),
    defineRoute({
      method: 'get',
      path: '/v1/venues',
      summary: "List the company's venues",
      tag: 'Venues',
      auth: 'company',
      response: { status: 200, description: 'Venues', schema: listOf(Venue, 'VenueList') },
      handler: async ({ auth }) => {
        const rows = await db.selectFrom('venues').selectAll().where('company_id', '=', companyOf(auth)).orderBy('created_at').execute();
        return { items: rows.map(presentVenue) };
      },
    }),
    defineRoute({
      method: 'get',
      path: '/v1/venues/{venueId}',
      summary: 'Read a venue',
      tag: 'Venues',
      auth: 'company',
      params: VenueParams,
      response: { status: 200, description: 'The venue', schema: Venue },
      errors: [404],
      handler: async ({ params, auth }) => presentVenue(found(await findVenue(db, companyOf(auth), params.venueId), 'venue')),
    }),
    defineRoute({
      method: 'patch',
      path: '/v1/venues/{venueId}',
      summary: 'Change a venue',
      tag: 'Venues',
      auth: 'company',
      params: VenueParams,
      body: UpdateVenueBody,
      response: { status: 200, description: 'The changed venue', schema: Venue },
      errors: [404],
      handler: async ({ params, body, auth }) => {
        const row = await db
          .updateTable('venues')
          .set({
            ...(body.name !== undefined ? { name: body.name } : {}),
            ...(body.timeZone !== undefined ? { time_zone: body.timeZone } : {}),
            updated_at: new Date(),
          })
          .where('id', '=', params.venueId)
          .where('company_id', '=', companyOf(auth))
          .returningAll()
          .executeTakeFirst();
        if (!row) throw ApiError.notFound('venue');
        return presentVenue(row);
      },
    }),
  ];
}
