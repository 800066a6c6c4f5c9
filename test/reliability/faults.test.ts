/**
 * `npm run test:reliability`: the service as real OS processes (bin/service.ts api and worker) on one PostgreSQL and
 * one Temporal, a booking load over all five sandboxes in every scenario, a fault injected under that load, and the
 * invariants checked afterwards from both sides (see support/scenario.ts). RELIABILITY_SHORT=1 runs shorter loads.
 */
import { createHash, createHmac, randomBytes, randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createDb, type Db } from '../../db/index.js';
import { AGGREGATORS, type Aggregator } from '../../domain/model.js';
import { signWebhook } from '../../aggregators/partner/signature.js';
import { startSandboxWorld, type SandboxWorld } from '../support/sandbox-world.js';
import { freePort } from '../support/ports.js';
import { scratchDir, serviceProcess, sleep, startPostgres, startTemporal, type Postgres, type ServiceEnv, type ServiceProcess, type Temporal } from './support/infra.js';
import { report, runLoad, seed, SHORT, verify, type Seeded } from './support/scenario.js';

const LOAD_MS = SHORT ? 8_000 : 18_000;
const RATE = SHORT ? 6 : 8;
const SETTLE_MS = 120_000;

let scratch: string;
let pg: Postgres;
let temporal: Temporal;
let db: Db;
let env: ServiceEnv;
let baseWorld: SandboxWorld;
const apis: ServiceProcess[] = [];
const workers: ServiceProcess[] = [];
const reports: string[] = [];
/** One line per scenario, printed once more at the end. */
const summary: string[] = [];
let failures = 0;

async function addProcess(role: 'api' | 'worker'): Promise<ServiceProcess> {
  const list = role === 'api' ? apis : workers;
  const p = serviceProcess(role, `${role}-${list.length + 1}`, role === 'api' ? await freePort() : 0, env);
  await p.start();
  list.push(p);
  return p;
}

beforeAll(async () => {
  scratch = scratchDir(mkdtempSync(path.join(os.tmpdir(), 'aggregator-bookings-reliability-')));
  [pg, temporal] = await Promise.all([startPostgres(path.join(scratch, 'pg')), startTemporal(scratch)]);
  db = createDb(pg.url, 5, () => undefined);
  baseWorld = await startSandboxWorld();
  env = {
    databaseUrl: pg.url,
    temporalAddress: temporal.address,
    taskQueue: `reliability-${randomUUID().slice(0, 8)}`,
    adminKey: `admin_${randomBytes(18).toString('base64url')}`,
    secretsKey: randomBytes(32).toString('base64'),
    sandboxUrls: Object.fromEntries(AGGREGATORS.map((a) => [a, baseWorld.sandboxes[a].url])) as Record<Aggregator, string>,
    dataDir: path.join(scratch, 'service'),
  };
  await addProcess('api');
  await addProcess('worker');
}, 300_000);

afterAll(async () => {
  process.stdout.write(`\n== reliability summary\n${summary.join('\n')}\n`);
  for (const p of [...apis, ...workers]) await p.kill('SIGTERM');
  await db?.destroy();
  await baseWorld?.close();
  await temporal?.stop();
  await pg?.stop();
  // The service's logs stay for a look when a scenario failed.
  if (scratch && failures === 0) rmSync(scratch, { recursive: true, force: true });
  else if (scratch) process.stdout.write(`service logs kept in ${env.dataDir}\n`);
}, 120_000);

const api = () => apis.find((p) => p.alive()) ?? apis[0]!;
const liveApiUrls = () => apis.filter((p) => p.alive()).map((p) => p.url);

interface Scenario {
  title: string;
  /** Where each aggregator sends its webhooks; default the first API. */
  webhookBase?: (aggregator: Aggregator) => string;
  /** The fault, started a third into the load; returns what it did. */
  fault?: (seeded: Seeded) => Promise<string[]>;
  /** Runs after the load, before the checks (clearing faults). */
  after?: (seeded: Seeded) => Promise<void>;
  /** PIDs that must stay alive from start to end. */
  watchPids?: boolean;
  /** Onefit's one-second answers judged (not while the database or the only API process is down). */
  onefitStrict?: boolean;
  /** More checks of the scenario's own. */
  extraRows?: () => [string, string, boolean][];
}

async function scenario(s: Scenario): Promise<void> {
  const seeded = await seed(api().url, env.adminKey, db, s.webhookBase ?? (() => api().url));
  const pids = [...apis, ...workers].map((p) => ({ name: p.name, pid: p.pid(), exits: p.unexpectedExits }));
  const tried: string[] = [];
  let faultError: unknown;
  const faultRun = (async () => {
    await sleep(LOAD_MS / 3);
    try {
      tried.push(...((await s.fault?.(seeded)) ?? []));
    } catch (error) {
      faultError = error;
    }
  })();
  const load = await runLoad(seeded, () => (liveApiUrls().length > 0 ? liveApiUrls() : [api().url]), RATE, LOAD_MS);
  await faultRun;
  await s.after?.(seeded);
  const verdict = await verify(seeded, db, load, SETTLE_MS, { onefitStrict: s.onefitStrict ?? true });
  if (s.watchPids) {
    const changed = [...apis, ...workers].filter((p) => {
      const before = pids.find((b) => b.name === p.name);
      return !p.alive() || p.pid() !== before?.pid || p.unexpectedExits !== before?.exits;
    });
    verdict.rows.push(['service processes that exited (PID changed or gone)', changed.length === 0 ? `0 of ${pids.length}` : changed.map((p) => p.name).join(', '), changed.length === 0]);
    verdict.ok = verdict.ok && changed.length === 0;
  }
  for (const row of s.extraRows?.() ?? []) {
    verdict.rows.push(row);
    verdict.ok = verdict.ok && row[2];
  }
  const crashed = [...apis, ...workers].filter((p) => p.unexpectedExits > 0);
  verdict.rows.push(['service processes that crashed on their own', crashed.length === 0 ? '0' : crashed.map((p) => `${p.name} ×${p.unexpectedExits}`).join(', '), crashed.length === 0]);
  verdict.ok = verdict.ok && crashed.length === 0;
  tried.push(`load: ${RATE} requests/s for ${LOAD_MS / 1000} s over 5 aggregators + direct bookings, 3 sessions of 8 (aggregator limit 6, quotas wellhub 3, onefit 2)`);
  if (load.errors.length > 0) tried.push(`member bookings the sandboxes refused to create: ${load.errors.length} (${load.errors[0]})`);
  const text = report(s.title, tried, verdict);
  reports.push(text);
  summary.push(`   ${verdict.ok ? 'held' : 'FAIL'}  ${s.title}: ${verdict.numbers.acknowledged} acknowledged, ${verdict.numbers.reserved} reserved, ${verdict.numbers.direct} direct, settled in ${((verdict.numbers.settleMs ?? 0) / 1000).toFixed(1)} s`);
  process.stdout.write(`${text}\n`);
  await seeded.world.close();
  expect(faultError).toBeUndefined();
  expect(verdict.rows.filter(([, , ok]) => !ok)).toEqual([]);
}

afterEach((ctx) => {
  if (ctx.task.result?.state === 'fail') failures += 1;
});

describe('reliability', () => {
  it('1. the worker and the API killed with SIGKILL mid-load and restarted', async () => {
    await scenario({
      title: '1. SIGKILL of the worker and the API mid-load, then restarted',
      onefitStrict: false,
      fault: async () => {
        const worker = workers[0]!;
        const apiProcess = apis[0]!;
        await Promise.all([worker.kill('SIGKILL'), apiProcess.kill('SIGKILL')]);
        const [apiMs, workerMs] = await Promise.all([apiProcess.start(), worker.start()]);
        return [`SIGKILL to api-1 and worker-1 at ${LOAD_MS / 3000} s; back up after ${(apiMs / 1000).toFixed(1)} s (API) and ${(workerMs / 1000).toFixed(1)} s (worker)`];
      },
    });
  });

  it('2. PostgreSQL stopped abruptly (pg_ctl stop -m immediate) and restarted under load, no service process exits', async () => {
    await scenario({
      title: '2. PostgreSQL crash (pg_ctl stop -m immediate) and restart under load',
      onefitStrict: false,
      watchPids: true,
      fault: async () => {
        await pg.crash();
        await sleep(2_000);
        const ms = await pg.start();
        return [`pg_ctl stop -m immediate, down 2 s, crash recovery and start in ${(ms / 1000).toFixed(1)} s`];
      },
    });
  });

  it('3. the Temporal server restarted under load', async (ctx) => {
    if (!temporal.restart) {
      const text = `== 3. Temporal restart: skipped (${temporal.describe}; set RELIABILITY_TEMPORAL_RESTART_CMD to restart it)`;
      summary.push(`   skip  ${text.slice(3)}`);
      process.stdout.write(`\n${text}\n`);
      ctx.skip();
      return;
    }
    await scenario({
      title: `3. Temporal server restarted under load (${temporal.describe})`,
      watchPids: true,
      fault: async () => {
        const ms = await temporal.restart!();
        return [`Temporal stopped and started again on the same store: ${(ms / 1000).toFixed(1)} s unavailable`];
      },
    });
  });

  it('4. two API and two worker processes sharing one Temporal and one PostgreSQL', async () => {
    while (apis.length < 2) await addProcess('api');
    while (workers.length < 2) await addProcess('worker');
    // Wellhub and ClassPass send to one API, the others to the second; direct bookings alternate between them.
    await scenario({
      title: '4. two API and two worker processes on one Temporal and one PostgreSQL',
      webhookBase: (aggregator) => apis[AGGREGATORS.indexOf(aggregator) < 2 ? 0 : 1]!.url,
      fault: () => Promise.resolve([`api-1 and api-2 (both running inbox dispatchers, relays, sweepers), worker-1 and worker-2 on one task queue`]),
    });
  });

  it('5. sandboxes failing half their calls, answering after 2 s, or 429 with Retry-After', async () => {
    await scenario({
      title: '5. aggregator faults: 5xx, 2 s latency, 429 with Retry-After',
      fault: async (seeded) => {
        for (const aggregator of AGGREGATORS) {
          await seeded.world.fault(aggregator, [
            { rate: 0.3, status: 503, path: '^/(?!__sandbox)' },
            { rate: 0.3, status: 429, retryAfter: 1, path: '^/(?!__sandbox)' },
            { rate: 0.3, latencyMs: 2_000, path: '^/(?!__sandbox)' },
          ] as unknown as Record<string, unknown>);
        }
        return ['every sandbox: 30 % of calls 503, then 30 % of the rest 429 (Retry-After: 1), then 30 % of the rest served after 2 s (about 65 % of calls hit)'];
      },
      after: async (seeded) => {
        await sleep(5_000);
        for (const aggregator of AGGREGATORS) await seeded.world.clearFaults(aggregator);
      },
    });
  });

  it('6. webhooks duplicated, reordered and delayed', async () => {
    const proxy = await startMangler(() => api().url);
    try {
      await scenario({
        title: '6. webhooks duplicated, reordered and delayed (a proxy between the sandboxes and the API)',
        webhookBase: () => proxy.url,
        fault: () => Promise.resolve([`every webhook: delayed 0–800 ms (Onefit 0–150 ms) so that they overtake each other, sent 2–3 times at once, and once more 2–5 s later`]),
        extraRows: () => {
          const conflicting = proxy.conflicting();
          const failed = Object.entries(proxy.stats.statuses).filter(([status]) => Number(status) >= 500).reduce((a, [, n]) => a + n, 0);
          return [
            ['webhook copies answered 5xx', `${failed} of ${proxy.stats.forwarded}`, failed === 0],
            ['copies of one request answered with different decisions', conflicting.length === 0 ? '0' : `${conflicting.length}: ${conflicting.slice(0, 3).join('; ')}`, conflicting.length === 0],
          ];
        },
        after: async () => {
          await sleep(6_000);
          process.stdout.write(`   proxy: ${proxy.stats.received} webhooks received, ${proxy.stats.forwarded} forwarded (${proxy.stats.late} late copies); statuses ${JSON.stringify(proxy.stats.statuses)}\n`);
        },
      });
    } finally {
      await proxy.close();
    }
  });

  it('7. forged, stale and missing signatures are refused with a 4xx and write nothing', async () => {
    const seeded = await seed(api().url, env.adminKey, db, () => api().url);
    try {
      const before = await tableCounts();
      const results: Record<string, number[]> = { forged: [], stale: [], missing: [] };
      for (const aggregator of AGGREGATORS) {
        const body = aggregator === 'wellhub' ? wellhubBody(seeded, aggregator) : partnerBody(seeded, aggregator);
        const raw = Buffer.from(JSON.stringify(body));
        const secret = seeded.world.sandboxes[aggregator].connection.webhookSecret;
        const variants: Record<string, Record<string, string>> =
          aggregator === 'wellhub'
            ? {
                forged: { 'x-gympass-signature': createHmac('sha1', 'not-the-secret').update(raw).digest('hex').toUpperCase() },
                // Wellhub signs the body only: an old event is a replay, recognised by its event id, so a stale
                // variant is a resent body whose signature belongs to another body.
                stale: { 'x-gympass-signature': createHmac('sha1', secret).update(Buffer.from(JSON.stringify({ ...body, event_id: 'other' }))).digest('hex').toUpperCase() },
                missing: {},
              }
            : {
                forged: signWebhook('not-the-secret', raw, Date.now() / 1000),
                stale: signWebhook(secret, raw, Date.now() / 1000 - 3_600),
                missing: {},
              };
        for (const [kind, headers] of Object.entries(variants)) {
          for (let i = 0; i < 5; i += 1) {
            const res = await fetch(`${api().url}/webhooks/${aggregator}`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: raw });
            await res.arrayBuffer();
            results[kind]!.push(res.status);
          }
        }
      }
      const after = await tableCounts();
      const all = Object.values(results).flat();
      const rows: [string, string, boolean][] = [
        ...Object.entries(results).map(([kind, statuses]): [string, string, boolean] => [`${kind} signatures answered 4xx`, `${statuses.filter((s) => s >= 400 && s < 500).length} of ${statuses.length} (${[...new Set(statuses)].join(', ')})`, statuses.every((s) => s >= 400 && s < 500)]),
        ['rows written (inbox, requests, bookings, customers)', JSON.stringify(diff(before, after)), JSON.stringify(before) === JSON.stringify(after)],
      ];
      const width = Math.max(...rows.map(([l]) => l.length));
      const text = [
        '',
        '== 7. forged, stale and missing signatures',
        `   tried: ${all.length} webhooks (5 aggregators × forged/stale/missing × 5), each a valid booking request for a real session`,
        ...rows.map(([label, value, ok]) => `   ${ok ? 'held ' : 'FAIL '} ${label.padEnd(width)}  ${value}`),
      ].join('\n');
      reports.push(text);
      process.stdout.write(`${text}\n`);
      expect(rows.filter(([, , ok]) => !ok)).toEqual([]);
    } finally {
      await seeded.world.close();
    }
  });
});

async function tableCounts(): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const table of ['webhook_inbox', 'booking_requests', 'bookings', 'customers'] as const) {
    const row = await db.selectFrom(table).select((eb) => eb.fn.countAll<string>().as('n')).executeTakeFirstOrThrow();
    out[table] = Number(row.n);
  }
  return out;
}

const diff = (a: Record<string, number>, b: Record<string, number>) => Object.fromEntries(Object.keys(a).map((k) => [k, (b[k] ?? 0) - (a[k] ?? 0)]));

function wellhubBody(seeded: Seeded, aggregator: Aggregator): Record<string, unknown> {
  return {
    event_type: 'booking-requested',
    event_id: randomUUID(),
    event_data: {
      user: { unique_token: `forged-${randomUUID().slice(0, 8)}`, name: 'Mallory', email: 'mallory@example.test' },
      slot: { id: Number(seeded.external[aggregator][0]), gym_id: Number(seeded.world.sandboxes.wellhub.connection.externalVenueId), class_id: 1, booking_number: `F${Date.now()}` },
      timestamp: Date.now(),
    },
  };
}

function partnerBody(seeded: Seeded, aggregator: Aggregator): Record<string, unknown> {
  return {
    id: `evt_${randomUUID()}`,
    type: 'booking.requested',
    created_at: new Date().toISOString(),
    data: {
      booking_id: `bk_forged_${randomUUID().slice(0, 8)}`,
      venue_id: seeded.world.sandboxes[aggregator].connection.externalVenueId,
      session_reference: seeded.external[aggregator][0],
      member: { id: `forged-${randomUUID().slice(0, 8)}`, name: 'Mallory', email: 'mallory@example.test' },
      requested_at: new Date().toISOString(),
    },
  };
}

interface Mangler {
  url: string;
  stats: { received: number; forwarded: number; late: number; statuses: Record<string, number> };
  /** Events whose copies were answered with different decisions (one request, two answers). */
  conflicting(): string[];
  close(): Promise<void>;
}

/**
 * Between the sandboxes and the API: each webhook is held a random while (so later ones overtake it), sent two or
 * three times at once, and once more seconds later; the sandbox gets the first answer.
 */
async function startMangler(target: () => string): Promise<Mangler> {
  const stats: Mangler['stats'] = { received: 0, forwarded: 0, late: 0, statuses: {} };
  const timers = new Set<NodeJS.Timeout>();
  // The decision each copy of an event heard: Onefit's answer is the response itself; the others may hear a
  // decision already taken when they send a copy again.
  const decisions = new Map<string, Set<string>>();
  const forward = async (url: string, headers: Record<string, string>, body: Buffer) => {
    stats.forwarded += 1;
    try {
      const res = await fetch(`${target()}${url}`, { method: 'POST', headers, body, signal: AbortSignal.timeout(10_000) });
      const text = await res.text();
      stats.statuses[res.status] = (stats.statuses[res.status] ?? 0) + 1;
      try {
        const parsed = JSON.parse(text) as { status?: string; decision?: { status?: string } };
        const decision = url.includes('onefit') ? parsed.status : parsed.decision?.status;
        if (res.status < 300 && decision !== undefined) {
          const key = `${url} ${createHash('sha256').update(body).digest('hex')}`;
          const seen = decisions.get(key) ?? new Set<string>();
          seen.add(decision === 'confirmed' ? 'RESERVED' : decision === 'rejected' ? 'REJECTED' : decision);
          decisions.set(key, seen);
        }
      } catch {
        // Not JSON: no decision in it.
      }
      return { status: res.status, text, type: res.headers.get('content-type') ?? 'application/json' };
    } catch (error) {
      const cause = (error as { cause?: { code?: string } }).cause?.code ?? (error as Error).name;
      stats.statuses[cause] = (stats.statuses[cause] ?? 0) + 1;
      return { status: 502, text: '', type: 'text/plain' };
    }
  };
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      stats.received += 1;
      const body = Buffer.concat(chunks);
      const headers: Record<string, string> = {};
      for (const [k, v] of Object.entries(req.headers)) if (typeof v === 'string' && !['host', 'content-length', 'connection'].includes(k)) headers[k] = v;
      const url = req.url ?? '/';
      const synchronous = url.includes('onefit');
      void (async () => {
        await sleep(Math.random() * (synchronous ? 150 : 800));
        const copies = 2 + Math.floor(Math.random() * 2);
        const first = await Promise.race(Array.from({ length: copies }, () => forward(url, headers, body)));
        res.writeHead(first.status, { 'content-type': first.type });
        res.end(first.text);
        const timer = setTimeout(() => {
          timers.delete(timer);
          stats.late += 1;
          void forward(url, headers, body);
        }, 2_000 + Math.random() * 3_000);
        timers.add(timer);
      })();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    stats,
    conflicting: () => [...decisions.entries()].filter(([, seen]) => seen.size > 1).map(([key, seen]) => `${key.split(' ')[0]}: ${[...seen].join(' and ')}`),
    close: async () => {
      for (const t of timers) clearTimeout(t);
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
