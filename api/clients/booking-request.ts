import {
  WorkflowNotFoundError,
  WorkflowUpdateFailedError,
  type Client,
} from '@temporalio/client';
import { SA } from '../../temporal/search-attributes.js';
import {
  BOOKING_REQUEST_WORKFLOW,
  approvalUpdate,
  bookingEventSignal,
  bookingRequestStateQuery,
  synchronousAnswerSignal,
  type ApprovalInput,
  type BookingEvent,
  type BookingRequestInput,
  type BookingRequestState,
  type RequestAnswerBody,
} from '../../workflows/booking-request/contract.js';
import { workflowIds } from '../../workflows/ids.js';
import { ApiError } from '../errors.js';

/** A booking number, as received by one connection of one aggregator. */
export interface BookingRef {
  aggregator: string;
  connectionId: string;
  bookingNumber: string;
}

type BookingRequestWorkflow = (input: BookingRequestInput) => Promise<BookingRequestState>;

/** What the API does to booking request workflows (one per aggregator booking number). */
export interface BookingRequestControl {
  /**
   * Hands an event to the booking's workflow, starting it when none runs (signal-with-start: copies join one run),
   * within `deadlineMs` (default the client's hand-over deadline).
   */
  deliver(input: BookingRequestInput, event: BookingEvent, deadlineMs?: number): Promise<void>;
  /** Whether Temporal answers at all (a cheap call), so that an outage is told apart from a bad event. */
  reachable(): Promise<boolean>;
  /** Tells the workflow whether the synchronous answer went out in the webhook response. */
  reportSynchronousAnswer(input: BookingRequestInput, delivered: boolean): Promise<void>;
  /** A backend service's approval or refusal of a held request: 409 when it is not waiting for one. */
  approve(ref: BookingRef, approval: ApprovalInput): Promise<RequestAnswerBody>;
  state(ref: BookingRef): Promise<BookingRequestState | undefined>;
}

export function temporalBookingRequestControl(
  client: Client,
  options: { taskQueue: string; rpcDeadlineMs?: number; deliverDeadlineMs?: number },
): BookingRequestControl {
  // Handing a webhook's event over must answer well inside Wellhub's 1 s; past it the inbox keeps the event (202) and
  // the dispatcher hands it over.
  const { taskQueue, rpcDeadlineMs = 5_000, deliverDeadlineMs = Math.min(700, rpcDeadlineMs) } = options;
  const startOptions = (input: BookingRequestInput) => ({
    workflowId: workflowIds.bookingRequest(input),
    taskQueue,
    args: [input] as [BookingRequestInput],
    typedSearchAttributes: [
      { key: SA.companyId, value: input.companyId },
      { key: SA.venueId, value: input.venueId },
      { key: SA.aggregators, value: [input.aggregator] },
      { key: SA.bookingStatus, value: 'requested' },
    ],
  });
  const withDeadline = <T>(ms: number, call: () => Promise<T>) => client.connection.withDeadline(Date.now() + ms, call);
  const handle = (ref: BookingRef) => client.workflow.getHandle(workflowIds.bookingRequest(ref));

  return {
    async deliver(input, event, deadlineMs = deliverDeadlineMs) {
      await withDeadline(deadlineMs, () =>
        client.workflow.signalWithStart<BookingRequestWorkflow, [BookingEvent]>(BOOKING_REQUEST_WORKFLOW, {
          ...startOptions(input),
          signal: bookingEventSignal,
          signalArgs: [event],
        }),
      );
    },

    async reachable() {
      try {
        await withDeadline(rpcDeadlineMs, () => client.workflowService.getSystemInfo({}));
        return true;
      } catch {
        return false;
      }
    },

    async reportSynchronousAnswer(input, delivered) {
      await withDeadline(rpcDeadlineMs, () =>
        handle(input).signal(synchronousAnswerSignal, { delivered }),
      );
    },

    async approve(ref, approval) {
      try {
        return await withDeadline(rpcDeadlineMs * 3, () => handle(ref).executeUpdate(approvalUpdate, { args: [approval] }));
      } catch (error) {
        if (error instanceof WorkflowUpdateFailedError || error instanceof WorkflowNotFoundError) {
          const cause = error instanceof WorkflowUpdateFailedError && error.cause instanceof Error ? error.cause.message : undefined;
          throw ApiError.conflict(cause ?? 'the request is no longer waiting for approval');
        }
        throw new ApiError(503, 'temporal_unavailable', 'the workflow service is unavailable; nothing was changed, try again');
      }
    },

    async state(ref) {
      try {
        return await withDeadline(rpcDeadlineMs, () => handle(ref).query(bookingRequestStateQuery));
      } catch (error) {
        if (error instanceof WorkflowNotFoundError) return undefined;
        throw error;
      }
    },
  };
}
