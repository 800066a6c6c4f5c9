import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';

/**
 * Custom search attributes that let ops find workflows by business key in the Temporal Web UI
 * (e.g. `VenueId = "..." AND BookingStatus = "requested"`).
 */
export const SA = {
  companyId: defineSearchAttributeKey('CompanyId', SearchAttributeType.KEYWORD),
  venueId: defineSearchAttributeKey('VenueId', SearchAttributeType.KEYWORD),
  activityId: defineSearchAttributeKey('ActivityId', SearchAttributeType.KEYWORD),
  sessionId: defineSearchAttributeKey('SessionId', SearchAttributeType.KEYWORD),
  aggregators: defineSearchAttributeKey('Aggregators', SearchAttributeType.KEYWORD_LIST),
  bookingStatus: defineSearchAttributeKey('BookingStatus', SearchAttributeType.KEYWORD),
} as const;

export const ALL_SEARCH_ATTRIBUTES = Object.values(SA);
