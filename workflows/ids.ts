/**
 * Workflow ids are business keys, so ops can find a workflow in the Temporal UI from what they know
 * (an activity id) and a second start for the same thing is refused or joined instead of duplicated.
 */
export const workflowIds = {
  activityLifecycle: (activityId: string): string => `activity-lifecycle:${activityId}`,
  /**
   * One per booking number as received by one connection: every event about the booking goes to it. The number is
   * the aggregator's, so it means something only within the connection that received it; another company's connection
   * can never reach this workflow by naming the same number.
   */
  bookingRequest: (ref: { aggregator: string; connectionId: string; bookingNumber: string }): string =>
    `booking:${ref.aggregator}:${ref.connectionId}:${ref.bookingNumber}`,
  /** One per cancelled session; its branches are `cancellationBranch`. */
  sessionCancellation: (sessionId: string): string => `session-cancellation:${sessionId}`,
  /** One aggregator's part of a session's cancellation (a session holds one connection per aggregator). */
  cancellationBranch: (sessionId: string, aggregator: string): string => `session-cancellation:${sessionId}:${aggregator}`,
  /** One per session of an offered activity: its release, offer and no-show timers. */
  sessionTimers: (sessionId: string): string => `session-timers:${sessionId}`,
  /** One lane of events to a studio endpoint: the endpoint and the ordering key (`booking:<id>`, `session:<id>`, …). */
  eventDelivery: (endpointId: string, orderingKey: string): string => `studio-events:${endpointId}:${orderingKey}`,
} as const;
