import { Context } from '@temporalio/activity';
import type { Db } from '../db/index.js';
import type { ActivityLifecycleActivities } from '../workflows/activity-lifecycle/contract.js';

function callingWorkflow(): { workflowId: string; runId: string } {
  const execution = Context.current().info.workflowExecution;
  if (!execution) throw new Error('this activity runs only inside a workflow');
  return execution;
}

export function createActivityLifecycleActivities(
  db: Db,
): Pick<ActivityLifecycleActivities, 'recordLifecycleStarted' | 'recordLifecycleStopped' | 'recordSyncPass'> {
  return {
    async recordLifecycleStarted(input): Promise<void> {
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

    async recordLifecycleStopped(input): Promise<void> {
      const workflowExecution = callingWorkflow();
      await db
        .updateTable('activity_lifecycles')
        .set({ status: 'stopped', stopped_at: new Date() })
        .where('activity_id', '=', input.activityId)
        .where('run_id', '=', workflowExecution.runId)
        .execute();
      Context.current().log.info('activity lifecycle recorded as stopped', { activityId: input.activityId });
    },

    async recordSyncPass(input) {
      await db
        .updateTable('activity_lifecycles')
        .set((eb) => ({ sync_passes: eb('sync_passes', '+', 1), last_sync_at: new Date(), last_sync_reason: input.reason }))
        .where('activity_id', '=', input.activityId)
        .execute();
      Context.current().log.info('sync pass', { activityId: input.activityId, reason: input.reason, changes: input.changes.length });
    },
  };
}
