import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import { SA } from '../../temporal/search-attributes.js';
import { workflowIds } from '../../workflows/ids.js';
import {
  SESSION_CANCELLATION_WORKFLOW,
  cancellationProgressQuery,
  wakeBranchSignal,
  type CancellationProgress,
  type SessionCancellationInput,
} from '../../workflows/session-cancellation/contract.js';
import { ApiError } from '../errors.js';

type SessionCancellationWorkflow = (input: SessionCancellationInput) => Promise<CancellationProgress>;

/** What the API does to cancellation fan-outs. */
export interface CancellationControl {
  /** Starts the fan-out of a session's cancellation (joins it when it runs already); called inside the ledger's transaction. */
  start(input: SessionCancellationInput): Promise<{ workflowId: string }>;
  /** The fan-out's own view of its progress; undefined when it is not known to Temporal (any more). */
  progress(sessionId: string): Promise<CancellationProgress | undefined>;
  /**
   * Starts the fan-out of a committed cancellation again when no run of it is running (it ended before its work was
   * done, or never began); true when it started one. Safe from several processes at once: the start joins a run
   * another process started in between.
   */
  restart(input: SessionCancellationInput): Promise<boolean>;
  /** Tells the given branches, waiting to retry, to try again now (their connection changed); best effort. */
  wakeBranches(branches: ReadonlyArray<{ sessionId: string; aggregator: string }>): Promise<void>;
}

export function temporalCancellationControl(client: Client, options: { taskQueue: string; rpcDeadlineMs?: number }): CancellationControl {
  const { taskQueue, rpcDeadlineMs = 5_000 } = options;
  const control: CancellationControl = {
    async start(input) {
      const workflowId = workflowIds.sessionCancellation(input.sessionId);
      try {
        await client.connection.withDeadline(Date.now() + rpcDeadlineMs, () =>
          client.workflow.start<SessionCancellationWorkflow>(SESSION_CANCELLATION_WORKFLOW, {
            workflowId,
            taskQueue,
            args: [input],
            workflowIdConflictPolicy: 'USE_EXISTING',
            typedSearchAttributes: [
              { key: SA.companyId, value: input.companyId },
              { key: SA.venueId, value: input.venueId },
              { key: SA.activityId, value: input.activityId },
              { key: SA.sessionId, value: input.sessionId },
            ],
          }),
        );
      } catch (error) {
        // The transaction around this call rolls back: the session stays as it was.
        throw new ApiError(503, 'temporal_unavailable', 'the workflow service is unavailable; nothing was changed, try again', {
          cause: error instanceof Error ? error.message : String(error),
        });
      }
      return { workflowId };
    },
    async progress(sessionId) {
      try {
        return await client.connection.withDeadline(Date.now() + rpcDeadlineMs, () =>
          client.workflow.getHandle(workflowIds.sessionCancellation(sessionId)).query(cancellationProgressQuery),
        );
      } catch (error) {
        if (error instanceof WorkflowNotFoundError) return undefined;
        return undefined;
      }
    },
    async restart(input) {
      const handle = client.workflow.getHandle(workflowIds.sessionCancellation(input.sessionId));
      const running = await client.connection.withDeadline(Date.now() + rpcDeadlineMs, () => handle.describe()).then(
        (d) => d.status.name === 'RUNNING',
        (error: unknown) => {
          if (error instanceof WorkflowNotFoundError) return false;
          throw error;
        },
      );
      if (running) return false;
      await control.start(input);
      return true;
    },
    async wakeBranches(branches) {
      await Promise.all(
        branches.map((b) =>
          client.connection
            .withDeadline(Date.now() + rpcDeadlineMs, () => client.workflow.getHandle(workflowIds.cancellationBranch(b.sessionId, b.aggregator)).signal(wakeBranchSignal))
            // Not running (done, or its parent restarts it) or Temporal unreachable: the branch retries after its backoff.
            .catch(() => undefined),
        ),
      );
    },
  };
  return control;
}
