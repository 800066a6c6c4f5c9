import type { AddressInfo } from 'node:net';
import { gzipSync } from 'node:zlib';
import request from 'supertest';
import { describe, expect, it } from 'vitest';
import type { Express } from 'express';
import type { Db } from '../../db/index.js';
import { apiFixtures, bearer, rowCounts } from '../support/api-fixtures.js';
import { ADMIN_KEY, useApiHarness } from '../support/harness.js';

// The reproductions the outside fuzzer (schemathesis) found, each with the answer the API now gives. The fuzzer
// itself runs in CI against a running service (scripts/schemathesis.sh).

let db: Db;
let app: Express;

useApiHarness((h) => ({ db, app } = h));

const { newCompany, newVenue } = apiFixtures(() => app);

const counts = () => rowCounts(db, ['companies', 'venues', 'connections', 'activities', 'sessions']);

async function openApi() {
  const res = await request(app).get('/openapi.json');
  expect(res.status).toBe(200);
  return res.body as {
    paths: Record<string, Record<string, { requestBody?: { required?: boolean }; responses: Record<string, unknown>; security?: unknown[] }>>;
    components: { schemas: Record<string, { minProperties?: number; enum?: string[] }>; securitySchemes: Record<string, unknown> };
  };
}

describe('NUL characters', () => {
  it('are refused with a 400 naming the field in every stored string, and nothing is written', async () => {
    const { key } = await newCompany();
    const venueId = await newVenue(key);
    const activity = await request(app).post('/v1/activities').set(bearer(key)).send({ venueId, name: 'Yoga', maxParticipants: 10 });
    expect(activity.status).toBe(201);
    const before = await counts();
    const cases: Array<[string, string, object, string]> = [
      ['post', '/v1/venues', { name: 'a\u0000b', timeZone: 'UTC' }, 'name'],
      ['patch', `/v1/venues/${venueId}`, { name: 'a\u0000b' }, 'name'],
      ['post', '/v1/activities', { venueId, name: 'Yoga', description: 'x\u0000', maxParticipants: 5 }, 'description'],
      ['post', '/v1/activities', { venueId, name: 'Yoga', category: '\u0000', maxParticipants: 5 }, 'category'],
      ['post', `/v1/activities/${activity.body.id}/sessions`, { startsAt: '2030-01-01T10:00:00Z', durationMinutes: 60, room: 'Room\u00001' }, 'room'],
      [
        'post',
        `/v1/activities/${activity.body.id}/sessions`,
        { startsAt: '2030-01-01T10:00:00Z', durationMinutes: 60, instructors: [{ name: 'An\u0000na' }] },
        'instructors.0.name',
      ],
      ['post', `/v1/venues/${venueId}/connections`, { aggregator: 'wellhub', externalVenueId: '12\u00003' }, 'externalVenueId'],
      ['post', `/v1/venues/${venueId}/connections`, { aggregator: 'wellhub', settings: { productId: 'a\u0000' } }, 'settings.productId'],
      ['post', `/v1/venues/${venueId}/connections`, { aggregator: 'wellhub', settings: { 'product\u0000Id': 1 } }, 'settings'],
    ];
    for (const [method, path, body, field] of cases) {
      const res = await request(app)[method as 'post'](path).set(bearer(key)).send(body);
      expect(res.status, `${method} ${path} ${JSON.stringify(body)}`).toBe(400);
      expect(res.body.error.code).toBe('validation_failed');
      expect(res.body.error.details.some((d: { path: string }) => d.path.startsWith(field)), JSON.stringify(res.body)).toBe(true);
    }
    expect(await counts()).toEqual(before);
  });
});

describe('lengths and trimming', () => {
  it('checks maxLength on the string as sent, then stores it trimmed', async () => {
    const { key } = await newCompany();
    const padded = await request(app).post('/v1/venues').set(bearer(key)).send({ name: `  ${'x'.repeat(200)}`, timeZone: 'UTC' });
    expect(padded.status).toBe(400);
    expect(padded.body.error.details[0]).toMatchObject({ location: 'body', path: 'name' });
    const blank = await request(app).post('/v1/venues').set(bearer(key)).send({ name: '   ', timeZone: 'UTC' });
    expect(blank.status).toBe(400);
    const trimmed = await request(app).post('/v1/venues').set(bearer(key)).send({ name: '  Main hall ', timeZone: 'UTC' });
    expect(trimmed.status).toBe(201);
    expect(trimmed.body.name).toBe('Main hall');
    const exact = await request(app).post('/v1/venues').set(bearer(key)).send({ name: 'x'.repeat(200), timeZone: 'UTC' });
    expect(exact.status).toBe(201);
  });
});

describe('bodies the parser cannot read', () => {
  it('answers 400 to a Content-Encoding the body is not in, 415 to an unknown one, and reads a real gzip body', async () => {
    const { key } = await newCompany();
    const before = await counts();
    const plain = JSON.stringify({ name: 'Hall', timeZone: 'UTC' });
    for (const encoding of ['gzip', 'deflate', 'br']) {
      const res = await request(app)
        .post('/v1/venues')
        .set(bearer(key))
        .set('Content-Type', 'application/json')
        .set('Content-Encoding', encoding)
        .send(plain);
      expect(res.status, encoding).toBe(400);
      expect(res.body.error.code).toBe('bad_request');
      expect(res.body.error.requestId).toBeTruthy();
    }
    const unknown = await request(app)
      .post('/v1/venues')
      .set(bearer(key))
      .set('Content-Type', 'application/json')
      .set('Content-Encoding', 'compress-9000')
      .send(plain);
    expect(unknown.status).toBe(415);
    expect(unknown.body.error.code).toBe('unsupported_encoding');
    expect(await counts()).toEqual(before);

    // supertest would JSON-encode a Buffer, so the gzip body goes over a real socket with fetch.
    const server = app.listen(0, '127.0.0.1');
    await new Promise((resolve) => server.once('listening', resolve));
    try {
      const { port } = server.address() as AddressInfo;
      const gzipped = await fetch(`http://127.0.0.1:${port}/v1/venues`, {
        method: 'POST',
        headers: { ...bearer(key), 'Content-Type': 'application/json', 'Content-Encoding': 'gzip' },
        body: gzipSync(Buffer.from(plain)),
      });
      expect(gzipped.status).toBe(201);
      expect(((await gzipped.json()) as { name: string }).name).toBe('Hall');
    } finally {
      server.close();
    }
  });

  it('answers 400 to a missing body and 415 to a body that is not JSON', async () => {
    const { key } = await newCompany();
    const missing = await request(app).post('/v1/venues').set(bearer(key));
    expect(missing.status).toBe(400);
    expect(missing.body.error.code).toBe('body_required');
    const text = await request(app).post('/v1/venues').set(bearer(key)).set('Content-Type', 'text/plain').send('name=Hall');
    expect(text.status).toBe(415);
    expect(text.body.error.code).toBe('unsupported_media_type');
  });

  it('ignores a body sent to a route that takes none, whatever its encoding', async () => {
    const { key } = await newCompany();
    const res = await request(app).get('/v1/venues').set(bearer(key)).set('Content-Type', 'application/json').set('Content-Encoding', 'gzip').send('{}');
    expect(res.status).toBe(200);
  });
});

describe('malformed percent-encoding in a path parameter', () => {
  it('answers 400, with or without a key', async () => {
    const { key } = await newCompany();
    for (const path of ['/v1/venues/%ZZ', '/v1/activities/%E0%A4%A', '/v1/sessions/%']) {
      const anonymous = await request(app).get(path);
      expect(anonymous.status, path).toBe(400);
      expect(anonymous.body.error.code).toBe('bad_request');
      expect((await request(app).get(path).set(bearer(key))).status).toBe(400);
    }
  });
});

describe('the status convention', () => {
  it('answers 400 to a PATCH with no field, and the document says so with minProperties', async () => {
    const { key } = await newCompany();
    const venueId = await newVenue(key);
    const res = await request(app).patch(`/v1/venues/${venueId}`).set(bearer(key)).send({});
    expect(res.status).toBe(400);
    const doc = await openApi();
    for (const schema of ['UpdateVenue', 'UpdateConnection', 'UpdateActivity', 'UpdateSession']) {
      expect(doc.components.schemas[schema]?.minProperties, schema).toBe(1);
    }
  });

  it('answers 422 to cross-field rules, which the document lists for those routes', async () => {
    const { key } = await newCompany();
    const venueId = await newVenue(key);
    const activity = await request(app).post('/v1/activities').set(bearer(key)).send({ venueId, name: 'Yoga', maxParticipants: 10 });
    const before = await counts();
    const closesFirst = await request(app)
      .post('/v1/activities')
      .set(bearer(key))
      .send({ venueId, name: 'Yoga', maxParticipants: 10, registrationRules: { bookingOpensMinutesBefore: 60, bookingClosesMinutesBefore: 120 } });
    expect(closesFirst.status).toBe(422);
    expect(closesFirst.body.error).toMatchObject({ code: 'rule_violated', details: [{ path: 'registrationRules.bookingOpensMinutesBefore' }] });
    const patched = await request(app)
      .patch(`/v1/activities/${activity.body.id}`)
      .set(bearer(key))
      .send({ maxParticipants: 5, registrationRules: { aggregatorLimit: 6 } });
    expect(patched.status).toBe(422);
    const range = await request(app)
      .get(`/v1/activities/${activity.body.id}/sessions?from=2030-02-01T00:00:00Z&to=2030-01-01T00:00:00Z`)
      .set(bearer(key));
    expect(range.status).toBe(422);
    expect(range.body.error.details[0]).toMatchObject({ location: 'query', path: 'from' });
    expect(await counts()).toEqual(before);
    const doc = await openApi();
    expect(Object.keys(doc.paths['/v1/activities']!.post!.responses)).toContain('422');
    expect(Object.keys(doc.paths['/v1/activities/{activityId}']!.patch!.responses)).toContain('422');
    expect(Object.keys(doc.paths['/v1/activities/{activityId}/sessions']!.get!.responses)).toContain('422');
  });

  it('declares every body as required and every status a route answers', async () => {
    const doc = await openApi();
    for (const [path, operations] of Object.entries(doc.paths)) {
      for (const [method, operation] of Object.entries(operations)) {
        const statuses = Object.keys(operation.responses);
        expect(statuses, `${method} ${path}`).toContain('400');
        if (operation.requestBody) {
          expect(operation.requestBody.required, `${method} ${path}`).toBe(true);
          expect(statuses, `${method} ${path}`).toEqual(expect.arrayContaining(['413', '415']));
        }
        if (operation.security) expect(statuses, `${method} ${path}`).toEqual(expect.arrayContaining(['401', '403']));
      }
    }
  });

  it('lists the time zones as an enum, and accepts exactly those', async () => {
    const doc = await openApi();
    const zones = doc.components.schemas.TimeZone?.enum ?? [];
    expect(zones).toEqual(expect.arrayContaining(['UTC', 'Europe/Berlin', 'America/New_York', 'Asia/Tokyo']));
    const { key } = await newCompany();
    expect((await request(app).post('/v1/venues').set(bearer(key)).send({ name: 'Hall', timeZone: 'UTC' })).status).toBe(201);
    const unknown = await request(app).post('/v1/venues').set(bearer(key)).send({ name: 'Hall', timeZone: 'Mars/Olympus' });
    expect(unknown.status).toBe(400);
    expect(unknown.body.error.details[0].path).toBe('timeZone');
  });
});

describe('methods a path does not take', () => {
  it('answer 405 with an Allow header, before any key is checked; OPTIONS lists the same', async () => {
    const { key } = await newCompany();
    const venueId = await newVenue(key);
    const trace = await request(app).trace('/v1/venues');
    expect(trace.status).toBe(405);
    expect(trace.headers.allow).toBe('GET, HEAD, POST, OPTIONS');
    for (const method of ['put', 'delete', 'post'] as const) {
      const res = await request(app)[method](`/v1/venues/${venueId}`).set(bearer(key));
      expect(res.status, method).toBe(405);
      expect(res.headers.allow).toBe('GET, HEAD, PATCH, OPTIONS');
      expect(res.body.error.code).toBe('method_not_allowed');
    }
    const options = await request(app).options(`/v1/venues/${venueId}`);
    expect(options.status).toBe(204);
    expect(options.headers.allow).toBe('GET, HEAD, PATCH, OPTIONS');
    expect((await request(app).delete('/v1/nowhere')).status).toBe(404);
  });
});

describe('API keys', () => {
  it('documents the X-Api-Key header beside Bearer, and both work', async () => {
    const doc = await openApi();
    expect(doc.components.securitySchemes.apiKeyHeader).toEqual(expect.objectContaining({ type: 'apiKey', in: 'header', name: 'X-Api-Key' }));
    expect(doc.paths['/v1/venues']!.get!.security).toEqual([{ bearer: [] }, { apiKeyHeader: [] }]);
    const { key } = await newCompany();
    expect((await request(app).get('/v1/venues').set('X-Api-Key', key)).status).toBe(200);
    expect((await request(app).get('/v1/venues').set(bearer(key))).status).toBe(200);
  });
});

describe('a conflict on an id another company holds', () => {
  it('says "already linked" and nothing about the other company or the database', async () => {
    const first = await newCompany('First');
    const second = await newCompany('Second');
    const body = { aggregator: 'wellhub', externalVenueId: '424242', settings: { productId: 1 } };
    expect((await request(app).post(`/v1/venues/${await newVenue(first.key)}/connections`).set(bearer(first.key)).send(body)).status).toBe(201);
    const secondVenue = await newVenue(second.key);
    const taken = await request(app).post(`/v1/venues/${secondVenue}/connections`).set(bearer(second.key)).send(body);
    expect(taken.status).toBe(409);
    expect(taken.body.error.message).toBe('this externalVenueId is already linked');
    expect(taken.body.error.details).toBeUndefined();
    expect(JSON.stringify(taken.body)).not.toMatch(/connections_|constraint|First|uq/i);
    const created = await request(app).post(`/v1/venues/${secondVenue}/connections`).set(bearer(second.key)).send({ aggregator: 'wellhub' });
    const patched = await request(app).patch(`/v1/connections/${created.body.id}`).set(bearer(second.key)).send({ externalVenueId: '424242' });
    expect(patched.status).toBe(409);
    expect(patched.body.error.message).toBe('this externalVenueId is already linked');
  });
});

describe('what the fuzzer found in the document', () => {
  it('describes quotas as a closed object and setting keys with their limits, as the server enforces them', async () => {
    const doc = await openApi();
    const schemas = doc.components.schemas as Record<string, { properties?: Record<string, Record<string, unknown>> }>;
    expect(schemas.RegistrationRules?.properties?.aggregatorQuotas).toMatchObject({ additionalProperties: false });
    expect(schemas.CreateConnection?.properties?.settings).toMatchObject({ propertyNames: { maxLength: 100, pattern: '^[^\\u0000]*$' } });
    const { key } = await newCompany();
    const venueId = await newVenue(key);
    const quota = await request(app)
      .post('/v1/activities')
      .set(bearer(key))
      .send({ venueId, name: 'Yoga', maxParticipants: 5, registrationRules: { aggregatorQuotas: { gymbook: 1 } } });
    expect(quota.status).toBe(400);
    const longKey = await request(app).post(`/v1/venues/${venueId}/connections`).set(bearer(key)).send({ aggregator: 'onefit', settings: { ['k'.repeat(101)]: 1 } });
    expect(longKey.status).toBe(400);
  });

  it('answers the admin key on a company route with 403, not 401', async () => {
    const res = await request(app).get('/v1/venues').set(bearer(ADMIN_KEY));
    expect(res.status).toBe(403);
    expect(res.body.error.message).toMatch(/company API key/);
  });
});
