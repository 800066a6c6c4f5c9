import {
  condition,
  continueAsNew,
  getExternalWorkflowHandle,
  log,
  proxyActivities,
  setHandler,
  workflowInfo,
} from '@temporalio/workflow';
import { planSessionTimers } from '../../domain/session-timers.js';
import { activityChangedSignal } from '../activity-lifecycle/contract.js';
import { workflowIds } from '../ids.js';
import {
  sessionChangedSignal,
  sessionTimersStateQuery,
  type SessionTimersActivities,
  type SessionTimersInput,
  type SessionTimersResult,
  type SessionTimersState,
} from './contract.js';

const acts = proxyActivities<SessionTimersActivities>({
  startToCloseTimeout: '30 seconds',
  retry: { initialInterval: '1 second', maximumInterval: '1 minute' },
});

/**
 * One session's durable timers. It reads the session when it starts, whenever a timer fires and whenever it hears that
 * the session changed, does what is due (domain/session-timers.ts) and sleeps until the next moment. It ends once the
 * no-show pass has run, or when the session is gone or cancelled; a later change of the session starts it again.
 */
export async function sessionTimersWorkflow(input: SessionTimersInput): Promise<SessionTimersResult> {
  let changed = false;
  let handledUntil = input.handledUntil ?? null;
  const state: SessionTimersState = { nextAt: null, pushes: 0, noShows: 0 };
  setHandler(sessionChangedSignal, () => {
    changed = true;
  });
  setHandler(sessionTimersStateQuery, () => state);

  for (;;) {
    changed = false;
    const view = await acts.readSessionTimers({ sessionId: input.sessionId });
    const now = Date.now();
    const plan = planSessionTimers(view?.facts, now, handledUntil);
    if (plan.finished || view === undefined) return { ended: 'session_gone', noShows: state.noShows };
    let passDone = false;
    for (const action of plan.due) {
      if (action === 'push_counts') {
        state.pushes += 1;
        if (view.offered) await pushCounts(view.activityId, input.sessionId);
      } else {
        const pass = await acts.markNoShows({ sessionId: input.sessionId, at: new Date(now).toISOString() });
        state.noShows += pass.marked;
        passDone = pass.done;
      }
    }
    handledUntil = now;
    if (passDone) return { ended: 'no_show_pass_done', noShows: state.noShows };
    if (workflowInfo().continueAsNewSuggested) {
      await continueAsNew<typeof sessionTimersWorkflow>({ sessionId: input.sessionId, handledUntil });
    }
    state.nextAt = plan.nextAt === null ? null : new Date(plan.nextAt).toISOString();
    // Woken by the next moment or by a change, whichever comes first; with nothing ahead, only a change wakes it.
    if (plan.nextAt === null) await condition(() => changed);
    else await condition(() => changed, Math.max(1, plan.nextAt - Date.now()));
    state.nextAt = null;
  }
}

/** The lifecycle pushes the session's free spots to every aggregator again, as after a booking (the way bookings signal it). */
async function pushCounts(activityId: string, sessionId: string): Promise<void> {
  try {
    await getExternalWorkflowHandle(workflowIds.activityLifecycle(activityId)).signal(activityChangedSignal, { kind: 'session', id: sessionId });
  } catch (error) {
    // No lifecycle runs for an activity no longer offered: nothing to update at the aggregators.
    log.info('activity lifecycle not signalled', { activityId, error: error instanceof Error ? error.message : String(error) });
  }
}
