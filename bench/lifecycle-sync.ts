/**
 * `npm run bench`: how fast the studio's schedule reaches the five aggregators, measured end to end on the local
 * stack (embedded PostgreSQL, Temporal dev server, worker + API, the five sandboxes), started here on a throw-away
 * DATA_DIR and free ports and stopped at the end.
 *
 *   1. seeds through the API: a company, a venue (Europe/Berlin), five active connections with the sandboxes'
 *      credentials, five activities with 200 sessions each (1,000 sessions in the next 13 days);
 *   2. opts the activities in and times the initial push (1,000 sessions x 5 aggregators) until every lane is idle
 *      with every session published, and counts the calls the sandboxes received;
 *   3. changes one session's room at a time (default 120 changes) and measures how long until each aggregator's own
 *      list endpoint shows the new room (p50, p95, p99, max; the target is p95 under 2 s);
 *   4. counts the aggregator calls of one more room change (expected: one update per aggregator);
 *   5. counts the aggregator calls of a pass with nothing changed (a no-op edit of an activity; expected: none).
 *
 * Options (flag or environment):
 *   --changes N       BENCH_CHANGES                room changes measured (default 120)
 *   --sessions N      BENCH_SESSIONS_PER_ACTIVITY  sessions per activity (default 200)
 *   --concurrency N   BENCH_CONCURRENCY            session creations in flight while seeding (default 8)
 *   --poll-ms N       BENCH_POLL_MS                how often the aggregators are polled after a change (default 15;
 *                                                  the sandboxes run in the service's process, so polling loads it)
 *   --opt-in last     BENCH_OPT_IN                 last (default): the sessions are created first and the push is
 *                                                  timed from the opt-in; first: the activities are opted in before
 *                                                  their sessions are created, and the push is timed from the first
 *                                                  session created, seeding included
 * The report goes to stdout, progress to stderr. Exit code 1 when the stack does not start, the initial sync does not
 * finish within 10 minutes, or a step fails; 130 on Ctrl-C.
 */
import { performance } from 'node:perf_hooks';
import { AGGREGATORS, type Aggregator } from '../domain/model.js';
import type {
  Api} from './http.js';
import type { ProbeCredentials, ProbeTarget, RecordedCall, SyncStatus } from './http.js';
import { clearSandboxCalls, countCalls, heldRoom, laneIdle, sandboxCalls, sandboxState } from './http.js';
import { intOption, option } from './options.js';
import { localIso, machineLines, ms, pool, progress, secs, sleep, summary, table } from './report.js';
import { isInterrupted, runBenchmark } from './runner.js';
import { seedStudio } from './seed.js';
import { VENUE_TIME_ZONE } from './sandbox-views.js';
import { logTail, startStack, type Stack } from './stack.js';

// --- options --------------------------------------------------------------------------------------------------------

const CHANGES = intOption('changes', 'BENCH_CHANGES', 120, 1, 100_000);
const SESSIONS_PER_ACTIVITY = intOption('sessions', 'BENCH_SESSIONS_PER_ACTIVITY', 200, 1, 2_000);
const CONCURRENCY = intOption('concurrency', 'BENCH_CONCURRENCY', 8, 1, 64);
const POLL_MS = intOption('poll-ms', 'BENCH_POLL_MS', 15, 1, 1_000);
const OPT_IN = option('opt-in', 'BENCH_OPT_IN') ?? 'last';
if (OPT_IN !== 'first' && OPT_IN !== 'last') {
  console.error(`--opt-in (BENCH_OPT_IN) must be "first" or "last", not "${OPT_IN}"`);
  process.exit(2);
}

const ACTIVITY_COUNT = 5;
const MAX_PARTICIPANTS = 20;
const INITIAL_SYNC_TIMEOUT_MS = 10 * 60_000;
const CHANGE_TIMEOUT_MS = 30_000;
const SETTLE_TIMEOUT_MS = 60_000;
const SYNC_POLL_MS = 500;
const TARGET_P95_MS = 2_000;

/** Registration rules of the five activities: an aggregator limit and a Wellhub quota on some. */
const ACTIVITY_RULES: { name: string; aggregatorLimit?: number; aggregatorQuotas?: Partial<Record<Aggregator, number>> }[] = [
  { name: 'Bench Yoga' },
  { name: 'Bench Pilates', aggregatorLimit: 8 },
  { name: 'Bench Spinning', aggregatorLimit: 10, aggregatorQuotas: { wellhub: 4 } },
  { name: 'Bench HIIT', aggregatorQuotas: { wellhub: 6, classpass: 5 } },
  { name: 'Bench Barre', aggregatorLimit: 12, aggregatorQuotas: { wellhub: 3 } },
];

// --- the benchmark --------------------------------------------------------------------------------------------------

interface SeededSession extends ProbeTarget {
  activityIndex: number;
}

interface Seeded {
  api: Api;
  venueId: string;
  activityIds: string[];
  sessions: SeededSession[];
  seedMs: number;
  optInAt: { wall: number; mono: number };
}

const report: string[] = [];
/** Set on Ctrl-C (or SIGTERM, SIGHUP): the stack is being stopped, and what fails meanwhile is no news. */
const out = (...lines: string[]) => report.push(...lines);

async function syncStatuses(api: Api, activityIds: string[]): Promise<SyncStatus[]> {
  return Promise.all(activityIds.map((id) => api.call<SyncStatus>('GET', `/v1/activities/${id}/sync`)));
}

function fullySynced(status: SyncStatus): boolean {
  return (
    status.lifecycle !== null &&
    status.connections.length === AGGREGATORS.length &&
    status.connections.every((lane) => lane.active && laneIdle(lane) && lane.published.activity && lane.published.sessions === SESSIONS_PER_ACTIVITY)
  );
}

/** Waits until `done` holds for the activities' sync statuses; the last statuses read. */
async function waitForSync(
  api: Api,
  activityIds: string[],
  done: (statuses: SyncStatus[]) => boolean,
  timeoutMs: number,
  what: string,
  onPoll?: (statuses: SyncStatus[]) => void,
): Promise<SyncStatus[]> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const statuses = await syncStatuses(api, activityIds);
    onPoll?.(statuses);
    if (done(statuses)) return statuses;
    if (performance.now() > deadline) {
      const lanes = statuses.flatMap((s) =>
        s.connections.map(
          (l) =>
            `${s.activityId.slice(0, 8)} ${l.aggregator}: passes ${l.passes} pending ${l.pending} running ${l.running} published ${l.published.sessions}` +
            (l.lastError ? ` lastError ${l.lastError.message}` : ''),
        ),
      );
      throw new Error(`${what} did not happen within ${secs(timeoutMs)}; lanes:\n  ${lanes.join('\n  ')}`);
    }
    await sleep(SYNC_POLL_MS);
  }
}

async function seed(stack: Stack): Promise<Seeded> {
  const { api, venueId } = await seedStudio(stack, 'Bench Studio');

  const optIn = OPT_IN === 'first';
  const activityIds: string[] = [];
  for (const rules of ACTIVITY_RULES.slice(0, ACTIVITY_COUNT)) {
    const activity = await api.call<{ id: string }>('POST', '/v1/activities', {
      venueId,
      name: rules.name,
      maxParticipants: MAX_PARTICIPANTS,
      registrationRules: {
        allowAggregatorBookings: optIn,
        ...(rules.aggregatorLimit !== undefined ? { aggregatorLimit: rules.aggregatorLimit } : {}),
        ...(rules.aggregatorQuotas !== undefined ? { aggregatorQuotas: rules.aggregatorQuotas } : {}),
      },
    });
    activityIds.push(activity.id);
  }

  // Every session starts within the next 13 days (the default booking horizon is 14), from the next full hour plus
  // two hours, spread evenly; each activity's starts are distinct (Wellhub refuses two slots of a class at the same
  // time and room), and shifted a few minutes per activity.
  const first = Math.ceil(Date.now() / 3_600_000) * 3_600_000 + 2 * 3_600_000;
  const spacingMinutes = Math.max(1, Math.floor((13 * 24 * 60 - 4 * 60) / SESSIONS_PER_ACTIVITY));
  const plan = activityIds.flatMap((activityId, activityIndex) =>
    Array.from({ length: SESSIONS_PER_ACTIVITY }, (_, i) => ({
      activityId,
      activityIndex,
      startsAt: first + (i * spacingMinutes + activityIndex * Math.min(7, Math.floor(spacingMinutes / ACTIVITY_COUNT))) * 60_000,
    })),
  );
  // Interleaved across activities, as a studio's backend would send them.
  plan.sort((a, b) => a.startsAt - b.startsAt);
  const sessions: SeededSession[] = [];
  const seedStarted = { wall: Date.now(), mono: performance.now() };
  let createdCount = 0;
  progress(`creating ${plan.length} sessions through the API, ${CONCURRENCY} in flight${optIn ? ' (activities opted in already)' : ''}`);
  await pool(plan, CONCURRENCY, async (item) => {
    const session = await api.call<{ id: string; startsAt: string }>('POST', `/v1/activities/${item.activityId}/sessions`, {
      startsAt: localIso(item.startsAt, VENUE_TIME_ZONE),
      durationMinutes: 60,
      room: 'Studio 1',
      instructors: [{ name: 'Ana' }],
    });
    sessions.push({ sessionId: session.id, activityId: item.activityId, activityIndex: item.activityIndex, startsAt: item.startsAt, wellhubClassId: '' });
    createdCount += 1;
    if (createdCount % 250 === 0) progress(`  ${createdCount} sessions created`);
  });
  const seedMs = performance.now() - seedStarted.mono;
  progress(`created ${sessions.length} sessions in ${secs(seedMs)}`);

  let optInAt = seedStarted;
  if (!optIn) {
    for (const url of Object.values(stack.sandboxUrls)) await clearSandboxCalls(url);
    progress('opting the 5 activities in (allowAggregatorBookings: true)');
    optInAt = { wall: Date.now(), mono: performance.now() };
    await Promise.all(activityIds.map((id) => api.call('PATCH', `/v1/activities/${id}`, { registrationRules: { allowAggregatorBookings: true } })));
  }
  return { api, venueId, activityIds, sessions, seedMs, optInAt };
}

function probeCredentials(stack: Stack): Record<Aggregator, ProbeCredentials> {
  return Object.fromEntries(
    AGGREGATORS.map((aggregator) => [
      aggregator,
      {
        url: stack.sandboxUrls[aggregator],
        externalVenueId: aggregator === 'wellhub' ? '1' : `${aggregator}-sandbox-venue`,
        apiToken: `${aggregator}-sandbox-token`,
      },
    ]),
  ) as Record<Aggregator, ProbeCredentials>;
}

async function callsOfAll(stack: Stack, method?: string): Promise<Record<Aggregator, RecordedCall[]>> {
  const lists = await Promise.all(AGGREGATORS.map((aggregator) => sandboxCalls(stack.sandboxUrls[aggregator], method)));
  return Object.fromEntries(AGGREGATORS.map((aggregator, i) => [aggregator, lists[i] ?? []])) as Record<Aggregator, RecordedCall[]>;
}

async function clearAll(stack: Stack): Promise<void> {
  await Promise.all(AGGREGATORS.map((aggregator) => clearSandboxCalls(stack.sandboxUrls[aggregator])));
}

/** Per-aggregator writes and reads of a window, with the endpoints called; the table rows and the totals. */
function callTable(calls: Record<Aggregator, RecordedCall[]>, withKinds: boolean): { lines: string[]; writes: number; reads: number } {
  let writes = 0;
  let reads = 0;
  const rows = AGGREGATORS.map((aggregator) => {
    const counted = countCalls(calls[aggregator]);
    writes += counted.writes;
    reads += counted.reads;
    const kinds = Object.entries(counted.byKind)
      .sort((a, b) => b[1] - a[1])
      .map(([kind, n]) => `${n} ${kind}`)
      .join(', ');
    return [aggregator, counted.writes, counted.reads, ...(withKinds ? [kinds || '-'] : [])];
  });
  rows.push(['total', writes, reads, ...(withKinds ? [''] : [])]);
  const lines = table(['aggregator', 'writes', 'reads', ...(withKinds ? ['calls'] : [])], rows, withKinds);
  return { lines, writes, reads };
}

async function waitAllIdle(api: Api, activityIds: string[]): Promise<SyncStatus[]> {
  return waitForSync(api, activityIds, (statuses) => statuses.every((s) => s.connections.every(laneIdle)), SETTLE_TIMEOUT_MS, 'every lane idle');
}

/**
 * Runs `change` and waits until every lane of the activity has run at least one more pass and is idle, then a moment
 * longer to be sure nothing follows; the calls the sandboxes received meanwhile.
 */
async function countOnePass(
  stack: Stack,
  api: Api,
  activityId: string,
  change: () => Promise<void>,
): Promise<{ calls: Record<Aggregator, RecordedCall[]>; status: SyncStatus; passesRun: number; ms: number }> {
  const [before] = await waitAllIdle(api, [activityId]);
  const passesBefore = new Map(before!.connections.map((lane) => [lane.connectionId, lane.passes]));
  await clearAll(stack);
  const started = performance.now();
  await change();
  const moved = (status: SyncStatus) =>
    status.connections.length === AGGREGATORS.length &&
    status.connections.every((lane) => lane.passes > (passesBefore.get(lane.connectionId) ?? 0) && laneIdle(lane));
  await waitForSync(api, [activityId], ([s]) => moved(s!), SETTLE_TIMEOUT_MS, 'one more pass on every lane');
  const doneMs = performance.now() - started;
  await sleep(1_000);
  const [after] = await waitForSync(api, [activityId], ([s]) => moved(s!), SETTLE_TIMEOUT_MS, 'every lane idle');
  const calls = await callsOfAll(stack);
  const passesRun = Math.max(...after!.connections.map((lane) => lane.passes - (passesBefore.get(lane.connectionId) ?? 0)));
  return { calls, status: after!, passesRun, ms: doneMs };
}

interface ChangeResult {
  index: number;
  sessionId: string;
  room: string;
  wallStart: number;
  apiMs: number;
  /** When each aggregator's list endpoint first showed the new room, ms after the PATCH was sent. */
  seenMs: Partial<Record<Aggregator, number>>;
  /** When each sandbox received the write carrying the new room (its call log), ms after the PATCH was sent. */
  writeMs: Partial<Record<Aggregator, number>>;
  allMs: number | undefined;
}

/** Probe requests sent while measuring changes (they load the service's process, where the sandboxes run). */
let probes = 0;

async function measureChanges(stack: Stack, seeded: Seeded, creds: Record<Aggregator, ProbeCredentials>): Promise<ChangeResult[]> {
  const results: ChangeResult[] = [];
  const byRoom = new Map<string, ChangeResult>();
  const collectWrites = async () => {
    const calls = await callsOfAll(stack, 'PUT');
    await clearAll(stack);
    for (const aggregator of AGGREGATORS) {
      for (const call of calls[aggregator]) {
        const room = (call.body as { room?: unknown } | undefined)?.room;
        const result = typeof room === 'string' ? byRoom.get(room) : undefined;
        if (result && result.writeMs[aggregator] === undefined) result.writeMs[aggregator] = Date.parse(call.at) - result.wallStart;
      }
    }
  };
  await clearAll(stack);
  let lastSession = '';
  for (let index = 0; index < CHANGES; index += 1) {
    let target = seeded.sessions[Math.floor(Math.random() * seeded.sessions.length)]!;
    while (target.sessionId === lastSession && seeded.sessions.length > 1) target = seeded.sessions[Math.floor(Math.random() * seeded.sessions.length)]!;
    lastSession = target.sessionId;
    const room = `Bench room ${index + 1}`;
    const result: ChangeResult = { index, sessionId: target.sessionId, room, wallStart: Date.now(), apiMs: 0, seenMs: {}, writeMs: {}, allMs: undefined };
    byRoom.set(room, result);
    const t0 = performance.now();
    result.wallStart = Date.now();
    await seeded.api.call('PATCH', `/v1/sessions/${target.sessionId}`, { room });
    result.apiMs = performance.now() - t0;
    let waiting: Aggregator[] = [...AGGREGATORS];
    while (waiting.length > 0 && performance.now() - t0 < CHANGE_TIMEOUT_MS) {
      await Promise.all(
        waiting.map(async (aggregator) => {
          probes += 1;
          const held = await heldRoom(aggregator, creds[aggregator], target).catch(() => undefined);
          if (held === room) result.seenMs[aggregator] ??= performance.now() - t0;
        }),
      );
      waiting = waiting.filter((aggregator) => result.seenMs[aggregator] === undefined);
      if (waiting.length > 0) await sleep(POLL_MS);
    }
    if (waiting.length === 0) result.allMs = Math.max(...AGGREGATORS.map((a) => result.seenMs[a] ?? 0));
    else progress(`  change ${index + 1}: ${waiting.join(', ')} did not show the new room within ${secs(CHANGE_TIMEOUT_MS)}`);
    results.push(result);
    if ((index + 1) % 10 === 0 || index + 1 === CHANGES) {
      await collectWrites();
      const all = summary(results.flatMap((r) => (r.allMs === undefined ? [] : [r.allMs])));
      progress(`  ${index + 1}/${CHANGES} changes; all five so far: p50 ${ms(all.p50)} ms, p95 ${ms(all.p95)} ms, max ${ms(all.max)} ms`);
    }
  }
  return results;
}

async function run(): Promise<void> {
  progress(`schedule sync benchmark: ${ACTIVITY_COUNT} activities x ${SESSIONS_PER_ACTIVITY} sessions, ${CHANGES} changes, opt-in ${OPT_IN}`);
  const stackStarted = performance.now();
  const stack = await startStack({ progress });
  const stackMs = performance.now() - stackStarted;
  progress(`stack ready (/readyz 200) after ${secs(stackMs)}`);
  try {
    const total = ACTIVITY_COUNT * SESSIONS_PER_ACTIVITY;
    const seeded = await seed(stack);
    const { api, activityIds } = seeded;

    // --- initial push ---------------------------------------------------------------------------------------------
    progress(`waiting for the initial push of ${total} sessions to ${AGGREGATORS.length} aggregators`);
    let lastReport = 0;
    const synced = await waitForSync(api, activityIds, (statuses) => statuses.every(fullySynced), INITIAL_SYNC_TIMEOUT_MS, 'the initial sync', (statuses) => {
      if (performance.now() - lastReport < 5_000) return;
      lastReport = performance.now();
      // A lane reports what it published when its pass ends: lanes done, not listings, are what can be seen.
      const lanes = statuses.flatMap((s) => s.connections);
      const done = lanes.filter((l) => laneIdle(l) && l.published.sessions === SESSIONS_PER_ACTIVITY).length;
      progress(`  ${done} of ${ACTIVITY_COUNT * AGGREGATORS.length} lanes have published their ${SESSIONS_PER_ACTIVITY} sessions`);
    });
    const pushMs = performance.now() - seeded.optInAt.mono;
    progress(`initial push done after ${secs(pushMs)}`);
    const initialCalls = await callsOfAll(stack);
    const lastWriteAt = Math.max(
      ...Object.values(initialCalls)
        .flat()
        .filter((c) => c.method !== 'GET')
        .map((c) => Date.parse(c.at) + (c.durationMs ?? 0)),
    );
    const initialErrors = synced.flatMap((s) => s.connections.filter((l) => l.lastError !== null).map((l) => `${l.aggregator}: ${l.lastError?.message}`));

    // Wellhub's class id of each activity (the class's reference is our activity id).
    const wellhub = await sandboxState<{ gyms: { id: number; classes: { id: number; reference?: string; deleted: boolean }[] }[] }>(stack.sandboxUrls.wellhub);
    const classOf = new Map(wellhub.gyms.flatMap((gym) => gym.classes.filter((c) => !c.deleted && c.reference).map((c) => [c.reference!, String(c.id)])));
    for (const session of seeded.sessions) {
      const classId = classOf.get(session.activityId);
      if (classId === undefined) throw new Error(`Wellhub holds no class for activity ${session.activityId}`);
      session.wellhubClassId = classId;
    }
    const creds = probeCredentials(stack);
    const check = seeded.sessions[0]!;
    for (const aggregator of AGGREGATORS) {
      const held = await heldRoom(aggregator, creds[aggregator], check);
      if (held !== 'Studio 1') throw new Error(`the ${aggregator} probe does not find session ${check.sessionId} with its room (found ${String(held)})`);
    }

    out(
      '',
      'Schedule sync benchmark (npm run bench)',
      ...machineLines(),
      `  stack      npx tsx bin/service.ts start: embedded PostgreSQL, Temporal dev server, worker + API, 5 sandboxes; LOG_LEVEL=warn`,
      `  data       1 venue (${VENUE_TIME_ZONE}), 5 active connections, ${ACTIVITY_COUNT} activities x ${SESSIONS_PER_ACTIVITY} sessions = ${total} sessions within the next 13 days`,
      '',
      `Stack start to /readyz 200: ${secs(stackMs)}`,
      `Seeding: ${total} sessions created through the API in ${secs(seeded.seedMs)} (${CONCURRENCY} requests in flight)`,
      '',
      `Initial push: ${total} sessions x ${AGGREGATORS.length} aggregators`,
      OPT_IN === 'last'
        ? `  from opting the ${ACTIVITY_COUNT} activities in to every lane idle with ${SESSIONS_PER_ACTIVITY} sessions published: ${secs(pushMs)} (seen by polling /sync every ${SYNC_POLL_MS} ms)`
        : `  from the first session created (activities opted in before) to every lane idle with all sessions published: ${secs(pushMs)}`,
      `  last aggregator write answered ${secs(lastWriteAt - seeded.optInAt.wall)} after the start; ${((total * AGGREGATORS.length) / ((lastWriteAt - seeded.optInAt.wall) / 1000)).toFixed(0)} session listings/s`,
      `  passes per lane: ${[...new Set(synced.flatMap((s) => s.connections.map((l) => l.passes)))].sort((a, b) => a - b).join(', ')}; lanes with an error: ${initialErrors.length === 0 ? 'none' : initialErrors.join('; ')}`,
      '  calls the sandboxes received (GET /__sandbox/calls):',
      ...callTable(initialCalls, true).lines,
    );

    // --- change-to-aggregator latency ------------------------------------------------------------------------------
    progress(`measuring ${CHANGES} room changes, one at a time`);
    const changesStarted = performance.now();
    const results = await measureChanges(stack, seeded, creds);
    const changesMs = performance.now() - changesStarted;
    const complete = results.filter((r) => r.allMs !== undefined);
    const all = summary(complete.map((r) => r.allMs!));
    const rows: (string | number)[][] = [['all five', all.n, ms(all.p50), ms(all.p95), ms(all.p99), ms(all.max)]];
    for (const aggregator of AGGREGATORS) {
      const s = summary(results.flatMap((r) => (r.seenMs[aggregator] === undefined ? [] : [r.seenMs[aggregator]])));
      rows.push([`  ${aggregator}`, s.n, ms(s.p50), ms(s.p95), ms(s.p99), ms(s.max)]);
    }
    const apiS = summary(results.map((r) => r.apiMs));
    const firstWrite = summary(results.flatMap((r) => (Object.keys(r.writeMs).length === 0 ? [] : [Math.min(...Object.values(r.writeMs))])));
    const lastWrite = summary(results.flatMap((r) => (Object.keys(r.writeMs).length === AGGREGATORS.length ? [Math.max(...Object.values(r.writeMs))] : [])));
    const breakdown: (string | number)[][] = [
      ['API answered the PATCH', apiS.n, ms(apiS.p50), ms(apiS.p95), ms(apiS.p99), ms(apiS.max)],
      ['first sandbox received the write', firstWrite.n, ms(firstWrite.p50), ms(firstWrite.p95), ms(firstWrite.p99), ms(firstWrite.max)],
      ['last sandbox received the write', lastWrite.n, ms(lastWrite.p50), ms(lastWrite.p95), ms(lastWrite.p99), ms(lastWrite.max)],
    ];
    for (const aggregator of AGGREGATORS) {
      const s = summary(results.flatMap((r) => (r.writeMs[aggregator] === undefined ? [] : [r.writeMs[aggregator]])));
      breakdown.push([`  ${aggregator} received the write`, s.n, ms(s.p50), ms(s.p95), ms(s.p99), ms(s.max)]);
    }
    out(
      '',
      `Change-to-aggregator latency: ${CHANGES} room changes, one at a time (PATCH /v1/sessions/{id} with a new room, timed from just`,
      `before the request until the aggregator's own list endpoint shows the new room; polled every ${POLL_MS} ms), in ms:`,
      ...table(['', 'n', 'p50', 'p95', 'p99', 'max'], rows),
      `  target p95 under ${TARGET_P95_MS} ms: ${all.p95 < TARGET_P95_MS && complete.length === results.length ? 'met' : 'NOT met'}` +
        (complete.length < results.length ? ` (${results.length - complete.length} changes did not reach all five within ${secs(CHANGE_TIMEOUT_MS)})` : ''),
      `  ${probes} probe requests in ${secs(changesMs)} (${Math.round(probes / (changesMs / 1000))}/s); the sandboxes run in the service's process, so polling loads it too`,
      '  where the time goes (same changes, ms after the PATCH was sent; write times from the sandboxes\' call logs):',
      ...table(['', 'n', 'p50', 'p95', 'p99', 'max'], breakdown),
    );

    // --- one changed session -----------------------------------------------------------------------------------------
    progress('counting the aggregator calls of one room change');
    await waitAllIdle(api, activityIds);
    const one = seeded.sessions[Math.floor(Math.random() * seeded.sessions.length)]!;
    const single = await countOnePass(stack, api, one.activityId, async () => {
      await api.call('PATCH', `/v1/sessions/${one.sessionId}`, { room: 'Bench room single' });
    });
    const singleTable = callTable(single.calls, true);
    out(
      '',
      `Aggregator calls for one changed session (a room change; every lane of its activity idle again after ${secs(single.ms)}, ${single.passesRun} pass(es) per lane):`,
      ...singleTable.lines,
      `  expected: ${AGGREGATORS.length} writes (one update per aggregator), 0 reads: ${singleTable.writes === AGGREGATORS.length && singleTable.reads === 0 ? 'as expected' : 'NOT as expected'}`,
    );

    // --- a pass with nothing changed ------------------------------------------------------------------------------
    progress('counting the aggregator calls of a pass with nothing changed');
    const noopActivity = activityIds[1] ?? activityIds[0]!;
    const current = await api.call<{ name: string }>('GET', `/v1/activities/${noopActivity}`);
    const noop = await countOnePass(stack, api, noopActivity, async () => {
      await api.call('PATCH', `/v1/activities/${noopActivity}`, { name: current.name });
    });
    const noopTable = callTable(noop.calls, true);
    out(
      '',
      `Aggregator calls for a pass with nothing changed (PATCH of an activity with its current name; every lane idle again after ${secs(noop.ms)}, ${noop.passesRun} pass(es) per lane):`,
      ...noopTable.lines,
      `  expected: 0 writes, 0 reads: ${noopTable.writes === 0 && noopTable.reads === 0 ? 'as expected' : 'NOT as expected'}`,
      '  lastPass of each connection (GET /v1/activities/{id}/sync):',
      ...noop.status.connections.map((lane) => `    ${lane.aggregator.padEnd(14)} passes ${lane.passes}  lastPass ${JSON.stringify(lane.lastPass)}`),
    );
  } catch (error) {
    if (!isInterrupted()) progress(`failed; last lines of the service log:\n${logTail(stack.logFile)}`);
    throw error;
  } finally {
    progress('stopping the stack');
    await stack.stop();
    progress('stack stopped, temporary folder deleted');
  }
}

runBenchmark(async () => {
  await run();
  return true;
}, report);
