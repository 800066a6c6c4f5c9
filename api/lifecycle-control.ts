import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import { SA } from '../temporal/search-attributes.js';
import {
  activityChangedSignal,
  activityLifecycleWorkflow,
  optOutSignal,
  type ActivityChange,
  type ActivityLifecycleInput,
} from '../workflows/activity-lifecycle.js';
import { workflowIds } from '../workflows/ids.js';

/** What the API does to activity lifecycle workflows; a seam so routes can be tested without a Temporal server. */
export interface LifecycleControl {
  /** Starts the lifecycle workflow, or joins the one already running under the same id. */
  optIn(input: Pick<ActivityLifecycleInput, 'companyId' | 'venueId' | 'activityId'>): Promise<{ workflowId: string }>;
  optOut(activityId: string): Promise<void>;
  /** Tells a running lifecycle that something changed; nothing happens when none runs. */
  notifyChange(activityId: string, change: ActivityChange): Promise<void>;
}

export function temporalLifecycleControl(client: Client, options: { taskQueue: string; syncIntervalMs: number }): LifecycleControl {
  const { taskQueue, syncIntervalMs } = options;
  return {
    async optIn(input) {
      const workflowId = workflowIds.activityLifecycle(input.activityId);
      await client.workflow.start(activityLifecycleWorkflow, {
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
      return { workflowId };
    },
    async optOut(activityId) {
      try {
        await client.workflow.getHandle(workflowIds.activityLifecycle(activityId)).signal(optOutSignal);
      } catch (error) {
        if (!(error instanceof WorkflowNotFoundError)) throw error;
      }
    },
    async notifyChange(activityId, change) {
      try {
        await client.workflow.getHandle(workflowIds.activityLifecycle(activityId)).signal(activityChangedSignal, change);
      } catch (error) {
        if (!(error instanceof WorkflowNotFoundError)) throw error;
      }
    },
  };
}
