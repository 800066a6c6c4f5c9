/**
 * Workflow ids are business keys, so ops can find a workflow in the Temporal UI from what they know
 * (an activity id) and a second start for the same thing is refused or joined instead of duplicated.
 */
export const workflowIds = {
  activityLifecycle: (activityId: string): string => `activity-lifecycle:${activityId}`,
  /** One per aggregator booking number: every event about the booking goes to it. */
  bookingRequest: (aggregator: string, bookingNumber: string): string => `booking:${aggregator}:${bookingNumber}`,
  /** One per cancelled session; its branches are `<this id>:<aggregator>`. */
  sessionCancellation: (sessionId: string): string => `session-cancellation:${sessionId}`,
} as const;
