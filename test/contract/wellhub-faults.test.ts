import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { formatInOffset } from '../../domain/time.js';
import { AggregatorHttpError } from '../../aggregators/http.js';
import { createSandboxClock, listen } from '../../aggregators/sandbox-kit/index.js';
import type { ConnectionContext } from '../../aggregators/types.js';
import type { SessionListing } from '../../domain/listing.js';
import { createWellhubAdapter, type WellhubAdapter } from '../../aggregators/wellhub/index.js';
import { NOW } from '../support/wellhub.js';
import { startWellhubSandbox, type RunningWellhubSandbox } from '../../aggregators/wellhub/sandbox/index.js';

/**
 * Every class of failure the adapter can meet, injected in the sandbox, and how the adapter classifies it for
 * Temporal: retryable or not, Retry-After honoured, Wellhub's message carried.
 */

const TIMEOUT_MS = 400;

let sandbox: RunningWellhubSandbox;
let adapter: WellhubAdapter;
let ctx: ConnectionContext;

beforeAll(async () => {
  const clock = createSandboxClock({ start: NOW, frozen: true });
  sandbox = await startWellhubSandbox({ clock });
  adapter = createWellhubAdapter({ timeoutMs: TIMEOUT_MS, now: () => clock.now() });
  ctx = sandbox.connection();
});
afterEach(() => sandbox.reset());
afterAll(async () => sandbox.close());

async function failure(call: Promise<unknown>): Promise<AggregatorHttpError> {
  const error = await call.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(AggregatorHttpError);
  return error as AggregatorHttpError;
}

const session = (): SessionListing => ({
  sessionId: 's',
  startsAt: formatInOffset(new Date(NOW + 86_400_000), '+00:00'),
  durationMinutes: 50,
  room: 'Main hall',
  instructors: [],
  totalCapacity: 10,
  totalBooked: 0,
  active: true,
});

const pushClass = async () =>
  (await adapter.pushActivity(ctx, { activityId: 'a', name: 'Yoga', description: 'd', category: null, bookable: true, visible: true })).externalId;

describe('server errors', () => {
  it('500 is retryable; the next attempt goes through once the fault is spent', async () => {
    sandbox.faults.set({ status: 500, times: 1 });
    const error = await failure(adapter.listProducts(ctx));
    expect(error).toMatchObject({ status: 500, retryable: true, operation: 'listProducts', aggregatorMessage: 'injected fault: HTTP 500' });
    await expect(adapter.listProducts(ctx)).resolves.toMatchObject({ gym_id: 1 });
    expect(sandbox.calls().map((c) => c.status)).toEqual([500, 200]);
  });

  it('carries the message of an error body', async () => {
    sandbox.faults.set({ status: 502, body: { message: 'upstream booking service down' } });
    const error = await failure(adapter.health(ctx));
    expect(error).toMatchObject({ status: 502, retryable: true, aggregatorMessage: 'upstream booking service down' });
    expect(error.retryAfterMs).toBeUndefined();
  });

  it('an error rate fails that share of the calls (deterministic randomness)', async () => {
    const rolls = [0.2, 0.8, 0.4, 0.9];
    const flaky = await startWellhubSandbox({ random: () => rolls.shift() ?? 1 });
    try {
      flaky.faults.set({ status: 500, rate: 0.5 });
      const flakyCtx = flaky.connection();
      const outcomes = [];
      for (let i = 0; i < 4; i++) outcomes.push(await adapter.health(flakyCtx).then(() => 'ok', (e: AggregatorHttpError) => e.status));
      expect(outcomes).toEqual([500, 'ok', 500, 'ok']);
    } finally {
      await flaky.close();
    }
  });
});

describe('throttling and unavailability', () => {
  it('429 with Retry-After in seconds: retryable, retryAfterMs set', async () => {
    sandbox.faults.set({ status: 429, retryAfter: 7, body: { message: 'Too many requests' } });
    const error = await failure(adapter.listClasses(ctx));
    expect(error).toMatchObject({ status: 429, retryable: true, retryAfterMs: 7_000, aggregatorMessage: 'Too many requests' });
  });

  it('503 with Retry-After in seconds', async () => {
    sandbox.faults.set({ status: 503, retryAfter: 3 });
    expect(await failure(adapter.listClasses(ctx))).toMatchObject({ status: 503, retryable: true, retryAfterMs: 3_000 });
  });

  it('503 with Retry-After as an HTTP date', async () => {
    sandbox.faults.set({ status: 503, retryAfter: new Date(Date.now() + 60_000).toUTCString() });
    const error = await failure(adapter.listClasses(ctx));
    expect(error.retryAfterMs).toBeGreaterThan(55_000);
    expect(error.retryAfterMs).toBeLessThanOrEqual(60_000);
  });
});

describe('client errors', () => {
  it.each([400, 401, 403, 404, 422])('%i is non-retryable and carries Wellhub message', async (status) => {
    sandbox.faults.set({ status, body: { message: `wellhub says ${status}` } });
    const error = await failure(adapter.listClasses(ctx));
    expect(error).toMatchObject({ status, retryable: false, aggregatorMessage: `wellhub says ${status}` });
    expect(error.message).toContain(`HTTP ${status}`);
  });

  it.each([408, 409])('%i is retryable by the classification rule', async (status) => {
    sandbox.faults.set({ status });
    expect(await failure(adapter.listClasses(ctx))).toMatchObject({ status, retryable: true });
  });

  it('real ones from the sandbox: 401, 404, 422 non-retryable with the reason; 409 retryable', async () => {
    expect(await failure(adapter.listClasses({ ...ctx, credentials: { apiToken: 'x' } }))).toMatchObject({ status: 401, retryable: false, aggregatorMessage: 'invalid token' });
    expect(await failure(adapter.getClass(ctx, '424242'))).toMatchObject({ status: 404, retryable: false, aggregatorMessage: 'class 424242 not found' });
    const classId = await pushClass();
    const wrongProduct = { ...ctx, settings: { productId: 999 } };
    const unprocessable = await failure(adapter.createSession(wrongProduct, classId, session()));
    expect(unprocessable).toMatchObject({ status: 422, retryable: false });
    expect(unprocessable.aggregatorMessage).toContain('product 999 does not exist');
    await adapter.createSession(ctx, classId, session());
    const body = { occur_date: session().startsAt, room: 'Main hall', length_in_minutes: 50, total_capacity: 10, total_booked: 0, product_id: 1 };
    expect(await failure(adapter.client.createSlot(ctx, classId, body))).toMatchObject({ status: 409, retryable: true });
  });

  it('a 2xx whose body breaks the contract is non-retryable (retrying cannot fix a drift)', async () => {
    sandbox.faults.set({ status: 200, body: { unexpected: true }, path: '/classes$', method: 'GET' });
    const error = await failure(adapter.listClasses(ctx));
    expect(error).toMatchObject({ status: 200, retryable: false });
    expect(error.aggregatorMessage).toMatch(/^unexpected answer: classes/);
  });
});

describe('slowness and silence', () => {
  it('added latency below the timeout: the call succeeds, late', async () => {
    sandbox.faults.set({ latencyMs: 250 });
    const started = Date.now();
    await expect(adapter.listProducts(ctx)).resolves.toMatchObject({ gym_id: 1 });
    expect(Date.now() - started).toBeGreaterThanOrEqual(240);
  });

  it('latency beyond the timeout fails the attempt, retryable, without a status', async () => {
    sandbox.faults.set({ latencyMs: TIMEOUT_MS + 400 });
    const error = await failure(adapter.listProducts(ctx));
    expect(error).toMatchObject({ status: undefined, retryable: true, aggregatorMessage: `no answer within ${TIMEOUT_MS} ms` });
  });

  it('latency then an error status', async () => {
    sandbox.faults.set({ latencyMs: 100, status: 503, retryAfter: 1 });
    expect(await failure(adapter.listProducts(ctx))).toMatchObject({ status: 503, retryAfterMs: 1_000 });
  });

  it('a hang (never answered) times out, retryable; the sandbox keeps serving others', async () => {
    sandbox.faults.set({ hang: true, times: 1 });
    const started = Date.now();
    const error = await failure(adapter.confirmBooking(ctx, { bookingNumber: '1' }));
    expect(error).toMatchObject({ status: undefined, retryable: true, aggregatorMessage: `no answer within ${TIMEOUT_MS} ms` });
    expect(Date.now() - started).toBeGreaterThanOrEqual(TIMEOUT_MS - 20);
    expect(sandbox.calls()[0]).toMatchObject({ method: 'PATCH', status: undefined });
    await expect(adapter.health(ctx)).resolves.toBeUndefined();
  });

  it('connection refused is retryable, without a status', async () => {
    const dead = await listen((_req, res) => res.end());
    const url = dead.url;
    await dead.close();
    const error = await failure(adapter.health({ ...ctx, baseUrl: url }));
    expect(error).toMatchObject({ status: undefined, retryable: true });
    expect(error.aggregatorMessage).toMatch(/^connection failed: .*ECONNREFUSED/);
  });
});

describe('fault scoping and control', () => {
  it('a fault limited by path, method and count hits only those calls', async () => {
    const classId = await pushClass();
    sandbox.faults.set({ status: 500, path: '/slots$', method: 'POST', times: 2 });
    await failure(adapter.createSession(ctx, classId, session()));
    await failure(adapter.createSession(ctx, classId, session()));
    await expect(adapter.listClasses(ctx)).resolves.toHaveLength(1);
    await expect(adapter.createSession(ctx, classId, session())).resolves.toMatchObject({ externalId: expect.any(String) });
    expect(sandbox.faults.list()).toMatchObject([{ hits: 2, times: 2 }]);
  });

  it('faults set over HTTP: POST adds, GET lists with hits, PUT replaces, DELETE clears', async () => {
    const control = `${sandbox.url}/__sandbox/faults`;
    const json = { 'content-type': 'application/json' };
    const added = await fetch(control, { method: 'POST', headers: json, body: JSON.stringify({ status: 503, retryAfter: 2, path: '/products$' }) });
    expect(added.status).toBe(201);
    expect(await failure(adapter.listProducts(ctx))).toMatchObject({ status: 503, retryAfterMs: 2_000 });
    await adapter.health(ctx);
    const listed = (await (await fetch(control)).json()) as { faults: { hits: number; path: string }[] };
    expect(listed.faults).toMatchObject([{ hits: 1, path: '/products$' }]);

    const replaced = await fetch(control, { method: 'PUT', headers: json, body: JSON.stringify({ rules: [{ status: 429, retryAfter: 9 }] }) });
    expect(replaced.status).toBe(200);
    expect(await failure(adapter.health(ctx))).toMatchObject({ status: 429, retryAfterMs: 9_000 });

    expect((await fetch(control, { method: 'DELETE' })).status).toBe(204);
    await expect(adapter.health(ctx)).resolves.toBeUndefined();
  });

  it('an invalid fault rule is refused with 400', async () => {
    const response = await fetch(`${sandbox.url}/__sandbox/faults`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ status: 700, path: '(' }),
    });
    expect(response.status).toBe(400);
    const body = (await response.json()) as { errors: { field: string }[] };
    expect(body.errors.map((e) => e.field)).toEqual(expect.arrayContaining(['status', 'path']));
  });

  it('faults never hit the control API itself', async () => {
    sandbox.faults.set({ status: 500 });
    expect((await fetch(`${sandbox.url}/__sandbox/state`)).status).toBe(200);
    expect((await fetch(`${sandbox.url}/__sandbox/faults`)).status).toBe(200);
  });
});
