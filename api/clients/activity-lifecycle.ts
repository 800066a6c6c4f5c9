import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import type { Logger } from '../../lib/logger.js';
import { SA } from '../../temporal/search-attributes.js';
import {
  ACTIVITY_LIFECYCLE_WORKFLOW,
  activityChangedSignal,
  lifecycleStateQuery,
  optOutSignal,
  type ActivityChange,
  type ActivityLifecycleInput,
  type ActivityLifecycleState,
  type ActivityLifecycleWorkflow,
} from '../../workflows/activity-lifecycle/contract.js';
import { workflowIds } from '../../workflows/ids.js';
import { ApiError } from '../errors.js';

/**
 * What the API does to activity lifecycle workflows; a seam so routes can be tested without a Temporal server. The
 * routes do not call it directly for changes: they write the change to the lifecycle outbox in their transaction and
 * hand it to `api/lifecycle-relay.ts`, which calls this and retries until it succeeds.
 */
export interface LifecycleControl {
  /**
   * Tells the lifecycle of an offered activity that something changed, starting it if it is not running
   * (signal-with-start: an opt-in is the first change). Throws when Temporal does not take it within the deadline.
   */
  signalChange(activity: LifecycleKey, change: ActivityChange): Promise<void>;
  /** Tells a running lifecycle the activity is no longer offered; none running is fine. Throws like signalChange. */
  optOut(activityId: string): Promise<void>;
  /** The lifecycle's state (per connection: last sync, pending changes, last error, counts); undefined when none ran. */
  state(activityId: string): Promise<ActivityLifecycleState | undefined>;
}

export type LifecycleKey = Pick<ActivityLifecycleInput, 'companyId' | 'venueId' | 'activityId'>;

/**
 * Temporal not answering within the deadline is a 503 the caller can retry. The deadline keeps an API request (and
 * the relay) from waiting out the SDK's own retries.
 */
async function orUnavailable<T>(client: Client, deadlineMs: number, call: () => Promise<T>): Promise<T> {
  try {
    return await client.connection.withDeadline(Date.now() + deadlineMs, call);
  } catch (error) {
    if (error instanceof WorkflowNotFoundError || error instanceof ApiError) throw error;
    throw new ApiError(503, 'temporal_unavailable', 'the workflow service is unavailable; nothing was changed, try again', {
      cause: error instanceof Error ? error.message : String(error),
    });
  }
}

export function temporalLifecycleControl(
  client: Client,
  options: { taskQueue: string; syncIntervalMs: number; logger?: Logger; rpcDeadlineMs?: number },
): LifecycleControl {
  const { taskQueue, syncIntervalMs, rpcDeadlineMs = 5_000 } = options;
  const handle = (activityId: string) => client.workflow.getHandle(workflowIds.activityLifecycle(activityId));
  const startOptions = (input: LifecycleKey) => ({
    workflowId: workflowIds.activityLifecycle(input.activityId),
    taskQueue,
    args: [{ ...input, syncIntervalMs }] as [ActivityLifecycleInput],
    typedSearchAttributes: [
      { key: SA.companyId, value: input.companyId },
      { key: SA.venueId, value: input.venueId },
      { key: SA.activityId, value: input.activityId },
    ],
  });
  return {
    async signalChange(activity, change) {
      await orUnavailable(client, rpcDeadlineMs, () =>
        client.workflow.signalWithStart<ActivityLifecycleWorkflow, [ActivityChange]>(ACTIVITY_LIFECYCLE_WORKFLOW, {
          ...startOptions(activity),
          signal: activityChangedSignal,
          signalArgs: [change],
        }),
      );
    },
    async optOut(activityId) {
      try {
        await orUnavailable(client, rpcDeadlineMs, () => handle(activityId).signal(optOutSignal));
      } catch (error) {
        if (!(error instanceof WorkflowNotFoundError)) throw error;
      }
    },
    async state(activityId) {
      try {
        return await orUnavailable(client, rpcDeadlineMs, () => handle(activityId).query(lifecycleStateQuery));
      } catch (error) {
        if (error instanceof WorkflowNotFoundError) return undefined;
        throw error;
      }
    },
  };
}
