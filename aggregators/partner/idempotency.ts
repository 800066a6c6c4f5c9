import { Context } from '@temporalio/activity';
import { createHash, randomUUID } from 'node:crypto';
import { canonicalJson } from '../../lib/canonical-json.js';

/**
 * Where a call happens, for its Idempotency-Key. Inside a Temporal activity it is the activity execution (workflow id,
 * run id, activity id), which every retry of that activity shares; outside one there is no retry to protect, so
 * undefined (each call gets a fresh key).
 */
export type IdempotencyScope = () => string | undefined;

export const temporalActivityScope: IdempotencyScope = () => {
  try {
    const info = Context.current().info;
    const workflow = info.workflowExecution;
    // An activity started without a workflow is told apart by its own run id.
    return workflow ? `${workflow.workflowId}/${workflow.runId}/${info.activityId}` : `${info.activityId}/${info.activityRunId ?? ''}`;
  } catch {
    return undefined;
  }
};

/**
 * The key for one operation on one target. The body is part of it: an activity attempt that recomputed a different
 * body must be applied, not answered with the earlier attempt's stored response (or refused as a reused key).
 */
export function idempotencyKey(scope: string | undefined, operation: string, target: string, body: unknown): string {
  const hash = createHash('sha256')
    .update(canonicalJson([scope ?? randomUUID(), operation, target, body ?? null]))
    .digest('hex');
  return `${operation}-${hash.slice(0, 40)}`;
}
