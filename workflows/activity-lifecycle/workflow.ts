import { allHandlersFinished, condition, continueAsNew, log, proxyActivities, setHandler, workflowInfo } from '@temporalio/workflow';
import type { SyncReason } from '../../db/schema.js';
import {
  activityChangedSignal,
  lifecycleStateQuery,
  optOutSignal,
  type ActivityChange,
  type ActivityLifecycleActivities,
  type ActivityLifecycleInput,
  type ActivityLifecycleState,
} from './contract.js';

const acts = proxyActivities<ActivityLifecycleActivities>({
  startToCloseTimeout: '30 seconds',
  retry: { initialInterval: '1 second', maximumInterval: '1 minute' },
});

const sameChange = (a: ActivityChange, b: ActivityChange) => a.kind === b.kind && a.id === b.id;

/**
 * One long-lived workflow per activity opted in to aggregator bookings. It runs a sync pass at start, within
 * moments of every change the API signals, and every sync interval to repair drift; it ends when the studio opts
 * the activity out. What a pass pushes to the aggregators grows with the adapters; today it records the pass.
 */
export async function activityLifecycleWorkflow(input: ActivityLifecycleInput): Promise<ActivityLifecycleState> {
  const state: ActivityLifecycleState = {
    phase: 'starting',
    optedOut: false,
    lastSyncReason: null,
    syncPasses: input.carried?.syncPasses ?? 0,
    changesSeen: input.carried?.changesSeen ?? 0,
    pending: input.carried?.pending ?? [],
  };
  setHandler(activityChangedSignal, (change) => {
    state.changesSeen += 1;
    // A burst of signals about the same thing needs one pass, not one per signal.
    if (!state.pending.some((p) => sameChange(p, change))) state.pending.push(change);
  });
  setHandler(optOutSignal, () => {
    state.optedOut = true;
  });
  setHandler(lifecycleStateQuery, () => state);

  const pass = async (reason: SyncReason) => {
    const changes = state.pending.splice(0);
    await acts.recordSyncPass({ activityId: input.activityId, reason, changes });
    state.syncPasses += 1;
    state.lastSyncReason = reason;
  };

  if (input.carried === undefined) {
    await acts.recordLifecycleStarted(input);
    await pass('start');
  }
  state.phase = 'running';

  while (!state.optedOut) {
    const woken = await condition(() => state.optedOut || state.pending.length > 0, input.syncIntervalMs);
    if (state.optedOut) break;
    await pass(woken ? 'change' : 'periodic');
    if (workflowInfo().continueAsNewSuggested) {
      await condition(allHandlersFinished);
      const { syncPasses, changesSeen, pending } = state;
      await continueAsNew<typeof activityLifecycleWorkflow>({ ...input, carried: { syncPasses, changesSeen, pending } });
    }
  }

  state.phase = 'stopping';
  await acts.recordLifecycleStopped(input);
  state.phase = 'stopped';
  log.info('activity lifecycle stopped', { activityId: input.activityId, syncPasses: state.syncPasses });
  return state;
}
