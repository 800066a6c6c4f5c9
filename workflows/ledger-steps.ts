import type { LocalActivityOptions } from '@temporalio/workflow';

/**
 * The options of every workflow's ledger steps run as local activities: short reads and writes of PostgreSQL, each
 * bounded at 10 s and retried from 200 ms, doubling up to 10 s, for as long as the workflow waits (a database restart
 * is a pause, not a failure). The booking request's decision and finish and the lifecycle pass's own steps use them.
 */
export const LEDGER_STEP_OPTIONS: LocalActivityOptions = {
  startToCloseTimeout: '10 seconds',
  retry: { initialInterval: '200 milliseconds', backoffCoefficient: 2, maximumInterval: '10 seconds' },
};
