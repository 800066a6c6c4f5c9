/**
 * What the benchmarks read of the sandboxes' own records (`GET /__sandbox/state`, `/__sandbox/deliveries`): the
 * fields they use, the seeded venues, and the states a booking ends in at each kind of aggregator.
 */
import type { Aggregator } from '../domain/model.js';

/** The time zone of the venue every benchmark seeds. */
export const VENUE_TIME_ZONE = 'Europe/Berlin';

/** The seeded Wellhub gym, and each partner sandbox's seeded venue. */
export const WELLHUB_GYM = '1';
export const partnerVenue = (aggregator: Aggregator) => `${aggregator}-sandbox-venue`;

export const WELLHUB_RESERVED = 'RESERVED';
export const WELLHUB_CANCELLED = 'CANCELLED_BY_GYM';
export const PARTNER_RESERVED = 'confirmed';
export const PARTNER_CANCELLED = 'cancelled_by_venue';

export interface WellhubBookingView {
  booking_number: string;
  slot_id: number;
  class_id: number;
  gym_id: number;
  user: { unique_token: string; name: string; email: string };
  state: string;
  reason_category?: string | null;
  requested_at: string;
  history: { state: string; at: string; by: string }[];
}

export interface WellhubState {
  gyms: {
    id: number;
    classes: { id: number; reference?: string | null; deleted: boolean }[];
    slots: { id: number; class_id: number; occur_date: string; deleted: boolean }[];
    bookings: WellhubBookingView[];
  }[];
}

export interface PartnerBookingView {
  id: string;
  session_reference: string;
  status: string;
  reason_code?: string | null;
  requested_at: string;
  updated_at: string;
}

export interface PartnerState {
  sessions: { reference: string; status: string }[];
  bookings: PartnerBookingView[];
}

/** A partner's webhook delivery (its attempts as the sandbox timed them, and the answer it read). */
export interface PartnerDelivery {
  eventId: string;
  bookingId: string;
  attempts: { at: string; status: number | null; error: string | null; durationMs: number }[];
  outcome: string;
  answer?: { status: string; reason_code?: string } | null;
}

export interface WellhubDelivery {
  bookingNumber: string;
  eventType: string;
  attempts: { attempt: number; status?: number; error?: string; durationMs?: number }[];
}

/** A Wellhub slot's start, epoch ms (its occur_date may carry a zone name in brackets). */
export const occurMs = (occurDate: string) => Date.parse(occurDate.replace(/\[[^\]]*\]$/, ''));
