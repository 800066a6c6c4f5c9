import { condition, continueAsNew, proxyActivities, setHandler, sleep, workflowInfo } from '@temporalio/workflow';
import { nextDeliveryStep } from '../../domain/studio-events.js';
import {
  eventDeliveryStateQuery,
  eventsRecordedSignal,
  type CarriedDelivery,
  type EventDeliveryInput,
  type EventDeliveryState,
  type StudioEventActivities,
} from './contract.js';

/**
 * Each attempt is one activity call that never fails on the receiver's account (its failures come back as results):
 * the workflow paces the retries itself, on its own clock, so the schedule (domain/studio-events.ts) is one pure
 * function, a receiver's Retry-After is honoured, the three days run on the time-skipping server in tests, and the
 * give-up is recorded. The activity's own retry policy covers only our side failing (PostgreSQL away).
 */
const acts = proxyActivities<StudioEventActivities>({
  startToCloseTimeout: '30 seconds',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '1 minute' },
});

/** How long a lane with nothing pending waits for more before its workflow ends (a new event starts it again). */
export const IDLE_MS = 60_000;
/** Steps (reads and attempts) per run: the history stays under about a thousand events however long a receiver is down. */
export const STEPS_PER_RUN = 100;

/**
 * Delivers one lane's events (one endpoint, one booking, session or connection) in order: the next is sent only once
 * the one before it was delivered or given up on.
 */
export async function eventDeliveryWorkflow(input: EventDeliveryInput): Promise<{ finished: number }> {
  let woken = false;
  setHandler(eventsRecordedSignal, () => {
    woken = true;
  });
  let current: CarriedDelivery | undefined = input.carried;
  let finished = input.finishedBefore ?? 0;
  const state: EventDeliveryState = { endpointId: input.endpointId, orderingKey: input.orderingKey, finished, current: null };
  setHandler(eventDeliveryStateQuery, () => ({ ...state, finished }));
  let lastError: string | null = null;

  for (let steps = 0; ; steps += 1) {
    if (steps >= STEPS_PER_RUN || workflowInfo().continueAsNewSuggested) {
      await continueAsNew<typeof eventDeliveryWorkflow>({ endpointId: input.endpointId, orderingKey: input.orderingKey, carried: current, finishedBefore: finished });
    }
    if (current === undefined) {
      // Reset before the read: an event committed while it runs wakes the wait below at once.
      woken = false;
      const next = await acts.nextEventDispatch({ endpointId: input.endpointId, orderingKey: input.orderingKey });
      if (next === null) {
        if (await condition(() => woken, IDLE_MS)) continue;
        return { finished };
      }
      current = { dispatchId: next, attempts: 0, firstAttemptAt: Date.now() };
      lastError = null;
    }
    current.attempts += 1;
    state.current = { ...current, lastError, nextAttemptAt: null };
    const result = await acts.deliverEvent({ dispatchId: current.dispatchId, attempt: current.attempts });
    if (result.outcome !== 'failed') {
      finished += 1;
      current = undefined;
      state.current = null;
      continue;
    }
    lastError = result.error;
    const step = nextDeliveryStep({ attempt: current.attempts, firstAttemptAt: current.firstAttemptAt, now: Date.now(), retryAfterMs: result.retryAfterMs });
    if ('giveUp' in step) {
      await acts.giveUpEvent({ dispatchId: current.dispatchId, attempts: current.attempts, lastError });
      finished += 1;
      current = undefined;
      state.current = null;
      continue;
    }
    state.current = { ...current, lastError, nextAttemptAt: new Date(Date.now() + step.retryInMs).toISOString() };
    await sleep(step.retryInMs);
  }
}
