import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import type { Logger } from '../../lib/logger.js';
import { SA } from '../../temporal/search-attributes.js';
import {
  ACTIVITY_LIFECYCLE_WORKFLOW,
  activityChangedSignal,
  optOutSignal,
  type ActivityChange,
  type ActivityLifecycleInput,
  type ActivityLifecycleWorkflow,
} from '../../workflows/activity-lifecycle/contract.js';
import { workflowIds } from '../../workflows/ids.js';
import { ApiError } from '../errors.js';

/** What the API does to activity lifecycle workflows; a seam so routes can be tested without a Temporal server. */
export interface LifecycleControl {
  /** Starts the lifecycle workflow, or joins the one already running under the same id. */
  optIn(input: Pick<ActivityLifecycleInput, 'companyId' | 'venueId' | 'activityId'>): Promise<{ workflowId: string }>;
  optOut(activityId: string): Promise<void>;
  /** Tells a running lifecycle that something changed; nothing happens when none runs. Never fails the request. */
  notifyChange(activityId: string, change: ActivityChange): Promise<void>;
}

/**
 * Temporal not answering within the deadline is a 503 the caller can retry; the transaction around the call rolls
 * back. The deadline keeps an API request from waiting out the SDK's own retries.
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
  options: { taskQueue: string; syncIntervalMs: number; logger: Logger; rpcDeadlineMs?: number },
): LifecycleControl {
  const { taskQueue, syncIntervalMs, logger, rpcDeadlineMs = 5_000 } = options;
  const handle = (activityId: string) => client.workflow.getHandle(workflowIds.activityLifecycle(activityId));
  return {
    async optIn(input) {
      const workflowId = workflowIds.activityLifecycle(input.activityId);
      const start = () =>
        client.workflow.start<ActivityLifecycleWorkflow>(ACTIVITY_LIFECYCLE_WORKFLOW, {
          workflowId,
          taskQueue,
          args: [{ ...input, syncIntervalMs }],
          workflowIdConflictPolicy: 'USE_EXISTING',
          typedSearchAttributes: [
            { key: SA.companyId, value: input.companyId },
            { key: SA.venueId, value: input.venueId },
            { key: SA.activityId, value: input.activityId },
          ],
        });
      await orUnavailable(client, rpcDeadlineMs, start);
      return { workflowId };
    },
    async optOut(activityId) {
      try {
        await orUnavailable(client, rpcDeadlineMs, () => handle(activityId).signal(optOutSignal));
      } catch (error) {
        if (!(error instanceof WorkflowNotFoundError)) throw error;
      }
    },
    async notifyChange(activityId, change) {
      // Best effort: the change is already committed, and the periodic reconciliation repairs a missed signal.
      try {
        await handle(activityId).signal(activityChangedSignal, change);
      } catch (error) {
        if (!(error instanceof WorkflowNotFoundError)) {
          logger.warn({ err: error, activityId, change }, 'could not signal the activity lifecycle; reconciliation will catch up');
        }
      }
    },
  };
}
