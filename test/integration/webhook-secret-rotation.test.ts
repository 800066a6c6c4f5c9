import request from 'supertest';
import { describe, expect, it } from 'vitest';
import type { Express } from 'express';
import type { Db } from '../../db/index.js';
import { openCredentials, SecretBox, webhookSecretsOf } from '../../lib/secrets.js';
import { apiFixtures, bearer } from '../support/api-fixtures.js';
import { SECRETS_KEY, useApiHarness } from '../support/harness.js';

let db: Db;
let app: Express;
const { newCompany, newVenue } = apiFixtures(() => app);

useApiHarness((h) => ({ db, app } = h));

const box = new SecretBox(SECRETS_KEY);
const OLD = 'old-webhook-secret-1';
const NEW = 'new-webhook-secret-2';
const NEWER = 'newer-webhook-secret-3';
const TOKEN = 'api-token-value-0';
const SECRET_VALUES = new RegExp([OLD, NEW, NEWER, TOKEN].join('|'));

/** The stored row: its sealed credentials opened with the harness's key. */
async function stored(connectionId: string) {
  const row = await db.selectFrom('connections').selectAll().where('id', '=', connectionId).executeTakeFirstOrThrow();
  return { row, creds: openCredentials(box, row.credentials_sealed) };
}

/** Every answer, whatever its status, must leave secret values out. */
function withoutSecrets(res: request.Response): request.Response {
  expect(JSON.stringify(res.body)).not.toMatch(SECRET_VALUES);
  return res;
}

async function newConnection(key: string, credentials: Record<string, unknown> = { apiToken: TOKEN, webhookSecret: OLD }) {
  const venueId = await newVenue(key);
  const res = withoutSecrets(
    await request(app).post(`/v1/venues/${venueId}/connections`).set(bearer(key)).send({ aggregator: 'wellhub', credentials }),
  );
  expect(res.status).toBe(201);
  return res.body as { id: string; credentials: Record<string, boolean> };
}

const patch = async (key: string, id: string, body: object) =>
  withoutSecrets(await request(app).patch(`/v1/connections/${id}`).set(bearer(key)).send(body));
const removePrevious = async (key: string, id: string) =>
  withoutSecrets(await request(app).delete(`/v1/connections/${id}/previous-webhook-secret`).set(bearer(key)));

describe('webhook secret rotation', () => {
  it('keeps the old secret next to the new one until the previous one is removed', async () => {
    const { key } = await newCompany();
    const created = await newConnection(key);
    expect(created.credentials).toEqual({ apiToken: true, webhookSecret: true, previousWebhookSecret: false });
    expect(webhookSecretsOf((await stored(created.id)).creds)).toEqual([OLD]);

    const rotated = await patch(key, created.id, { credentials: { webhookSecret: NEW, keepPreviousWebhookSecret: true } });
    expect(rotated.status).toBe(200);
    expect(rotated.body.credentials).toEqual({ apiToken: true, webhookSecret: true, previousWebhookSecret: true });
    const during = await stored(created.id);
    expect(webhookSecretsOf(during.creds)).toEqual([NEW, OLD]);
    expect(during.creds).toEqual({ apiToken: TOKEN, webhookSecret: NEW, previousWebhookSecret: OLD });
    expect(during.row.credentials_sealed).not.toMatch(SECRET_VALUES);

    // Read back, the connection reports the same flags.
    const read = withoutSecrets(await request(app).get(`/v1/connections/${created.id}`).set(bearer(key)));
    expect(read.body.credentials).toEqual(rotated.body.credentials);

    // A retried rotation (the same new secret again) changes nothing.
    await patch(key, created.id, { credentials: { webhookSecret: NEW, keepPreviousWebhookSecret: true } });
    expect(webhookSecretsOf((await stored(created.id)).creds)).toEqual([NEW, OLD]);

    const ended = await removePrevious(key, created.id);
    expect(ended.status).toBe(200);
    expect(ended.body).toMatchObject({ id: created.id, credentials: { apiToken: true, webhookSecret: true, previousWebhookSecret: false } });
    expect((await stored(created.id)).creds).toEqual({ apiToken: TOKEN, webhookSecret: NEW });

    const again = await removePrevious(key, created.id);
    expect(again.status).toBe(409);
    expect(again.body.error).toMatchObject({ code: 'conflict', message: 'the connection holds no previous webhook secret' });
  });

  it('a rotation keeps only the secret held until then: the one before it is dropped', async () => {
    const { key } = await newCompany();
    const created = await newConnection(key);
    await patch(key, created.id, { credentials: { webhookSecret: NEW, keepPreviousWebhookSecret: true } });
    await patch(key, created.id, { credentials: { webhookSecret: NEWER, keepPreviousWebhookSecret: true } });
    expect(webhookSecretsOf((await stored(created.id)).creds)).toEqual([NEWER, NEW]);
  });

  it('a new secret without keepPreviousWebhookSecret replaces the current one and drops the previous one', async () => {
    const { key } = await newCompany();
    const created = await newConnection(key);
    await patch(key, created.id, { credentials: { webhookSecret: NEW, keepPreviousWebhookSecret: true } });

    const replaced = await patch(key, created.id, { credentials: { webhookSecret: NEWER } });
    expect(replaced.status).toBe(200);
    expect(replaced.body.credentials).toEqual({ apiToken: true, webhookSecret: true, previousWebhookSecret: false });
    expect((await stored(created.id)).creds).toEqual({ apiToken: TOKEN, webhookSecret: NEWER });

    // keepPreviousWebhookSecret: false is the same as leaving it out.
    await patch(key, created.id, { credentials: { webhookSecret: NEW, keepPreviousWebhookSecret: false } });
    expect(webhookSecretsOf((await stored(created.id)).creds)).toEqual([NEW]);
  });

  it('changing only the API token leaves both webhook secrets as they are', async () => {
    const { key } = await newCompany();
    const created = await newConnection(key);
    await patch(key, created.id, { credentials: { webhookSecret: NEW, keepPreviousWebhookSecret: true } });
    const res = await patch(key, created.id, { credentials: { apiToken: `${TOKEN}-b` } });
    expect(res.status).toBe(200);
    expect((await stored(created.id)).creds).toEqual({ apiToken: `${TOKEN}-b`, webhookSecret: NEW, previousWebhookSecret: OLD });
  });

  it('refuses keepPreviousWebhookSecret without a new webhookSecret with a 422, changing nothing', async () => {
    const { key } = await newCompany();
    const created = await newConnection(key);
    await patch(key, created.id, { credentials: { webhookSecret: NEW, keepPreviousWebhookSecret: true } });
    const before = (await stored(created.id)).row;

    for (const credentials of [{ keepPreviousWebhookSecret: true }, { apiToken: `${TOKEN}-c`, keepPreviousWebhookSecret: true }]) {
      const res = await patch(key, created.id, { status: 'active', credentials });
      expect(res.status, JSON.stringify(credentials)).toBe(422);
      expect(res.body.error).toMatchObject({
        code: 'rule_violated',
        details: [{ location: 'body', path: 'credentials.keepPreviousWebhookSecret' }],
      });
    }
    expect((await stored(created.id)).row).toEqual(before);

    // On creation too, though there is nothing to keep; with a new secret it is accepted and keeps nothing.
    const venueId = await newVenue(key);
    const refused = withoutSecrets(
      await request(app)
        .post(`/v1/venues/${venueId}/connections`)
        .set(bearer(key))
        .send({ aggregator: 'classpass', credentials: { keepPreviousWebhookSecret: true } }),
    );
    expect(refused.status).toBe(422);
    expect(refused.body.error.code).toBe('rule_violated');
    expect((await request(app).get(`/v1/venues/${venueId}/connections`).set(bearer(key))).body.items).toEqual([]);
    const createdKeeping = await newConnection(key, { webhookSecret: OLD, keepPreviousWebhookSecret: true });
    expect(createdKeeping.credentials).toEqual({ apiToken: false, webhookSecret: true, previousWebhookSecret: false });
    expect((await stored(createdKeeping.id)).creds).toEqual({ webhookSecret: OLD });
  });

  it("answers 404 to another company's key and to an unknown connection", async () => {
    const { key } = await newCompany();
    const created = await newConnection(key);
    await patch(key, created.id, { credentials: { webhookSecret: NEW, keepPreviousWebhookSecret: true } });
    const before = (await stored(created.id)).row;

    const other = await newCompany('Other studio');
    const foreign = await removePrevious(other.key, created.id);
    expect(foreign.status).toBe(404);
    expect(foreign.body.error.code).toBe('not_found');
    expect((await patch(other.key, created.id, { credentials: { webhookSecret: NEWER, keepPreviousWebhookSecret: true } })).status).toBe(404);
    expect((await stored(created.id)).row).toEqual(before);

    expect((await removePrevious(key, '00000000-0000-4000-8000-000000000000')).status).toBe(404);
  });

  it('is described in the OpenAPI document', async () => {
    const doc = (await request(app).get('/openapi.json')).body as {
      paths: Record<string, Record<string, { responses: Record<string, unknown> }>>;
      components: { schemas: Record<string, { properties: Record<string, { properties?: Record<string, unknown> }> }> };
    };
    const route = doc.paths['/v1/connections/{connectionId}/previous-webhook-secret']?.delete;
    expect(Object.keys(route?.responses ?? {})).toEqual(expect.arrayContaining(['200', '404', '409']));
    expect(Object.keys(doc.paths['/v1/connections/{connectionId}']!.patch!.responses)).toContain('422');
    expect(doc.components.schemas.Connection!.properties.credentials!.properties).toHaveProperty('previousWebhookSecret');
  });
});
