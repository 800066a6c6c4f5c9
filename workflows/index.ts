// The worker's workflow bundle entry point: every workflow type the worker runs is exported here.
export { activityLifecycleWorkflow } from './activity-lifecycle/workflow.js';
export { bookingRequestWorkflow } from './booking-request/workflow.js';
export { cancellationBranchWorkflow, sessionCancellationWorkflow } from './session-cancellation/workflow.js';
export { sessionTimersWorkflow } from './session-timers/workflow.js';
export { eventDeliveryWorkflow } from './studio-events/workflow.js';
