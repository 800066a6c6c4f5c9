import { allHandlersFinished, condition, continueAsNew, log, patched, proxyActivities, proxyLocalActivities, setHandler, sleep, workflowInfo } from '@temporalio/workflow';
import type { SyncReason } from '../../db/schema.js';
import {
  LEDGER_STEPS_LOCAL,
  activityChangedSignal,
  lifecycleStateQuery,
  optOutSignal,
  type ActivityChange,
  type ActivityLifecycleActivities,
  type ActivityLifecycleInput,
  type ActivityLifecycleState,
} from './contract.js';
import { LEDGER_STEP_OPTIONS } from '../ledger-steps.js';
import { SyncLanes } from './lanes.js';

const acts = proxyActivities<ActivityLifecycleActivities>({
  startToCloseTimeout: '30 seconds',
  retry: { initialInterval: '1 second', maximumInterval: '1 minute' },
});

const ledgerActs = proxyLocalActivities<ActivityLifecycleActivities>(LEDGER_STEP_OPTIONS);

const sameChange = (a: ActivityChange, b: ActivityChange) => a.kind === b.kind && a.id === b.id;

/**
 * How long a change waits for the changes that follow it before its pass starts. A booking changes one session's
 * counts at every aggregator; under a burst of bookings (ten a second, say) a pass per booking would cost a lane call
 * per aggregator per booking, while the counts only need to be right within moments. A quarter of a second gathers a
 * burst into a few passes and is invisible beside the aggregators' own caching of the counts.
 */
export const CHANGE_SETTLE_MS = 250;
/** Patch ids: each guards a change of this workflow's commands, so histories of runs started before it still replay. */
const SETTLE_CHANGES = 'settle-changes-before-a-pass';

/**
 * One long-lived workflow per activity opted in to aggregator bookings. It syncs the activity and its sessions in
 * the booking horizon to every active connection at start, within moments of every change the API signals, when a
 * session enters the horizon, and every sync interval (reading back what each aggregator holds, to repair drift).
 * Opting out hides the activity everywhere and removes its future sessions; then the workflow ends.
 */
export async function activityLifecycleWorkflow(input: ActivityLifecycleInput): Promise<ActivityLifecycleState> {
  const lanes = new SyncLanes(input.activityId, input.carried?.connections ?? []);
  const state: ActivityLifecycleState = {
    phase: 'starting',
    optedOut: false,
    lastSyncReason: null,
    syncPasses: input.carried?.syncPasses ?? 0,
    changesSeen: input.carried?.changesSeen ?? 0,
    pending: input.carried?.pending ?? [],
    lastReconcileAt: input.carried?.lastReconcileAt ?? null,
    connections: [],
    nextHorizonEntryAt: null,
  };
  setHandler(activityChangedSignal, (change) => {
    state.changesSeen += 1;
    // A burst of signals about the same thing needs one pass, not one per signal.
    if (!state.pending.some((p) => sameChange(p, change))) state.pending.push(change);
  });
  setHandler(optOutSignal, () => {
    state.optedOut = true;
  });
  // A change the workflow has not handed to the lanes yet is pending for every active connection.
  const statuses = () => lanes.statuses().map((c) => ({ ...c, pending: c.pending || (c.active && state.pending.length > 0) }));
  setHandler(lifecycleStateQuery, () => ({ ...state, connections: statuses(), nextHorizonEntryAt: lanes.nextHorizonEntryAt }));

  const pass = async (reason: SyncReason) => {
    const changes = state.pending.splice(0);
    const reconcile = reason === 'periodic';
    if (reconcile) state.lastReconcileAt = Date.now();
    const targets = await lanes.refresh(reconcile);
    const record = { activityId: input.activityId, reason, changes };
    await (patched(LEDGER_STEPS_LOCAL) ? ledgerActs.recordSyncPass(record) : acts.recordSyncPass(record));
    state.syncPasses += 1;
    state.lastSyncReason = reason;
    return targets;
  };

  if (input.carried === undefined) {
    await acts.recordLifecycleStarted(input);
    state.lastReconcileAt = Date.now();
    if (!(await pass('start')).offered) state.optedOut = true;
  }
  state.phase = 'running';
  let passesThisRun = 0;

  for (;;) {
    while (!state.optedOut) {
      const reconcileAt = (state.lastReconcileAt ?? Date.now()) + input.syncIntervalMs;
      const horizonAt = lanes.nextHorizonEntryAt === null ? Infinity : Date.parse(lanes.nextHorizonEntryAt);
      const wakeAt = Math.min(reconcileAt, horizonAt);
      const woken = await condition(() => state.optedOut || state.pending.length > 0, Math.max(1, wakeAt - Date.now()));
      if (state.optedOut) break;
      if (woken && patched(SETTLE_CHANGES)) {
        await sleep(CHANGE_SETTLE_MS);
        if (state.optedOut) break;
      }
      lanes.horizonEntryPassed(Date.now());
      const targets = await pass(woken ? 'change' : Date.now() >= reconcileAt ? 'periodic' : 'change');
      // The ledger is the truth: an activity no longer opted in is taken down even if the signal never came.
      if (!targets.offered) state.optedOut = true;
      passesThisRun += 1;
      const bound = input.continueAsNewAfterPasses;
      if (workflowInfo().continueAsNewSuggested || (bound !== undefined && passesThisRun >= bound)) {
        await condition(() => lanes.idle() && allHandlersFinished());
        const { syncPasses, changesSeen, pending, lastReconcileAt } = state;
        await continueAsNew<typeof activityLifecycleWorkflow>({
          ...input,
          carried: { syncPasses, changesSeen, pending, lastReconcileAt, connections: lanes.statuses() },
        });
      }
    }

    // The last pass to every connection finds the activity no longer offered: it hides it and removes its sessions.
    state.phase = 'stopping';
    const targets = await pass('change');
    await condition(() => lanes.idle());
    if (!targets.offered && state.pending.length === 0) break;
    // Opted in again while stopping: carry on.
    if (targets.offered) {
      state.optedOut = false;
      state.phase = 'running';
    }
  }

  await acts.recordLifecycleStopped(input);
  state.phase = 'stopped';
  log.info('activity lifecycle stopped', { activityId: input.activityId, syncPasses: state.syncPasses });
  return { ...state, connections: lanes.statuses(), nextHorizonEntryAt: null };
}
