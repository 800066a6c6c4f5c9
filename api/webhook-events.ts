import type { AggregatorAdapter, AggregatorEvent } from '../aggregators/types.js';
import type { BookingEvent, BookingRequestInput } from '../workflows/booking-request/contract.js';

/**
 * A verified aggregator event as the booking workflow takes it, shared by the webhook route (which hands it over at
 * once) and the inbox dispatcher (which hands over what the route could not).
 */
export function toBookingEvent(event: AggregatorEvent): BookingEvent {
  return {
    type: event.type,
    eventId: event.eventId,
    occurredAt: event.occurredAt.toISOString(),
    ...(event.type === 'booking_cancelled' ? { late: event.late } : {}),
    sessionExternalId: event.sessionExternalId,
    activityExternalId: event.activityExternalId,
    member: { externalId: event.customer.externalId, name: event.customer.name, email: event.customer.email },
  };
}

export function requestInput(
  adapter: AggregatorAdapter,
  connection: { id: string; company_id: string; venue_id: string },
  bookingNumber: string,
): BookingRequestInput {
  return {
    aggregator: adapter.aggregator,
    bookingNumber,
    companyId: connection.company_id,
    venueId: connection.venue_id,
    connectionId: connection.id,
    answersSynchronously: adapter.capabilities.answersBookingsSynchronously,
    bookingDeadlineMs: adapter.capabilities.bookingDeadlineMs,
  };
}
