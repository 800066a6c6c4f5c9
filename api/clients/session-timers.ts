import type { Client } from '@temporalio/client';
import { SA } from '../../temporal/search-attributes.js';
import { workflowIds } from '../../workflows/ids.js';
import {
  SESSION_TIMERS_WORKFLOW,
  sessionChangedSignal,
  type SessionTimersInput,
  type SessionTimersResult,
} from '../../workflows/session-timers/contract.js';

type SessionTimersWorkflow = (input: SessionTimersInput) => Promise<SessionTimersResult>;

/** What the API side does to session timer workflows (through the relay: `api/session-timers-relay.ts`). */
export interface SessionTimersControl {
  /**
   * Tells the session's timer workflow that the session changed, starting it when none runs (signal-with-start; a run
   * that ended after its no-show pass is started again and finds what is left to do). Throws when Temporal does not
   * take it within the deadline.
   */
  sessionChanged(session: { companyId: string; sessionId: string }): Promise<void>;
}

export function temporalSessionTimersControl(client: Client, options: { taskQueue: string; rpcDeadlineMs?: number }): SessionTimersControl {
  const { taskQueue, rpcDeadlineMs = 5_000 } = options;
  return {
    async sessionChanged({ companyId, sessionId }) {
      await client.connection.withDeadline(Date.now() + rpcDeadlineMs, () =>
        client.workflow.signalWithStart<SessionTimersWorkflow, []>(SESSION_TIMERS_WORKFLOW, {
          workflowId: workflowIds.sessionTimers(sessionId),
          taskQueue,
          args: [{ sessionId }],
          signal: sessionChangedSignal,
          signalArgs: [],
          typedSearchAttributes: [
            { key: SA.companyId, value: companyId },
            { key: SA.sessionId, value: sessionId },
          ],
        }),
      );
    },
  };
}
