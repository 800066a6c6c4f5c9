import type { Client } from '@temporalio/client';
import { SA } from '../../temporal/search-attributes.js';
import { workflowIds } from '../../workflows/ids.js';
import { EVENT_DELIVERY_WORKFLOW, eventsRecordedSignal, type EventDeliveryInput } from '../../workflows/studio-events/contract.js';

/** A lane of events to one endpoint: its workflow delivers the lane's pending events in order. */
export interface EventLane {
  companyId: string;
  endpointId: string;
  orderingKey: string;
}

/** What the event relay does to delivery workflows; a seam so the relay can be tested without Temporal. */
export interface EventDeliveryControl {
  /** Wakes the lane's workflow, starting it if none runs (signal-with-start). Throws when Temporal does not take it. */
  wake(lane: EventLane): Promise<void>;
}

export function temporalEventDeliveryControl(client: Client, options: { taskQueue: string; rpcDeadlineMs?: number }): EventDeliveryControl {
  const { taskQueue, rpcDeadlineMs = 5_000 } = options;
  return {
    async wake(lane) {
      await client.connection.withDeadline(Date.now() + rpcDeadlineMs, () =>
        client.workflow.signalWithStart(EVENT_DELIVERY_WORKFLOW, {
          workflowId: workflowIds.eventDelivery(lane.endpointId, lane.orderingKey),
          taskQueue,
          args: [{ endpointId: lane.endpointId, orderingKey: lane.orderingKey }] as [EventDeliveryInput],
          signal: eventsRecordedSignal,
          signalArgs: [],
          typedSearchAttributes: [{ key: SA.companyId, value: lane.companyId }],
        }),
      );
    },
  };
}
