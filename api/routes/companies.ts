import type { Db } from '../../db/index.js';
import { newApiKey } from '../../lib/secrets.js';
import { companyOf } from '../auth.js';
import { ApiError } from '../errors.js';
import { defineRoute, type AnyRoute } from '../route.js';
import { Uuid } from '../schemas.js';
import { Company, CreateCompanyBody, CreatedCompany, presentCompany } from './companies.schemas.js';
import { z } from '../zod.js';

export function companyRoutes(db: Db): AnyRoute[] {
  return [
    defineRoute({
      method: 'post',
      path: '/v1/companies',
      summary: 'Create a company and its first API key (admin key)',
      tag: 'Companies',
      auth: 'admin',
      body: CreateCompanyBody,
      response: { status: 201, description: 'Created; the API key is shown only now', schema: CreatedCompany },
      location: (body) => `/v1/companies/${body.company.id}`,
      handler: async ({ body }) =>
        db.transaction().execute(async (trx) => {
          const company = await trx.insertInto('companies').values({ name: body.name }).returningAll().executeTakeFirstOrThrow();
          const apiKey = newApiKey();
          await trx
            .insertInto('api_keys')
            .values({ company_id: company.id, key_hash: apiKey.hash, key_prefix: apiKey.prefix, label: 'initial' })
            .execute();
          return { company: presentCompany(company), apiKey: { key: apiKey.key, prefix: apiKey.prefix } };
        }),
    }),
    defineRoute({
      method: 'post',
      path: '/v1/companies/{companyId}/api-keys',
      summary: 'Mint another API key for a company (admin key)',
      tag: 'Companies',
      auth: 'admin',
      params: z.object({ companyId: Uuid }),
      body: z.object({ label: z.string().trim().min(1).max(100).optional() }).strict(),
      response: {
        status: 201,
        description: 'Created; the key is shown only now',
        schema: z.object({ key: z.string(), prefix: z.string() }),
      },
      errors: [404],
      handler: async ({ params, body }) => {
        const company = await db.selectFrom('companies').select('id').where('id', '=', params.companyId).executeTakeFirst();
        if (!company) throw ApiError.notFound('company');
        const apiKey = newApiKey();
        await db
          .insertInto('api_keys')
          .values({ company_id: company.id, key_hash: apiKey.hash, key_prefix: apiKey.prefix, label: body.label ?? null })
          .execute();
        return { key: apiKey.key, prefix: apiKey.prefix };
      },
    }),
    defineRoute({
      method: 'get',
      path: '/v1/companies/{companyId}',
      summary: "Read the API key's company",
      tag: 'Companies',
      auth: 'company',
      params: z.object({ companyId: Uuid }),
      response: { status: 200, description: 'The company', schema: Company },
      errors: [404],
      handler: async ({ params, auth }) => {
        const row = await db
          .selectFrom('companies')
          .selectAll()
          .where('id', '=', params.companyId)
          .where('id', '=', companyOf(auth))
          .executeTakeFirst();
        if (!row) throw ApiError.notFound('company');
        return presentCompany(row);
      },
    }),
  ];
}
