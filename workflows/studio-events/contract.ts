import { defineQuery, defineSignal } from '@temporalio/workflow';

/**
 * Delivery of events to the studio backend: one workflow per (endpoint, ordering key)
 * (`studio-events:<endpointId>:<orderingKey>`), woken by the relay with signal-with-start, delivering that lane's
 * pending events one by one in the order the ledger recorded them. The relay, the workflow and its activities import
 * this module; it imports none of them.
 */

export const EVENT_DELIVERY_WORKFLOW = 'eventDeliveryWorkflow';

/** The event a run was working on when it continued as new. */
export interface CarriedDelivery {
  dispatchId: number;
  /** Attempts made so far. */
  attempts: number;
  /** The first attempt's time on the workflow's clock (ms): the three days to give up count from it. */
  firstAttemptAt: number;
}

export interface EventDeliveryInput {
  endpointId: string;
  orderingKey: string;
  carried?: CarriedDelivery | undefined;
  /** Events delivered (or given up) by earlier runs. */
  finishedBefore?: number | undefined;
}

export type DeliveryAttemptResult =
  | { outcome: 'delivered'; statusCode: number }
  /** A non-2xx answer, a timeout, a refused or failed connection: tried again later. */
  | { outcome: 'failed'; statusCode: number | null; error: string; retryAfterMs: number | null }
  /** Nothing to send: already finished (a replay of this workflow's step), or its endpoint was disabled or deleted. */
  | { outcome: 'skipped' };

export interface EventDeliveryState {
  endpointId: string;
  orderingKey: string;
  finished: number;
  current: (CarriedDelivery & { lastError: string | null; nextAttemptAt: string | null }) | null;
}

/** New events are pending in this lane (the relay, after their commit). */
export const eventsRecordedSignal = defineSignal('eventsRecorded');
export const eventDeliveryStateQuery = defineQuery<EventDeliveryState>('eventDeliveryState');

export interface StudioEventActivities {
  /** The lane's first pending dispatch, in order; null when none. */
  nextEventDispatch(input: { endpointId: string; orderingKey: string }): Promise<number | null>;
  /** One HTTP attempt, signed, logged in the delivery log; failures are returned, not thrown. */
  deliverEvent(input: { dispatchId: number; attempt: number }): Promise<DeliveryAttemptResult>;
  /** Three days of failures: the dispatch is `failed` and the delivery log says so. */
  giveUpEvent(input: { dispatchId: number; attempts: number; lastError: string | null }): Promise<void>;
}
