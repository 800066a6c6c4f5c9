/**
 * The Temporal SDK's metrics, as its runtime's Prometheus exporter names them with the options worker/index.ts sets
 * (seconds, unit and `_total` suffixes): seen on its /metrics with TypeScript SDK 1.24, plus the failure counters that
 * appear once something fails. The dashboard and the alert rules may select these (test/unit/ops-files.test.ts);
 * start.test.ts reads a running worker's exporter back.
 */
export const TEMPORAL_SDK_METRICS = [
  'temporal_activity_execution_failed_total',
  'temporal_activity_execution_latency_seconds',
  'temporal_activity_schedule_to_start_latency_seconds',
  'temporal_activity_succeed_endtoend_latency_seconds',
  'temporal_activity_task_received_total',
  'temporal_long_request_latency_seconds',
  'temporal_long_request_total',
  'temporal_long_request_failure_total',
  'temporal_num_pollers',
  'temporal_request_latency_seconds',
  'temporal_request_total',
  'temporal_request_failure_total',
  'temporal_sticky_cache_hit_total',
  'temporal_sticky_cache_size',
  'temporal_worker_start_total',
  'temporal_worker_task_slots_available',
  'temporal_worker_task_slots_used',
  'temporal_workflow_completed_total',
  'temporal_workflow_failed_total',
  'temporal_workflow_endtoend_latency_seconds',
  'temporal_workflow_task_execution_latency_seconds',
  'temporal_workflow_task_execution_failed_total',
  'temporal_workflow_task_queue_poll_succeed_total',
  'temporal_workflow_task_replay_latency_seconds',
  'temporal_workflow_task_schedule_to_start_latency_seconds',
];
