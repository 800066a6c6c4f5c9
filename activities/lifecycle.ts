import { Context } from '@temporalio/activity';
import type { Db } from '../db/index.js';
import type { SyncReason } from '../db/schema.js';
import type { ActivityChange, ActivityLifecycleInput } from '../workflows/activity-lifecycle.js';

function callingWorkflow(): { workflowId: string; runId: string } {
  const execution = Context.current().info.workflowExecution;
  if (!execution) throw new Error('this activity runs only inside a workflow');
  return execution;
}

export function createLifecycleActivities(db: Db) {
  return {
    /** Records that the activity's lifecycle workflow runs (idempotent: a retry or a new run overwrites the row). */
    async recordLifecycleStarted(input: ActivityLifecycleInput): Promise<void> {
      const workflowExecution = callingWorkflow();
      await db
        .insertInto('activity_lifecycles')
        .values({
          activity_id: input.activityId,
          company_id: input.companyId,
          workflow_id: workflowExecution.workflowId,
          run_id: workflowExecution.runId,
          status: 'running',
          started_at: new Date(),
          stopped_at: null,
        })
        .onConflict((oc) =>
          oc.column('activity_id').doUpdateSet((eb) => ({
            workflow_id: eb.ref('excluded.workflow_id'),
            run_id: eb.ref('excluded.run_id'),
            status: 'running',
            started_at: eb.ref('excluded.started_at'),
            stopped_at: null,
          })),
        )
        .execute();
      Context.current().log.info('activity lifecycle recorded as running', { activityId: input.activityId });
    },

    async recordLifecycleStopped(input: ActivityLifecycleInput): Promise<void> {
      const workflowExecution = callingWorkflow();
      await db
        .updateTable('activity_lifecycles')
        .set({ status: 'stopped', stopped_at: new Date() })
        .where('activity_id', '=', input.activityId)
        .where('run_id', '=', workflowExecution.runId)
        .execute();
      Context.current().log.info('activity lifecycle recorded as stopped', { activityId: input.activityId });
    },

    /** Records one sync pass of the lifecycle: when, why, and how many changes it covered. */
    async recordSyncPass(input: { activityId: string; reason: SyncReason; changes: ActivityChange[] }): Promise<void> {
      await db
        .updateTable('activity_lifecycles')
        .set((eb) => ({ sync_passes: eb('sync_passes', '+', 1), last_sync_at: new Date(), last_sync_reason: input.reason }))
        .where('activity_id', '=', input.activityId)
        .execute();
      Context.current().log.info('sync pass', { activityId: input.activityId, reason: input.reason, changes: input.changes.length });
    },
  };
}
