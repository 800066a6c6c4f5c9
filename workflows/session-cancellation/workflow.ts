import {
  ParentClosePolicy,
  condition,
  continueAsNew,
  executeChild,
  getExternalWorkflowHandle,
  log,
  patched,
  proxyActivities,
  setHandler,
  sleep,
  workflowInfo,
} from '@temporalio/workflow';
import { SA } from '../../temporal/search-attributes.js';
import { activityChangedSignal } from '../activity-lifecycle/contract.js';
import { sessionCancelledSignal } from '../booking-request/contract.js';
import { applicationCause, failureMessage } from '../failures.js';
import { workflowIds } from '../ids.js';
import {
  branchProgressSignal,
  branchStateQuery,
  cancellationProgressQuery,
  wakeBranchSignal,
  type BranchProgress,
  type BranchState,
  type BranchStatus,
  type CancelAttemptFailureDetails,
  type CancellationBranchInput,
  type CancellationProgress,
  type SessionCancellationActivities,
  type SessionCancellationInput,
} from './contract.js';

const ledgerActs = proxyActivities<SessionCancellationActivities>({
  startToCloseTimeout: '30 seconds',
  retry: { initialInterval: '1 second', maximumInterval: '1 minute' },
});
/** One attempt per call: the branch workflow paces the retries itself, so each shows in its history and progress. */
const aggregatorActs = proxyActivities<SessionCancellationActivities>({
  startToCloseTimeout: '2 minutes',
  retry: { maximumAttempts: 1 },
});

/** Backoff between attempts at one aggregator: 2 s doubling up to 5 minutes, for as long as it takes. */
export function branchBackoffMs(attempt: number): number {
  return Math.min(2_000 * 2 ** Math.min(attempt - 1, 20), 5 * 60_000);
}
/** A Retry-After further out than this is taken as this long: a bogus date must not park a cancellation for weeks. */
const MAX_RETRY_AFTER_MS = 24 * 3_600_000;
/**
 * The wait after a failed attempt: the backoff, but never less than the aggregator asked for (Retry-After), since a
 * call inside its throttle window only extends the throttle.
 */
export function branchWaitMs(attempt: number, retryAfterMs: number | null | undefined): number {
  return Math.max(branchBackoffMs(attempt), Math.min(retryAfterMs ?? 0, MAX_RETRY_AFTER_MS));
}

/**
 * Versions of the workflow code (`patched`), so runs started by earlier code replay as they ran:
 * - the fan-out's first read waits on the session's row lock instead of polling the ledger for 5 s;
 * - a branch reports status changes only, waits out Retry-After, wakes on a connection change, and continues as new
 *   every BRANCH_ATTEMPTS_PER_RUN attempts (earlier code: every 200).
 */
const READS_AFTER_COMMIT = 'session-cancellation-reads-after-commit';
const BRANCH_PACED = 'cancellation-branch-paced-bounded';

/** Earlier code's wait for the cancelling transaction to commit: 20 × 250 ms (kept for replay only). */
const LEGACY_COMMIT_WAITS = 20;
const LEGACY_COMMIT_WAIT_MS = 250;
const LEGACY_ATTEMPTS_PER_RUN = 200;
/**
 * A branch run continues as new after this many attempts, so its history stays under about a thousand events however
 * long the aggregator is down (each attempt adds at most 17: the call, its record, the wait and their tasks).
 */
export const BRANCH_ATTEMPTS_PER_RUN = 50;

function failureOf(error: unknown): { message: string; final: boolean; retryAfterMs: number | null } {
  const cause = applicationCause(error);
  const details = cause?.details?.[0] as Partial<CancelAttemptFailureDetails> | undefined;
  const retryAfterMs = typeof details?.retryAfterMs === 'number' ? details.retryAfterMs : null;
  return { message: failureMessage(error), final: cause?.nonRetryable === true, retryAfterMs };
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
  // its commit. That transaction holds the session's row lock until it ends, and the read waits on that lock: it sees
  // the cancellation committed, or (undefined) rolled back, however late the commit lands.
  let targets = await ledgerActs.openBranches(input);
  if (!patched(READS_AFTER_COMMIT)) {
    for (let wait = 0; targets === undefined && wait < LEGACY_COMMIT_WAITS; wait += 1) {
      await sleep(LEGACY_COMMIT_WAIT_MS);
      targets = await ledgerActs.openBranches(input);
    }
  }
  if (targets === undefined) {
    log.warn('the cancellation was rolled back: nothing to fan out', { sessionId: input.sessionId });
    progress.phase = 'done';
    return progress;
  }
  const inFlight = await ledgerActs.inFlightRequests(input);
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

  const fanOut = Promise.all(
    targets.map(async (target) => {
      const branch: CancellationBranchInput = { ...target, sessionId: input.sessionId, venueId: input.venueId, reason: input.reason };
      const result = await executeChild(cancellationBranchWorkflow, {
        workflowId: workflowIds.cancellationBranch(input.sessionId, target.aggregator),
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
  await ledgerActs.completeCancellation(input);
  progress.phase = 'done';
  return progress;
}

/**
 * One aggregator's part of a cancellation: attempt after attempt until it has it, or refuses it for good. Each attempt
 * is one activity with no retries of its own, so the branch paces itself (backoff, at least the aggregator's
 * Retry-After) and every attempt shows in the ledger and in the branch's query.
 */
export async function cancellationBranchWorkflow(input: CancellationBranchInput): Promise<BranchProgress> {
  // Patch checks come first, before any command, so a run of earlier code replays as it ran.
  const paced = patched(BRANCH_PACED);
  const parent = workflowInfo().parent;
  const base = { connectionId: input.connectionId, aggregator: input.aggregator };
  let attempts = input.attemptsBefore ?? 0;
  let reported: BranchStatus = input.reportedStatus ?? 'pending';
  const state: BranchState = { ...base, status: reported, attempts, lastError: input.lastError ?? null, nextAttemptAt: null };
  setHandler(branchStateQuery, () => ({ ...state }));
  let woken = false;
  setHandler(wakeBranchSignal, () => {
    woken = true;
  });

  const report = async (p: BranchProgress) => {
    if (!parent) return;
    try {
      await getExternalWorkflowHandle(parent.workflowId).signal(branchProgressSignal, p);
    } catch {
      // The parent is gone (terminated by hand): the ledger keeps the progress anyway, and the sweep restarts it.
    }
  };

  for (let inRun = 0; ; inRun += 1) {
    const runFull = paced ? inRun >= BRANCH_ATTEMPTS_PER_RUN || workflowInfo().continueAsNewSuggested : inRun >= LEGACY_ATTEMPTS_PER_RUN;
    if (runFull) {
      await continueAsNew<typeof cancellationBranchWorkflow>({ ...input, attemptsBefore: attempts, reportedStatus: reported, lastError: state.lastError });
    }
    attempts += 1;
    state.attempts = attempts;
    try {
      await aggregatorActs.cancelAtAggregator({ ...input, attempt: attempts });
      // The parent learns this from the result; the ledger has it already.
      Object.assign(state, { status: 'done', lastError: null });
      return { ...base, status: 'done', attempts, lastError: null };
    } catch (error) {
      const failure = failureOf(error);
      await ledgerActs.recordBranchFailure({ sessionId: input.sessionId, connectionId: input.connectionId, attempts, error: failure.message, final: failure.final });
      const progress: BranchProgress = { ...base, status: failure.final ? 'failed' : 'retrying', attempts, lastError: failure.message };
      Object.assign(state, progress);
      if (!paced || progress.status !== reported) {
        await report(progress);
        reported = progress.status;
      }
      if (failure.final) {
        log.warn('the aggregator refused the cancellation for good', { aggregator: input.aggregator, error: failure.message });
        return progress;
      }
      if (!paced) {
        await sleep(branchBackoffMs(attempts));
        continue;
      }
      const waitMs = branchWaitMs(attempts, failure.retryAfterMs);
      const notBefore = Date.now() + Math.min(failure.retryAfterMs ?? 0, waitMs);
      state.nextAttemptAt = new Date(Date.now() + waitMs).toISOString();
      // A connection change (new credentials) cuts the backoff short, never the aggregator's Retry-After.
      if (await condition(() => woken, waitMs)) {
        const rest = notBefore - Date.now();
        if (rest > 0) await sleep(rest);
      }
      woken = false;
      state.nextAttemptAt = null;
    }
  }
}
