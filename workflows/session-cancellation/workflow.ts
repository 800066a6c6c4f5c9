import {
  ActivityFailure,
  ApplicationFailure,
  ParentClosePolicy,
  continueAsNew,
  executeChild,
  getExternalWorkflowHandle,
  log,
  proxyActivities,
  setHandler,
  sleep,
  workflowInfo,
} from '@temporalio/workflow';
import { SA } from '../../temporal/search-attributes.js';
import { activityChangedSignal } from '../activity-lifecycle/contract.js';
import { workflowIds } from '../ids.js';
import {
  branchProgressSignal,
  cancellationProgressQuery,
  sessionCancelledSignal,
  type BranchProgress,
  type CancellationBranchInput,
  type CancellationProgress,
  type SessionCancellationActivities,
  type SessionCancellationInput,
} from './contract.js';

const ledger = proxyActivities<SessionCancellationActivities>({
  startToCloseTimeout: '30 seconds',
  retry: { initialInterval: '1 second', maximumInterval: '1 minute' },
});
/** One attempt per call: the branch workflow paces the retries itself, so each shows in its history and progress. */
const aggregator = proxyActivities<SessionCancellationActivities>({
  startToCloseTimeout: '2 minutes',
  retry: { maximumAttempts: 1 },
});

/** Backoff between attempts at one aggregator: 2 s doubling up to 5 minutes, for as long as it takes. */
export function branchBackoffMs(attempt: number): number {
  return Math.min(2_000 * 2 ** Math.min(attempt - 1, 20), 5 * 60_000);
}
/** How long the fan-out waits for the cancelling transaction to commit: 20 × 250 ms. */
const COMMIT_WAITS = 20;
const COMMIT_WAIT_MS = 250;
/** A run of a branch continues as new after this many attempts, to bound its history over days of outage. */
const ATTEMPTS_PER_RUN = 200;

function failureOf(error: unknown): { message: string; final: boolean } {
  const cause = error instanceof ActivityFailure ? (error.cause ?? error) : error;
  const final = cause instanceof ApplicationFailure && cause.nonRetryable === true;
  return { message: cause instanceof Error ? cause.message : String(cause), final };
}

/**
 * The studio cancelled a session: the ledger already says so (every reserved booking is `cancelled_by_gym`). This
 * tells every booking request still waiting for its answer, then every aggregator the session was pushed to, each in
 * a child workflow of its own, in parallel, so one aggregator down for hours holds back none of the others.
 */
export async function sessionCancellationWorkflow(input: SessionCancellationInput): Promise<CancellationProgress> {
  const progress: CancellationProgress = { sessionId: input.sessionId, phase: 'starting', inFlightRequestsTold: 0, branches: [] };
  setHandler(cancellationProgressQuery, () => progress);
  setHandler(branchProgressSignal, (update) => {
    const i = progress.branches.findIndex((b) => b.connectionId === update.connectionId);
    if (i >= 0 && progress.branches[i]?.status !== 'done') progress.branches[i] = update;
  });

  // The API starts this workflow inside the transaction that cancels the session, so the first read may come before
  // its commit: wait for it a little; a cancellation that never becomes visible was rolled back, and there is nothing to do.
  let targets = await ledger.openBranches(input);
  for (let wait = 0; targets === undefined && wait < COMMIT_WAITS; wait += 1) {
    await sleep(COMMIT_WAIT_MS);
    targets = await ledger.openBranches(input);
  }
  if (targets === undefined) {
    log.warn('the cancellation was never committed: nothing to fan out', { sessionId: input.sessionId });
    progress.phase = 'done';
    return progress;
  }
  const inFlight = await ledger.inFlightRequests(input);
  progress.branches = targets.map((t) => ({ connectionId: t.connectionId, aggregator: t.aggregator, status: 'pending', attempts: 0, lastError: null }));
  progress.phase = 'fanning_out';

  // A request still waiting for its answer is answered CLASS_HAS_BEEN_CANCELED by its own workflow.
  const tellInFlight = Promise.all(
    inFlight.map(async (request) => {
      try {
        await getExternalWorkflowHandle(workflowIds.bookingRequest(request)).signal(sessionCancelledSignal);
        progress.inFlightRequestsTold += 1;
      } catch (error) {
        log.info('booking request workflow not running', { bookingNumber: request.bookingNumber, error: failureOf(error).message });
      }
    }),
  );
  const tellLifecycle = getExternalWorkflowHandle(workflowIds.activityLifecycle(input.activityId))
    .signal(activityChangedSignal, { kind: 'session', id: input.sessionId })
    .catch(() => undefined); // Not offered any more: nothing listed to update.

  const parentId = workflowInfo().workflowId;
  const fanOut = Promise.all(
    targets.map(async (target) => {
      const branch: CancellationBranchInput = { ...target, sessionId: input.sessionId, venueId: input.venueId, reason: input.reason };
      const result = await executeChild(cancellationBranchWorkflow, {
        workflowId: `${parentId}:${target.aggregator}`,
        args: [branch],
        parentClosePolicy: ParentClosePolicy.TERMINATE,
        typedSearchAttributes: [
          { key: SA.companyId, value: input.companyId },
          { key: SA.venueId, value: input.venueId },
          { key: SA.sessionId, value: input.sessionId },
          { key: SA.aggregators, value: [target.aggregator] },
        ],
      });
      const i = progress.branches.findIndex((b) => b.connectionId === target.connectionId);
      if (i >= 0) progress.branches[i] = result;
    }),
  );
  await Promise.all([tellInFlight, tellLifecycle, fanOut]);
  await ledger.completeCancellation(input);
  progress.phase = 'done';
  return progress;
}

/** One aggregator's part of a cancellation: attempt after attempt until it has it, or refuses it for good. */
export async function cancellationBranchWorkflow(input: CancellationBranchInput): Promise<BranchProgress> {
  const parent = workflowInfo().parent;
  const report = async (p: BranchProgress) => {
    if (!parent) return;
    try {
      await getExternalWorkflowHandle(parent.workflowId).signal(branchProgressSignal, p);
    } catch {
      // The parent is gone (terminated by hand): the ledger keeps the progress anyway.
    }
  };
  const base = { connectionId: input.connectionId, aggregator: input.aggregator };
  let attempts = input.attemptsBefore ?? 0;
  for (let inRun = 0; ; inRun += 1) {
    if (inRun >= ATTEMPTS_PER_RUN) await continueAsNew<typeof cancellationBranchWorkflow>({ ...input, attemptsBefore: attempts });
    attempts += 1;
    try {
      await aggregator.cancelAtAggregator({ ...input, attempt: attempts });
      // The parent learns this from the result; the ledger has it already.
      return { ...base, status: 'done', attempts, lastError: null };
    } catch (error) {
      const failure = failureOf(error);
      await ledger.recordBranchFailure({ sessionId: input.sessionId, connectionId: input.connectionId, attempts, error: failure.message, final: failure.final });
      const state: BranchProgress = { ...base, status: failure.final ? 'failed' : 'retrying', attempts, lastError: failure.message };
      await report(state);
      if (failure.final) {
        log.warn('the aggregator refused the cancellation for good', { aggregator: input.aggregator, error: failure.message });
        return state;
      }
      await sleep(branchBackoffMs(attempts));
    }
  }
}
