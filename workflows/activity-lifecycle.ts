import { condition, defineQuery, defineSignal, log, proxyActivities, setHandler } from '@temporalio/workflow';
import type { createActivities } from '../activities/index.js';

export interface ActivityLifecycleInput {
  companyId: string;
  venueId: string;
  activityId: string;
}

export interface ActivityChange {
  /** What the API saw change, for the history: 'activity', 'session', 'booking'. */
  kind: 'activity' | 'session' | 'booking';
  id: string;
}

export interface ActivityLifecycleState {
  phase: 'starting' | 'running' | 'stopping' | 'stopped';
  optedOut: boolean;
  changesSeen: number;
}

/** The API signals every change of the activity, its sessions or their bookings. */
export const activityChangedSignal = defineSignal<[ActivityChange]>('activityChanged');
/** The studio turned aggregator bookings off for the activity. */
export const optOutSignal = defineSignal('optOut');
export const lifecycleStateQuery = defineQuery<ActivityLifecycleState>('lifecycleState');

const { recordLifecycleStarted, recordLifecycleStopped } = proxyActivities<ReturnType<typeof createActivities>>({
  startToCloseTimeout: '30 seconds',
  retry: { initialInterval: '1 second', maximumInterval: '1 minute' },
});

/**
 * One long-lived workflow per activity opted in to aggregator bookings. For now it records that it runs and
 * waits for the opt-out; schedule sync grows inside this loop.
 */
export async function activityLifecycleWorkflow(input: ActivityLifecycleInput): Promise<ActivityLifecycleState> {
  const state: ActivityLifecycleState = { phase: 'starting', optedOut: false, changesSeen: 0 };
  setHandler(activityChangedSignal, (change) => {
    state.changesSeen += 1;
    log.info('activity changed', { change });
  });
  setHandler(optOutSignal, () => {
    state.optedOut = true;
  });
  setHandler(lifecycleStateQuery, () => state);

  await recordLifecycleStarted(input);
  state.phase = 'running';

  await condition(() => state.optedOut);
  state.phase = 'stopping';
  await recordLifecycleStopped(input);
  state.phase = 'stopped';
  return state;
}
