/**
 * One reliability scenario: a studio connected to all five sandboxes (a world of its own), a booking load of members
 * booking at the sandboxes (which send the signed webhooks) and of direct bookings through the API, a fault injected
 * while it runs, and afterwards the checks every scenario must pass, read from both sides (each sandbox's state and
 * the ledger in PostgreSQL).
 */
import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import { startSandboxWorld, type SandboxWorld } from '../../support/sandbox-world.js';
import { AGGREGATORS, SPOT_HOLDING_STATUSES, type Aggregator } from '../../../domain/model.js';
import { aggregatorOffer } from '../../../domain/free-spots.js';
import type { Db } from '../../../db/index.js';
import { sleep } from './infra.js';

export const SHORT = process.env.RELIABILITY_SHORT === '1' || process.argv.includes('--short');

export const CAPACITY = 8;
export const AGGREGATOR_LIMIT = 6;
export const QUOTAS: Partial<Record<Aggregator, number>> = { wellhub: 3, onefit: 2 };
const SESSIONS = 3;

export interface Seeded {
  world: SandboxWorld;
  key: string;
  companyId: string;
  connectionIds: Record<Aggregator, string>;
  sessionIds: string[];
  /** The session's id at each aggregator (Wellhub: the slot id). */
  external: Record<Aggregator, string[]>;
  customers: string[];
}

async function call<T>(base: string, key: string, method: string, path: string, body?: unknown): Promise<{ status: number; body: T }> {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: { authorization: `Bearer ${key}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(15_000),
  });
  const text = await res.text();
  return { status: res.status, body: (text === '' ? undefined : JSON.parse(text)) as T };
}

async function must<T>(base: string, key: string, method: string, path: string, body?: unknown): Promise<T> {
  const res = await call<T>(base, key, method, path, body);
  if (res.status >= 300) throw new Error(`${method} ${path}: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body;
}

async function eventually<T>(what: string, timeoutMs: number, check: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check().catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(300);
  }
}

/** A company, its venue connected to a fresh world of five sandboxes, an activity with capacity, limit and quotas. */
export async function seed(apiUrl: string, adminKey: string, db: Db, webhookBases: (aggregator: Aggregator) => string): Promise<Seeded> {
  const world = await startSandboxWorld();
  for (const aggregator of AGGREGATORS) {
    const res = await fetch(`${world.sandboxes[aggregator].url}/__sandbox/webhook`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ url: `${webhookBases(aggregator)}/webhooks/${aggregator}` }),
    });
    if (!res.ok) throw new Error(`webhook target of ${aggregator}: ${res.status}`);
  }
  const company = await must<{ apiKey: { key: string }; company: { id: string } }>(apiUrl, adminKey, 'POST', '/v1/companies', { name: `Reliability ${randomUUID().slice(0, 6)}` });
  const key = company.apiKey.key;
  const venue = await must<{ id: string }>(apiUrl, key, 'POST', '/v1/venues', { name: 'Hall', timeZone: 'Europe/Berlin' });
  const connectionIds = {} as Record<Aggregator, string>;
  for (const aggregator of AGGREGATORS) {
    connectionIds[aggregator] = (await must<{ id: string }>(apiUrl, key, 'POST', `/v1/venues/${venue.id}/connections`, world.connectionBody(aggregator))).id;
  }
  const activity = await must<{ id: string }>(apiUrl, key, 'POST', '/v1/activities', {
    venueId: venue.id,
    name: 'Spin',
    maxParticipants: CAPACITY,
    registrationRules: { allowAggregatorBookings: true, aggregatorLimit: AGGREGATOR_LIMIT, aggregatorQuotas: QUOTAS },
  });
  const sessionIds: string[] = [];
  for (let i = 0; i < SESSIONS; i += 1) {
    const d = new Date(Date.now() + 86_400_000);
    d.setUTCHours(8 + i * 2, 0, 0, 0);
    sessionIds.push((await must<{ id: string }>(apiUrl, key, 'POST', `/v1/activities/${activity.id}/sessions`, { startsAt: d.toISOString().replace('.000Z', '+00:00'), durationMinutes: 60 })).id);
  }
  const external = {} as Record<Aggregator, string[]>;
  for (const aggregator of AGGREGATORS) {
    external[aggregator] = [];
    for (const sessionId of sessionIds) {
      external[aggregator].push(
        await eventually(`${aggregator} to hold session ${sessionId}`, 90_000, async () => {
          const row = await db
            .selectFrom('session_publications')
            .select('external_id')
            .where('session_id', '=', sessionId)
            .where('connection_id', '=', connectionIds[aggregator])
            .where('removed', '=', false)
            .executeTakeFirst();
          return row?.external_id ?? undefined;
        }),
      );
    }
  }
  const customers: string[] = [];
  for (let i = 0; i < 6; i += 1) customers.push((await must<{ id: string }>(apiUrl, key, 'POST', '/v1/customers', { name: `Walk-in ${i}` })).id);
  return { world, key, companyId: company.company.id, connectionIds, sessionIds, external, customers };
}

// --- load ----------------------------------------------------------------------------------------------------------------

export interface LoadResult {
  sent: number;
  /** Member bookings the sandboxes created (each sends its webhook). */
  memberBookings: number;
  /** Direct bookings the API answered 201 (they must be in the ledger, reserved). */
  directReserved: string[];
  directRefused: number;
  directFailed: number;
  errors: string[];
}

/**
 * `rate` requests a second for `durationMs`, round robin over the five aggregators and the API's direct booking, each
 * for a random session: far more than the spots, so requests race for the last ones on every channel.
 */
export async function runLoad(seeded: Seeded, apiUrls: () => string[], rate: number, durationMs: number): Promise<LoadResult> {
  const result: LoadResult = { sent: 0, memberBookings: 0, directReserved: [], directRefused: 0, directFailed: 0, errors: [] };
  const channels: (Aggregator | 'direct')[] = [...AGGREGATORS, 'direct'];
  const pending: Promise<void>[] = [];
  const started = Date.now();
  for (let i = 0; Date.now() - started < durationMs; i += 1) {
    const due = started + (i * 1000) / rate;
    if (due > Date.now()) await sleep(due - Date.now());
    const channel = channels[i % channels.length]!;
    const session = Math.floor(Math.random() * SESSIONS);
    result.sent += 1;
    pending.push(
      (async () => {
        if (channel === 'direct') {
          const urls = apiUrls();
          const customerId = seeded.customers[i % seeded.customers.length]!;
          try {
            const res = await call<{ id: string }>(urls[i % urls.length]!, seeded.key, 'POST', `/v1/sessions/${seeded.sessionIds[session]}/bookings`, { customerId });
            if (res.status === 201) result.directReserved.push(res.body.id);
            else if (res.status === 409) result.directRefused += 1;
            else result.directFailed += 1;
          } catch {
            result.directFailed += 1;
          }
          return;
        }
        try {
          const member = { id: `m-${randomUUID().slice(0, 12)}`, name: 'Member', email: 'member@example.test' };
          await seeded.world.requestBooking(channel, { sessionId: seeded.external[channel][session]!, member });
          result.memberBookings += 1;
        } catch (error) {
          result.errors.push(`${channel}: ${error instanceof Error ? error.message : String(error)}`);
        }
      })(),
    );
  }
  await Promise.all(pending);
  return result;
}

// --- what the sandboxes hold -------------------------------------------------------------------------------------------

interface HeldRequest {
  aggregator: Aggregator;
  number: string;
  /** Which external session (index into Seeded.external). */
  session: number;
  status: 'pending' | 'reserved' | 'rejected' | 'other';
  /** The aggregator gave up waiting (its own deadline). */
  expired: boolean;
  /** Distinct final answers the aggregator accepted from us. */
  answers: number;
  answeredAt: number | undefined;
  deadlineAt: number;
  /** Some delivery of its booking request got a 2xx. */
  acknowledged: boolean;
  /** A delivery reached the service and got no answer within the sender's wait (not: the service was down). */
  timedOut: boolean;
}

const getJson = async <T>(url: string): Promise<T> => {
  const res = await fetch(url, { signal: AbortSignal.timeout(15_000) });
  if (!res.ok) throw new Error(`GET ${url}: ${res.status}`);
  return (await res.json()) as T;
};

async function heldRequests(seeded: Seeded): Promise<HeldRequest[]> {
  const out: HeldRequest[] = [];
  for (const aggregator of AGGREGATORS) {
    const base = `${seeded.world.sandboxes[aggregator].url}/__sandbox`;
    const sessionIndex = (id: string) => seeded.external[aggregator].indexOf(id);
    if (aggregator === 'wellhub') {
      const state = await getJson<{ gyms: Array<{ bookings: Array<{ booking_number: string; slot_id: number; state: string; auto_rejected: boolean; requested_at: number | string; deadline_at: number | string; history: Array<{ state: string; at: number | string; by: string }> }> }> }>(`${base}/state`);
      const { deliveries } = await getJson<{ deliveries: Array<{ bookingNumber: string; eventType: string; acknowledged: boolean }> }>(`${base}/deliveries`);
      const acked = new Set(deliveries.filter((d) => d.eventType === 'booking-requested' && d.acknowledged).map((d) => d.bookingNumber));
      for (const b of state.gyms.flatMap((g) => g.bookings)) {
        const gymAnswers = b.history.filter((h) => h.by === 'gym' && (h.state === 'RESERVED' || h.state === 'REJECTED'));
        out.push({
          aggregator,
          number: b.booking_number,
          session: sessionIndex(String(b.slot_id)),
          status: b.state === 'PENDING' ? 'pending' : b.state === 'RESERVED' ? 'reserved' : b.state === 'REJECTED' ? 'rejected' : 'other',
          expired: b.auto_rejected,
          answers: new Set(gymAnswers.map((h) => h.state)).size,
          answeredAt: gymAnswers[0] ? new Date(gymAnswers[0].at).getTime() : undefined,
          deadlineAt: new Date(b.deadline_at).getTime(),
          acknowledged: acked.has(b.booking_number),
          timedOut: false,
        });
      }
      continue;
    }
    const state = await getJson<{ bookings: Array<{ id: string; session_reference: string; status: string; respond_by: string; updated_at: string }> }>(`${base}/state`);
    const { deliveries } = await getJson<{ deliveries: Array<{ type: string; bookingId: string; attempts: Array<{ status: number | null; error?: string }> }> }>(`${base}/deliveries`);
    const timedOut = new Set(
      deliveries.filter((d) => d.type === 'booking.requested' && d.attempts.some((a) => a.status === null && (a.error ?? '').startsWith('no answer within'))).map((d) => d.bookingId),
    );
    const acked = new Set(
      deliveries.filter((d) => d.type === 'booking.requested' && d.attempts.some((a) => a.status !== null && a.status >= 200 && a.status < 300)).map((d) => d.bookingId),
    );
    const { calls } = await getJson<{ calls: Array<{ method: string; path: string; status: number | undefined }> }>(`${base}/calls?method=POST`);
    const verbs = new Map<string, Set<string>>();
    for (const c of calls) {
      const match = /\/bookings\/([^/]+)\/(confirm|reject)$/.exec(c.path);
      if (!match || c.status === undefined || c.status >= 300) continue;
      const set = verbs.get(match[1]!) ?? new Set<string>();
      set.add(match[2]!);
      verbs.set(match[1]!, set);
    }
    for (const b of state.bookings) {
      const final = b.status !== 'pending';
      out.push({
        aggregator,
        number: b.id,
        session: sessionIndex(b.session_reference),
        status: b.status === 'pending' ? 'pending' : b.status === 'confirmed' ? 'reserved' : b.status === 'rejected' || b.status === 'expired' ? 'rejected' : 'other',
        expired: b.status === 'expired',
        // Onefit's answer is the webhook's own response: one response, one answer.
        answers: aggregator === 'onefit' ? (final && b.status !== 'expired' ? 1 : 0) : (verbs.get(b.id)?.size ?? 0),
        answeredAt: final ? Date.parse(b.updated_at) : undefined,
        deadlineAt: Date.parse(b.respond_by),
        acknowledged: acked.has(b.id),
        timedOut: timedOut.has(b.id),
      });
    }
  }
  return out;
}

// --- the checks --------------------------------------------------------------------------------------------------------

export interface Verdict {
  rows: [string, string, boolean][];
  ok: boolean;
  numbers: Record<string, number>;
}

/** Waits until nothing acknowledged is pending at any sandbox, then checks every invariant against the ledger. */
export async function verify(seeded: Seeded, db: Db, load: LoadResult, settleTimeoutMs: number, options: { onefitStrict: boolean } = { onefitStrict: true }): Promise<Verdict> {
  const settleStarted = Date.now();
  let held: HeldRequest[] = [];
  for (;;) {
    held = await heldRequests(seeded);
    if (held.every((h) => h.status !== 'pending' || !h.acknowledged)) break;
    if (Date.now() - settleStarted > settleTimeoutMs) break;
    await sleep(1_000);
  }
  const settleMs = Date.now() - settleStarted;
  const connectionIds = Object.values(seeded.connectionIds);
  const readLedger = () =>
    db
      .selectFrom('booking_requests')
      .leftJoin('bookings', 'bookings.id', 'booking_requests.booking_id')
      .select(['booking_requests.aggregator', 'booking_requests.booking_number', 'booking_requests.decision', 'booking_requests.answer', 'bookings.status as bookingStatus'])
      .where('booking_requests.connection_id', 'in', connectionIds)
      .execute();
  const holds = (status: string | null) => status !== null && (SPOT_HOLDING_STATUSES as readonly string[]).includes(status);
  const differs = (byKey: Map<string, Awaited<ReturnType<typeof readLedger>>[number]>) =>
    held.filter((h) => {
      const row = byKey.get(`${h.aggregator}:${h.number}`);
      if (!row) return h.status !== 'pending' && h.status !== 'rejected';
      if (h.status === 'reserved') return row.bookingStatus !== 'reserved';
      if (h.status === 'rejected') return holds(row.bookingStatus);
      return false;
    });
  // The ledger follows the aggregator's answer within moments (a workflow's last step): give it up to 30 s.
  let ledger = await readLedger();
  let byKey = new Map(ledger.map((r) => [`${r.aggregator}:${r.booking_number}`, r]));
  let mismatched = differs(byKey);
  const ledgerDeadline = Date.now() + 30_000;
  while (mismatched.length > 0 && Date.now() < ledgerDeadline) {
    await sleep(1_000);
    held = await heldRequests(seeded);
    ledger = await readLedger();
    byKey = new Map(ledger.map((r) => [`${r.aggregator}:${r.booking_number}`, r]));
    mismatched = differs(byKey);
  }
  const heldKeys = new Set(held.map((h) => `${h.aggregator}:${h.number}`));
  const acknowledged = held.filter((h) => h.acknowledged);
  const unacknowledged = held.filter((h) => !h.acknowledged);

  const lost = acknowledged.filter((h) => h.status === 'pending' || !byKey.has(`${h.aggregator}:${h.number}`));
  const twice = held.filter((h) => h.answers > 1);
  // Onefit's deadline is its own wait for the response: an answer it took was in time by its clock (ours differ by the
  // sandbox's event-loop lag); one it did not take is its own rejection (expired), counted below.
  const late = acknowledged.filter((h) => h.expired || (h.aggregator !== 'onefit' && h.answeredAt !== undefined && h.answeredAt > h.deadlineAt));
  const onefit = held.filter((h) => h.aggregator === 'onefit');
  // Those the service took and answered too late; not those sent while no API process was listening.
  const onefitExpired = onefit.filter((h) => h.expired && h.timedOut);
  const unknownToAggregator = ledger.filter((r) => !heldKeys.has(`${r.aggregator}:${r.booking_number}`));
  // A request never acknowledged was not taken on: it may be answered (stored before the process died) or left to the
  // aggregator's own deadline, but it must not hold a spot without its aggregator being told.
  const unackHolding = unacknowledged.filter((h) => h.status === 'pending' && holds(byKey.get(`${h.aggregator}:${h.number}`)?.bookingStatus ?? null));

  // Capacity, limit and quota per session, from the ledger and from the sandboxes.
  const counts = await db
    .selectFrom('bookings')
    .select(['session_id', 'source', sql<number>`count(*)::int`.as('n')])
    .where('company_id', '=', seeded.companyId)
    .where('status', 'in', [...SPOT_HOLDING_STATUSES])
    .groupBy(['session_id', 'source'])
    .execute();
  const overbooked: string[] = [];
  const booked: Record<string, { total: number; aggregators: number; by: Partial<Record<string, number>> }> = {};
  for (const sessionId of seeded.sessionIds) {
    const rows = counts.filter((c) => c.session_id === sessionId);
    const total = rows.reduce((a, r) => a + r.n, 0);
    const aggregators = rows.filter((r) => r.source !== 'direct').reduce((a, r) => a + r.n, 0);
    const by = Object.fromEntries(rows.map((r) => [r.source, r.n]));
    booked[sessionId] = { total, aggregators, by };
    if (total > CAPACITY) overbooked.push(`${sessionId}: ${total} > capacity ${CAPACITY}`);
    if (aggregators > AGGREGATOR_LIMIT) overbooked.push(`${sessionId}: aggregators ${aggregators} > limit ${AGGREGATOR_LIMIT}`);
    for (const [aggregator, quota] of Object.entries(QUOTAS)) {
      if ((by[aggregator] ?? 0) > quota) overbooked.push(`${sessionId}: ${aggregator} ${by[aggregator]} > quota ${quota}`);
    }
  }
  for (let s = 0; s < SESSIONS; s += 1) {
    const reservedAt = held.filter((h) => h.session === s && h.status === 'reserved');
    if (reservedAt.length > AGGREGATOR_LIMIT) overbooked.push(`sandboxes, session ${s}: ${reservedAt.length} reserved > limit`);
    for (const [aggregator, quota] of Object.entries(QUOTAS)) {
      const n = reservedAt.filter((h) => h.aggregator === aggregator).length;
      if (n > quota) overbooked.push(`${aggregator} sandbox, session ${s}: ${n} reserved > quota ${quota}`);
    }
  }

  const direct = load.directReserved.length === 0 ? [] : await db.selectFrom('bookings').select(['id', 'status']).where('id', 'in', load.directReserved).execute();
  const directLost = load.directReserved.length - direct.filter((d) => d.status === 'reserved').length;

  // What each aggregator shows for each session equals what the ledger allows it (free spots neither hidden nor invented).
  const counted = async () => {
    const wrong: string[] = [];
    for (const aggregator of AGGREGATORS) {
      const { sessions } = await seeded.world.held(aggregator);
      seeded.sessionIds.forEach((sessionId, index) => {
        const shown = sessions.find((s) => s.id === seeded.external[aggregator][index]);
        const b = booked[sessionId]!;
        const offer = aggregatorOffer({
          maxParticipants: CAPACITY,
          capacityOverride: null,
          aggregatorLimit: AGGREGATOR_LIMIT,
          aggregatorLimitOverride: null,
          quota: QUOTAS[aggregator],
          booked: { total: b.total, aggregators: b.aggregators, thisAggregator: b.by[aggregator] ?? 0 },
        });
        const free = shown ? shown.capacity - shown.booked : -1;
        if (free !== offer.free) wrong.push(`${aggregator} session ${index}: shows ${free} free, ledger allows ${offer.free}`);
      });
    }
    return wrong;
  };
  let countsWrong = await counted();
  const countsDeadline = Date.now() + 60_000;
  while (countsWrong.length > 0 && Date.now() < countsDeadline) {
    await sleep(1_000);
    countsWrong = await counted();
  }

  const reserved = held.filter((h) => h.status === 'reserved').length;
  const rows: [string, string, boolean][] = [
    ['acknowledged requests lost (no ledger row or no final answer)', `${lost.length} of ${acknowledged.length}`, lost.length === 0],
    ['requests answered twice (two different answers accepted)', `${twice.length}`, twice.length === 0],
    ['answers after the deadline / left to the aggregator', `${late.length}`, late.length === 0],
    // Onefit waits one second and does not resend: on two shared cores under faults a few answers can miss it. The
    // target (99 % within the second) is the bench's; here at most 5 % may, and the ledger must follow Onefit.
    // While PostgreSQL or the only API process is down, nobody can decide within a second: measured, not judged.
    [
      `Onefit requests the service took but answered after its second${options.onefitStrict ? '' : ' (outage: measured only)'}`,
      `${onefitExpired.length} of ${onefit.length}`,
      !options.onefitStrict || onefitExpired.length <= Math.floor(onefit.length * 0.05),
    ],
    ['ledger differs from the aggregator (booking state)', `${mismatched.length}`, mismatched.length === 0],
    ['ledger requests the aggregator never held', `${unknownToAggregator.length}`, unknownToAggregator.length === 0],
    ['unacknowledged requests holding a spot unanswered', `${unackHolding.length} (of ${unacknowledged.length} never acknowledged)`, unackHolding.length === 0],
    ['sessions above capacity, limit or quota', overbooked.length === 0 ? '0' : overbooked.join('; '), overbooked.length === 0],
    ['direct bookings answered 201 and not reserved in the ledger', `${directLost} of ${load.directReserved.length}`, directLost === 0],
    ['free spots shown differ from the ledger', countsWrong.length === 0 ? '0' : countsWrong.slice(0, 4).join('; '), countsWrong.length === 0],
  ];
  if (lost.length + twice.length + late.length + mismatched.length > 0) {
    const sample = [...lost, ...twice, ...late, ...mismatched].slice(0, 5).map((h) => ({ ...h, ledger: byKey.get(`${h.aggregator}:${h.number}`) }));
    process.stdout.write(`  sample of failing requests: ${JSON.stringify(sample)}\n`);
  }
  return {
    rows,
    ok: rows.every(([, , ok]) => ok),
    numbers: {
      requests: load.sent,
      memberBookings: held.length,
      acknowledged: acknowledged.length,
      reserved,
      rejected: held.filter((h) => h.status === 'rejected').length,
      direct: load.directReserved.length,
      settleMs,
    },
  };
}

/** The scenario's report: what it tried, then what held. */
export function report(title: string, tried: string[], verdict: Verdict): string {
  const width = Math.max(...verdict.rows.map(([label]) => label.length));
  const lines = [
    '',
    `== ${title}`,
    ...tried.map((t) => `   tried: ${t}`),
    `   load: ${verdict.numbers.requests} requests (${verdict.numbers.memberBookings} member bookings at the sandboxes, ${verdict.numbers.acknowledged} acknowledged; ${verdict.numbers.reserved} reserved, ${verdict.numbers.rejected} rejected; ${verdict.numbers.direct} direct bookings); settled in ${((verdict.numbers.settleMs ?? 0) / 1000).toFixed(1)} s`,
    ...verdict.rows.map(([label, value, ok]) => `   ${ok ? 'held ' : 'FAIL '} ${label.padEnd(width)}  ${value}`),
  ];
  return lines.join('\n');
}
