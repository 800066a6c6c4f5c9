import { randomUUID } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { WorkflowHandle } from '@temporalio/client';
import { temporal as proto } from '@temporalio/proto';
import request from 'supertest';
import type { Express } from 'express';
import { afterAll, describe, expect, it } from 'vitest';
import { temporalCancellationControl } from '../../api/clients/session-cancellation.js';
import type { Db } from '../../db/index.js';
import { cancelSessionInLedger } from '../../db/session-cancellations.js';
import type { Aggregator } from '../../domain/model.js';
import { SA } from '../../temporal/search-attributes.js';
import { ACTIVITY_LIFECYCLE_WORKFLOW, lifecycleStateQuery, type ActivityLifecycleWorkflow } from '../../workflows/activity-lifecycle/contract.js';
import { workflowIds } from '../../workflows/ids.js';
import { sessionTimersStateQuery } from '../../workflows/session-timers/contract.js';
import { temporalEventDeliveryControl } from '../../api/clients/studio-events.js';
import { recordEvent } from '../../db/studio-events.js';
import { orderingKey } from '../../domain/studio-events.js';
import { SecretBox } from '../../lib/secrets.js';
import { newSigningSecret } from '../../lib/standard-webhooks.js';
import { bearer } from '../support/api-fixtures.js';
import { startEventReceiver } from '../support/event-receiver.js';
import { startBookingWorld, tomorrowAt, type BookingWorld } from '../support/booking-world.js';
import { SECRETS_KEY, eventually, useApiHarness, type ApiHarness } from '../support/harness.js';
import { HISTORIES_DIR, historyToJson, type RecordedHistory } from './recorded-history.js';

/**
 * Records the histories that test/replay/replay.test.ts replays against the current workflow code: real scenarios
 * on the real stack (Temporal dev server, PostgreSQL, the aggregators' sandboxes over HTTP), each workflow captured
 * at the point a deploy could meet it, running ones included. Skipped unless RECORD_HISTORIES names the label to
 * record under (`npm run record-histories -- <label>`); writes test/replay/histories/<workflowType>/<label>/*.json
 * (RECORD_HISTORIES_ROOT: another histories folder).
 *
 * Run it on the code of each released version (a worktree of the release's commit), so the histories are what that
 * version wrote. Every scenario checks that it went down the path it is named after, so a recording that silently
 * took another path fails here instead of leaving the replay test with less than it claims.
 */

const LABEL = process.env.RECORD_HISTORIES;
/** Where to write (default the committed histories): another checkout's, when recording from a release's worktree. */
const ROOT = process.env.RECORD_HISTORIES_ROOT ?? HISTORIES_DIR;
const EventType = proto.api.enums.v1.EventType;
const LONG = 240_000;

describe.skipIf(LABEL === undefined || LABEL === '')('recording workflow histories for the replay test', () => {
  let app: Express;
  let db: Db;
  let client: ApiHarness['temporal']['client'];
  let taskQueue: string;
  useApiHarness(
    (h) => {
      ({ app, db } = h);
      ({ client, taskQueue } = h.temporal);
    },
    { sessionTimersRelay: true },
  );
  const worlds: BookingWorld[] = [];
  const toTerminate: WorkflowHandle[] = [];
  afterAll(async () => {
    // Never-ending lifecycles would keep firing timers at a worker that is gone.
    await Promise.all(toTerminate.map((h) => h.terminate('histories recorded').catch(() => undefined)));
    await Promise.all(worlds.map((w) => w.close()));
  });
  const world = async (aggregators: readonly Aggregator[]) => {
    const w = await startBookingWorld(app, db, { aggregators });
    worlds.push(w);
    return w;
  };

  type Status = 'RUNNING' | 'COMPLETED' | 'CONTINUED_AS_NEW';

  /** Writes the workflow's history as it stands, after checking it is in the state the scenario promises. */
  async function record(handle: WorkflowHandle, scenario: string, description: string, expected: Status): Promise<void> {
    const described = await handle.describe();
    expect(described.status.name, `${scenario}: ${handle.workflowId}`).toBe(expected);
    const history = await handle.fetchHistory();
    const recorded: RecordedHistory = {
      workflowType: described.type,
      workflowId: described.workflowId,
      runId: described.runId,
      status: expected,
      description,
      history: historyToJson(history) as RecordedHistory['history'],
    };
    const dir = path.join(ROOT, described.type, LABEL as string);
    mkdirSync(dir, { recursive: true });
    writeFileSync(path.join(dir, `${scenario}.json`), `${JSON.stringify(recorded)}\n`);
  }

  const lifecycleRow = (activityId: string) => db.selectFrom('activity_lifecycles').selectAll().where('activity_id', '=', activityId).executeTakeFirst();

  /** Waits until every lane of the lifecycle has passed and is idle, with no change waiting. */
  const settled = (handle: WorkflowHandle<ActivityLifecycleWorkflow>) =>
    eventually(
      async () => {
        const s = await handle.query(lifecycleStateQuery);
        return s.pending.length === 0 && s.connections.length > 0 && s.connections.every((c) => c.passes >= 1 && !c.running && !c.pending) ? s : undefined;
      },
      30_000,
      `${handle.workflowId} settled`,
    );

  /** The workflow has an activity retrying: its attempt count reached `attempt`. */
  const retrying = (handle: WorkflowHandle, activityType: string, attempt: number) =>
    eventually(
      async () => {
        const { raw } = await handle.describe();
        return (raw.pendingActivities ?? []).some((a) => a.activityType?.name === activityType && (a.attempt ?? 0) >= attempt) ? true : undefined;
      },
      40_000,
      `${handle.workflowId}: ${activityType} at attempt ${attempt}`,
    );

  const bookingHandle = (w: BookingWorld, aggregator: Aggregator, bookingNumber: string) =>
    client.workflow.getHandle(workflowIds.bookingRequest({ aggregator, connectionId: w.connectionIds[aggregator], bookingNumber }));

  const ledgerBooking = (aggregator: Aggregator, bookingNumber: string) =>
    db.selectFrom('bookings').selectAll().where('source', '=', aggregator).where('aggregator_booking_number', '=', bookingNumber).executeTakeFirst();

  const ledgerStatus = (aggregator: Aggregator, bookingNumber: string, status: string) =>
    eventually(
      async () => {
        const b = await ledgerBooking(aggregator, bookingNumber);
        return b?.status === status ? b : undefined;
      },
      20_000,
      `${aggregator} ${bookingNumber} ${status} in the ledger`,
    );

  const awaitingApproval = (aggregator: Aggregator, bookingNumber: string) =>
    eventually(
      async () => {
        const r = await db.selectFrom('booking_requests').select('decision').where('aggregator', '=', aggregator).where('booking_number', '=', bookingNumber).executeTakeFirst();
        return r?.decision === 'awaiting_approval' ? true : undefined;
      },
      20_000,
      `${bookingNumber} awaiting approval`,
    );

  /** A member books the session at the aggregator: its webhook reaches the service over HTTP. */
  const memberBooks = async (w: BookingWorld, aggregator: Aggregator, sessionId: string, member: string) => {
    const external = await w.externalSessionId(aggregator, sessionId);
    // The Wellhub sandbox numbers bookings from the same start in every world: numbers of our own keep them apart.
    const bookingNumber = aggregator === 'wellhub' ? `wh-${randomUUID()}` : undefined;
    const sent = await w.world.requestBooking(aggregator, { sessionId: external, bookingNumber, member: { id: member, name: member } });
    return sent.bookingNumber;
  };

  const approve = async (w: BookingWorld, aggregator: Aggregator, bookingNumber: string) => {
    const booking = await ledgerBooking(aggregator, bookingNumber);
    const res = await request(app).post(`/v1/bookings/${booking?.id}/approve`).set(bearer(w.key)).send({});
    expect(res.status, JSON.stringify(res.body)).toBe(200);
  };

  it(
    'activity lifecycle: opted in, a change, an aggregator failing then back, periodic passes, continue-as-new, opted out',
    async () => {
      const w = await world(['wellhub', 'onefit']);

      // Opted in through the API (its start pass), then a session edited (a change pass): still running.
      const changed = await w.offer({ maxParticipants: 5 });
      const changedLifecycle = client.workflow.getHandle<ActivityLifecycleWorkflow>(workflowIds.activityLifecycle(changed.activityId));
      await settled(changedLifecycle);
      const edit = await request(app).patch(`/v1/sessions/${changed.sessionIds[0]}`).set(bearer(w.key)).send({ room: 'Studio B' });
      expect(edit.status).toBe(200);
      await eventually(async () => ((await lifecycleRow(changed.activityId))?.last_sync_reason === 'change' ? true : undefined), 20_000, 'the change pass');
      await settled(changedLifecycle);
      await record(changedLifecycle, 'opted-in-then-session-changed', 'Opted in through the API; a session edited: a change pass. Running, idle.', 'RUNNING');

      // Onefit answers 503 while a change is synced: its lane's pass retries (Wellhub's goes through), then catches up.
      await w.world.fault('onefit', { status: 503 });
      const renamed = await request(app).patch(`/v1/activities/${changed.activityId}`).set(bearer(w.key)).send({ name: 'Spin (new)' });
      expect(renamed.status).toBe(200);
      await retrying(changedLifecycle, 'syncConnection', 3);
      await record(changedLifecycle, 'aggregator-failing-pass-retrying', 'As opted-in-then-session-changed, then a rename synced while Onefit answers 503: its pass is retrying (attempt 3). Running.', 'RUNNING');
      await w.world.clearFaults('onefit');
      await eventually(async () => {
        const s = await changedLifecycle.query(lifecycleStateQuery);
        return s.connections.every((c) => c.passes >= 3 && !c.running && !c.pending) ? true : undefined;
      }, 40_000, 'Onefit caught up');
      await record(changedLifecycle, 'aggregator-failed-then-caught-up', 'As aggregator-failing-pass-retrying, then Onefit back: the retried pass completed. Running, idle.', 'RUNNING');

      // Opted out through the API: the last pass takes the listing down and the workflow ends.
      const optOut = await request(app)
        .patch(`/v1/activities/${changed.activityId}`)
        .set(bearer(w.key))
        .send({ registrationRules: { allowAggregatorBookings: false } });
      expect(optOut.status).toBe(200);
      await changedLifecycle.result();
      await record(changedLifecycle, 'opted-out-stopped', 'As aggregator-failed-then-caught-up, then opted out through the API: the stopping pass, then the end. Completed.', 'COMPLETED');

      // Periodic passes on a short interval, and a run that continues as new after two passes (as after
      // Temporal's suggestion on a long-lived lifecycle): the first run, and the carried run still running.
      const periodic = await w.offer({ maxParticipants: 5, starts: [tomorrowAt(9), tomorrowAt(9, 2)] });
      // The API started it with the 30-minute interval: replaced by one with a short interval, started the same way.
      const apiStarted = client.workflow.getHandle(workflowIds.activityLifecycle(periodic.activityId));
      await apiStarted.terminate('replaced by a lifecycle on a short interval');
      const short = await client.workflow.start<ActivityLifecycleWorkflow>(ACTIVITY_LIFECYCLE_WORKFLOW, {
        workflowId: workflowIds.activityLifecycle(periodic.activityId),
        taskQueue,
        args: [{ companyId: w.companyId, venueId: w.venueId, activityId: periodic.activityId, syncIntervalMs: 2_000, continueAsNewAfterPasses: 2 }],
        typedSearchAttributes: [
          { key: SA.companyId, value: w.companyId },
          { key: SA.venueId, value: w.venueId },
          { key: SA.activityId, value: periodic.activityId },
        ],
      });
      toTerminate.push(short);
      const firstRun = client.workflow.getHandle(short.workflowId, short.firstExecutionRunId);
      await eventually(async () => ((await firstRun.describe()).status.name === 'CONTINUED_AS_NEW' ? true : undefined), 30_000, 'the first run to continue as new');
      await record(firstRun, 'periodic-passes-continued-as-new', 'Started with a 2 s sync interval and continueAsNewAfterPasses 2: the start pass, two periodic passes, continue-as-new.', 'CONTINUED_AS_NEW');
      const carried = client.workflow.getHandle<ActivityLifecycleWorkflow>(short.workflowId);
      await eventually(async () => ((await carried.query(lifecycleStateQuery)).syncPasses >= 4 ? true : undefined), 30_000, 'a periodic pass in the carried run');
      await settled(carried);
      await record(carried, 'carried-run-periodic-running', 'The run after periodic-passes-continued-as-new: carried state, a periodic pass. Running.', 'RUNNING');
    },
    LONG,
  );

  it(
    'booking request: Wellhub reserved, class full, held for approval then approved, cancelled by the member; Onefit answered in the response',
    async () => {
      const w = await world(['wellhub', 'onefit']);
      const done: Array<Promise<void>> = [];
      // A request the webhook route decided itself (Onefit) reaches its workflow just after: wait for the run to exist.
      const whenDone = (handle: WorkflowHandle, scenario: string, description: string) =>
        done.push(
          eventually(() => handle.describe().then(() => true, () => undefined), 20_000, `${scenario} started`)
            .then(() => handle.result())
            .then(() => record(handle, scenario, description, 'COMPLETED')),
        );

      // One spot: the first member reserved, the second refused CLASS_IS_FULL.
      const full = await w.offer({ maxParticipants: 1 });
      const first = await memberBooks(w, 'wellhub', full.sessionIds[0] as string, 'first');
      await ledgerStatus('wellhub', first, 'reserved');
      whenDone(bookingHandle(w, 'wellhub', first), 'wellhub-reserved', 'Wellhub request, a free spot: RESERVED told, linger, end.');
      const second = await memberBooks(w, 'wellhub', full.sessionIds[0] as string, 'second');
      const rejected = await ledgerStatus('wellhub', second, 'rejected');
      expect(rejected.status_reason).toBe('CLASS_IS_FULL');
      whenDone(bookingHandle(w, 'wellhub', second), 'wellhub-rejected-class-full', 'Wellhub request for a full session: REJECTED CLASS_IS_FULL told, linger, end.');

      // Reserved, then cancelled by the member while the run lingers: the cancellation is applied by the same run.
      const roomy = await w.offer({ maxParticipants: 5 });
      const cancelled = await memberBooks(w, 'wellhub', roomy.sessionIds[0] as string, 'canceller');
      await ledgerStatus('wellhub', cancelled, 'reserved');
      await w.world.memberCancel('wellhub', cancelled);
      await ledgerStatus('wellhub', cancelled, 'cancelled_by_customer');
      whenDone(bookingHandle(w, 'wellhub', cancelled), 'wellhub-reserved-then-member-cancelled', 'Wellhub request reserved, then the member cancelled within the linger: applied by the same run.');

      // Onefit waits for the answer in the webhook's response: reserved, then refused the same member's second request.
      const onefitReserved = await memberBooks(w, 'onefit', roomy.sessionIds[0] as string, 'onefit-member');
      await ledgerStatus('onefit', onefitReserved, 'reserved');
      whenDone(bookingHandle(w, 'onefit', onefitReserved), 'onefit-reserved-in-response', 'Onefit request answered RESERVED in the webhook response, read back, linger, end.');
      const onefitRefused = await memberBooks(w, 'onefit', roomy.sessionIds[0] as string, 'onefit-member');
      await ledgerStatus('onefit', onefitRefused, 'rejected');
      whenDone(bookingHandle(w, 'onefit', onefitRefused), 'onefit-rejected-in-response', 'Onefit request of an already booked member answered REJECTED in the webhook response.');

      // Held for the studio's approval: recorded while it waits (running), then approved.
      const held = await w.offer({ maxParticipants: 5, registrationRules: { requiresManualApproval: true } });
      const approved = await memberBooks(w, 'wellhub', held.sessionIds[0] as string, 'approved');
      await awaitingApproval('wellhub', approved);
      const approvedHandle = bookingHandle(w, 'wellhub', approved);
      await record(approvedHandle, 'wellhub-awaiting-approval', 'Wellhub request held for the studio approval, waiting. Running.', 'RUNNING');
      await approve(w, 'wellhub', approved);
      await ledgerStatus('wellhub', approved, 'reserved');
      whenDone(approvedHandle, 'wellhub-approved', 'As wellhub-awaiting-approval, then approved through the API: RESERVED told, linger, end.');

      await Promise.all(done);
    },
    LONG,
  );

  it(
    'session cancellation: a fan-out telling a request in flight, and a branch retrying an aggregator down',
    async () => {
      const w = await world(['wellhub', 'classpass']);
      const parentOf = (sessionId: string) => client.workflow.getHandle(workflowIds.sessionCancellation(sessionId));
      /** The branches the parent started, as its history names them. */
      const branchesOf = async (parent: WorkflowHandle) => {
        const { events } = await parent.fetchHistory();
        return (events ?? [])
          .filter((e) => e.eventType === EventType.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_STARTED)
          .map((e) => e.childWorkflowExecutionStartedEventAttributes?.workflowExecution?.workflowId as string);
      };
      const cancel = async (sessionId: string) => {
        const res = await request(app).post(`/v1/sessions/${sessionId}/cancel`).set(bearer(w.key)).send({ reason: 'instructor ill' });
        expect(res.status, JSON.stringify(res.body)).toBe(202);
      };

      // A session with a booking reserved at each aggregator and one Wellhub request still waiting for approval.
      const { sessionIds } = await w.offer({
        maxParticipants: 5,
        registrationRules: { requiresManualApproval: true },
        starts: [tomorrowAt(9), tomorrowAt(11), tomorrowAt(13)],
      });
      const [calm, outage, lateCommit] = sessionIds as [string, string, string];
      for (const aggregator of ['wellhub', 'classpass'] as const) {
        const n = await memberBooks(w, aggregator, calm, `reserved-${aggregator}`);
        await awaitingApproval(aggregator, n);
        await approve(w, aggregator, n);
        await ledgerStatus(aggregator, n, 'reserved');
      }
      const inFlight = await memberBooks(w, 'wellhub', calm, 'in-flight');
      await awaitingApproval('wellhub', inFlight);

      await cancel(calm);
      const calmParent = parentOf(calm);
      await calmParent.result();
      await record(calmParent, 'fan-out-done', 'Two aggregators, a request in flight told CLASS_HAS_BEEN_CANCELED, both branches done at once. Completed.', 'COMPLETED');
      const calmBranches = await branchesOf(calmParent);
      expect(calmBranches).toHaveLength(2);
      for (const id of calmBranches) {
        const branch = client.workflow.getHandle(id);
        await record(branch, `branch-done-first-attempt-${id.split(':').at(-1)}`, 'A branch whose aggregator took the cancellation at the first attempt. Completed.', 'COMPLETED');
      }
      const told = bookingHandle(w, 'wellhub', inFlight);
      expect((await told.result()).answer).toMatchObject({ status: 'REJECTED', reason: 'CLASS_HAS_BEEN_CANCELED' });
      await record(told, 'wellhub-awaiting-approval-then-session-cancelled', 'Wellhub request held for approval when the studio cancelled the session: REJECTED CLASS_HAS_BEEN_CANCELED.', 'COMPLETED');

      // The cancelling transaction commits late (as under load it can): the fan-out has begun before the commit. Earlier
      // code polls the ledger for it (held until it has polled twice); later code's first read waits for the commit.
      const lateParent = parentOf(lateCommit);
      const scheduledReads = async () =>
        ((await lateParent.fetchHistory()).events ?? []).filter(
          (e) => e.eventType === EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED && e.activityTaskScheduledEventAttributes?.activityType?.name === 'openBranches',
        ).length;
      const { company_id: companyId } = await db.selectFrom('sessions').select('company_id').where('id', '=', lateCommit).executeTakeFirstOrThrow();
      let readsBeforeCommit = 0;
      await db.transaction().execute(async (trx) => {
        const outcome = await cancelSessionInLedger(trx, { companyId, sessionId: lateCommit, reason: 'late commit', actor: 'recorder' });
        if (outcome.outcome !== 'started') throw new Error(`not started: ${outcome.outcome}`);
        await temporalCancellationControl(client, { taskQueue }).start({ companyId, venueId: outcome.venueId, activityId: outcome.activityId, sessionId: lateCommit, reason: 'late commit' });
        readsBeforeCommit = await eventually(async () => ((await scheduledReads()) >= 1 ? scheduledReads() : undefined), 10_000, 'the fan-out to read the ledger');
        await eventually(async () => ((await scheduledReads()) >= 3 ? true : undefined), 1_500, 'polls').catch(() => undefined);
      });
      expect(readsBeforeCommit).toBeGreaterThanOrEqual(1);
      await lateParent.result();
      await record(lateParent, 'fan-out-commit-landed-late', 'The cancelling transaction committed about 1.5 s after the fan-out first read the ledger; then both branches done. Completed.', 'COMPLETED');

      // Wellhub down while the other session is cancelled: its branch retries with backoff; recorded while it
      // retries (the parent still fanning out), then after Wellhub is back.
      await w.world.fault('wellhub', { status: 503 });
      await cancel(outage);
      const outageParent = parentOf(outage);
      const wellhubBranch = await eventually(async () => (await branchesOf(outageParent)).find((id) => id.endsWith(':wellhub')), 20_000, 'the Wellhub branch');
      const retryingBranch = client.workflow.getHandle(wellhubBranch);
      await eventually(async () => {
        const row = await db.selectFrom('session_cancellation_branches').select('attempts').where('session_id', '=', outage).where('aggregator', '=', 'wellhub').executeTakeFirst();
        return (row?.attempts ?? 0) >= 3 ? true : undefined;
      }, 30_000, 'three failed attempts at Wellhub');
      // The parent has heard from the Wellhub branch (earlier code: every attempt; later: each change of status) and
      // has the ClassPass branch's result.
      await eventually(
        async () => {
          const events = (await outageParent.fetchHistory()).events ?? [];
          const heard = events.some((e) => e.eventType === EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED);
          const classpassDone = events.some(
            (e) => e.eventType === EventType.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_COMPLETED && e.childWorkflowExecutionCompletedEventAttributes?.workflowExecution?.workflowId?.endsWith(':classpass'),
          );
          return heard && classpassDone ? true : undefined;
        },
        20_000,
        'the parent to hear the Wellhub branch and have the ClassPass result',
      );
      await record(outageParent, 'fan-out-waiting-for-branch', 'Wellhub answering 503: the ClassPass branch done, the Wellhub branch retrying (3 attempts) and reporting its progress. Running.', 'RUNNING');
      await record(retryingBranch, 'branch-retrying-wellhub', 'Wellhub answering 503: three failed attempts, backing off. Running.', 'RUNNING');
      await w.world.clearFaults('wellhub');
      await outageParent.result();
      await record(outageParent, 'fan-out-after-branch-retried', 'As fan-out-waiting-for-branch, then Wellhub back: the branch done, the fan-out completed.', 'COMPLETED');
      await record(retryingBranch, 'branch-retried-then-done-wellhub', 'As branch-retrying-wellhub, then Wellhub back: done at the next attempt. Completed.', 'COMPLETED');
    },
    LONG,
  );

  it(
    'session timers: counts pushed, armed and waiting, re-armed by a reschedule, the no-show pass done',
    async () => {
      const w = await world(['wellhub']);
      const { sessionIds } = await w.offer({ maxParticipants: 5, registrationRules: { noShowAfterMinutes: 30, offerDirectSpotsToAggregatorsMinutesBefore: 3000 }, starts: [tomorrowAt(9)] });
      const [sessionId] = sessionIds as [string];
      const n = await memberBooks(w, 'wellhub', sessionId, 'no-show');
      await ledgerStatus('wellhub', n, 'reserved');
      const handle = client.workflow.getHandle(workflowIds.sessionTimers(sessionId));
      const waitingFor = (startsAt: string) =>
        eventually(
          async () => {
            const state = await handle.query(sessionTimersStateQuery).catch(() => undefined);
            return state?.nextAt === new Date(Date.parse(startsAt) + 90 * 60_000).toISOString() ? state : undefined;
          },
          20_000,
          `${handle.workflowId} waiting for the no-show moment of ${startsAt}`,
        );
      await waitingFor(tomorrowAt(9));
      expect((await handle.query(sessionTimersStateQuery)).pushes).toBe(1);
      await record(handle, 'armed-waiting', 'A session tomorrow with a Wellhub booking, its offer moment passed (counts pushed at once): waiting for end + 30 minutes. Running.', 'RUNNING');

      const move = async (startsAt: string) => {
        const res = await request(app).patch(`/v1/sessions/${sessionId}`).set(bearer(w.key)).send({ startsAt });
        expect(res.status, JSON.stringify(res.body)).toBe(200);
      };
      await move(tomorrowAt(11));
      await waitingFor(tomorrowAt(11));
      await record(handle, 'rescheduled-waiting', 'As armed-waiting, then the session moved two hours later: re-armed. Running.', 'RUNNING');

      // Moved to three hours ago: its no-show moment has passed, so the pass runs at once.
      await move(new Date(Date.now() - 3 * 3_600_000).toISOString().replace(/\.\d+Z$/, '+00:00'));
      expect(await handle.result()).toEqual({ ended: 'no_show_pass_done', noShows: 1 });
      await ledgerStatus('wellhub', n, 'no_show');
      await record(handle, 'no-show-pass-done', 'As rescheduled-waiting, then moved into the past: the Wellhub booking marked no_show. Completed.', 'COMPLETED');
    },
    LONG,
  );

  it(
    'events to the studio backend: a lane delivering in order, retrying a receiver that is down, then caught up',
    async () => {
      const receiver = await startEventReceiver();
      try {
        const company = await db.insertInto('companies').values({ name: 'Studio Events' }).returning('id').executeTakeFirstOrThrow();
        const secret = newSigningSecret();
        receiver.secrets.push(secret);
        const endpoint = await db
          .insertInto('event_endpoints')
          .values({ company_id: company.id, url: receiver.url, event_types: ['booking.requested', 'booking.reserved'], secrets_sealed: new SecretBox(SECRETS_KEY).sealJson({ current: secret }) })
          .returning('id')
          .executeTakeFirstOrThrow();
        const lane = { companyId: company.id, endpointId: endpoint.id, orderingKey: orderingKey('booking', randomUUID()) };
        const events = temporalEventDeliveryControl(client, { taskQueue });
        const handle = client.workflow.getHandle(workflowIds.eventDelivery(lane.endpointId, lane.orderingKey));
        const record1 = (type: 'booking.requested' | 'booking.reserved') => recordEvent(db, { companyId: company.id, type, orderingKey: lane.orderingKey, data: { type } });

        await record1('booking.requested');
        await record1('booking.reserved');
        await events.wake(lane);
        await eventually(() => Promise.resolve(receiver.accepted.length === 2 ? true : undefined), 20_000, 'two delivered');
        await record(handle, 'delivered-in-order-idle', 'Two events of one booking delivered in order; the lane waits for more. Running, idle.', 'RUNNING');

        receiver.mode = 'error';
        await record1('booking.reserved');
        await events.wake(lane);
        await eventually(
          async () => ((await db.selectFrom('event_delivery_attempts').select('id').where('outcome', '=', 'failed').execute()).length >= 3 ? true : undefined),
          30_000,
          'three failed attempts',
        );
        await record(handle, 'receiver-down-retrying', 'As delivered-in-order-idle, then a third event while the receiver answers 500: three attempts, waiting to retry. Running.', 'RUNNING');

        receiver.mode = 'ok';
        await eventually(() => Promise.resolve(receiver.accepted.length === 3 ? true : undefined), 30_000, 'the third delivered');
        await record(handle, 'receiver-back-caught-up', 'As receiver-down-retrying, then the receiver back: delivered at the next attempt; idle. Running.', 'RUNNING');
        toTerminate.push(handle);
      } finally {
        await receiver.close();
      }
    },
    LONG,
  );
});
