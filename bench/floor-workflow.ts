/**
 * The engine's floor for `bench/bookings.ts`: a workflow with the shape of the booking request workflow's happy path
 * for an asynchronous aggregator (workflows/booking-request/workflow.ts), minus our code. Started by
 * signal-with-start as the webhook route starts a booking, it runs, per request:
 *
 *   decideRequest (local) -> upsert SessionId -> signal to another workflow (the activity lifecycle's) ->
 *   answerAggregator (normal activity: the aggregator's RESERVED is recorded here) -> finishRequest (local, which
 *   also settles the inbox event and so replaces the former markEvents; earlier events now come with decideRequest)
 *   -> upsert BookingStatus
 *
 * and lingers like the booking workflow before it completes. The activities do nothing but record when they ran
 * (bench/floor-activities.ts), so what is measured is Temporal's own cost: the dev server, the SDK worker, the round
 * trips between them.
 */
import {
  allHandlersFinished,
  condition,
  defineSignal,
  getExternalWorkflowHandle,
  proxyActivities,
  proxyLocalActivities,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import { SA } from '../temporal/search-attributes.js';
import { LEDGER_STEP_OPTIONS } from '../workflows/ledger-steps.js';
import type { FloorActivities } from './floor-activities.js';

export const FLOOR_WORKFLOW = 'floorWorkflow';
export const FLOOR_SINK_WORKFLOW = 'floorSinkWorkflow';

export interface FloorInput {
  /** The long-lived workflow signalled once per request, as the booking workflow signals the activity lifecycle. */
  sinkWorkflowId: string;
  /** How long the workflow stays open after its last event (the booking workflow's LINGER_MS). */
  lingerMs: number;
  /**
   * false: the signal is sent without waiting for its delivery before the normal activity (to measure that lever);
   * default true, as the booking workflow does.
   */
  awaitSignal?: boolean;
}

export interface FloorEvent {
  eventId: string;
}

export const floorEventSignal = defineSignal<[FloorEvent]>('floorEvent');
export const floorSinkSignal = defineSignal<[{ kind: 'booking'; id: string }]>('floorChanged');

// The same options as the booking workflow's ledger steps and aggregator calls.
const ledger = proxyLocalActivities<FloorActivities>(LEDGER_STEP_OPTIONS);
const aggregator = proxyActivities<FloorActivities>({
  startToCloseTimeout: '10 seconds',
  scheduleToCloseTimeout: '13 minutes',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '30 seconds' },
});

export async function floorWorkflow(input: FloorInput): Promise<void> {
  const { workflowId } = workflowInfo();
  const queue: FloorEvent[] = [];
  let lastEventAt = Date.now();
  setHandler(floorEventSignal, (event) => {
    lastEventAt = Date.now();
    queue.push(event);
  });

  for (;;) {
    const more = await condition(() => queue.length > 0, Math.max(1, lastEventAt + input.lingerMs - Date.now()));
    if (!more) {
      if (Date.now() - lastEventAt >= input.lingerMs) break;
      continue;
    }
    const event = queue.shift() as FloorEvent;
    await ledger.decideRequest(workflowId);
    upsertSearchAttributes([{ key: SA.sessionId, value: 'floor-session' }]);
    const signalled = getExternalWorkflowHandle(input.sinkWorkflowId)
      .signal(floorSinkSignal, { kind: 'booking', id: event.eventId })
      .catch(() => {
        // As the booking workflow: a lifecycle that cannot be signalled is only logged.
      });
    if (input.awaitSignal !== false) await signalled;
    await aggregator.answerAggregator(workflowId);
    await signalled;
    await ledger.finishRequest(workflowId);
    upsertSearchAttributes([{ key: SA.bookingStatus, value: 'reserved' }]);
  }
  await condition(allHandlersFinished);
}

/** Stands for the activity lifecycle workflow: takes the signals and does nothing with them. */
export async function floorSinkWorkflow(): Promise<number> {
  let received = 0;
  let stop = false;
  setHandler(floorSinkSignal, () => {
    received += 1;
  });
  setHandler(defineSignal('floorStop'), () => {
    stop = true;
  });
  await condition(() => stop);
  return received;
}
