import type { Selectable } from 'kysely';
import type { ActivitiesTable, CompaniesTable, ConnectionsTable, SessionsTable, VenuesTable, ActivityLifecyclesTable } from '../db/schema.js';
import { formatInOffset } from '../domain/time.js';
import { workflowIds } from '../workflows/ids.js';

const iso = (d: Date) => d.toISOString();

export function presentCompany(row: Selectable<CompaniesTable>) {
  return { id: row.id, name: row.name, createdAt: iso(row.created_at) };
}

export function presentVenue(row: Selectable<VenuesTable>) {
  return {
    id: row.id,
    companyId: row.company_id,
    name: row.name,
    timeZone: row.time_zone,
    createdAt: iso(row.created_at),
    updatedAt: iso(row.updated_at),
  };
}

/** Secrets are reduced to whether they are set. */
export function presentConnection(
  row: Selectable<ConnectionsTable>,
  secretsSet: { apiToken: boolean; webhookSecret: boolean; previousWebhookSecret: boolean },
  effectiveApiBaseUrl: string,
) {
  return {
    id: row.id,
    venueId: row.venue_id,
    aggregator: row.aggregator,
    status: row.status,
    externalVenueId: row.external_venue_id,
    apiBaseUrl: row.api_base_url,
    effectiveApiBaseUrl,
    settings: row.settings,
    credentials: secretsSet,
    createdAt: iso(row.created_at),
    updatedAt: iso(row.updated_at),
  };
}

export function presentActivity(
  row: Selectable<ActivitiesTable>,
  quotas: { aggregator: string; quota: number }[],
  lifecycle: Pick<Selectable<ActivityLifecyclesTable>, 'status'> | undefined,
) {
  const opted = row.allow_aggregator_bookings || lifecycle !== undefined;
  return {
    id: row.id,
    venueId: row.venue_id,
    name: row.name,
    description: row.description,
    category: row.category,
    maxParticipants: row.max_participants,
    registrationRules: {
      allowAggregatorBookings: row.allow_aggregator_bookings,
      aggregatorLimit: row.aggregator_limit,
      aggregatorQuotas: Object.fromEntries(quotas.map((q) => [q.aggregator, q.quota])),
      bookingOpensMinutesBefore: row.booking_opens_minutes_before,
      bookingClosesMinutesBefore: row.booking_closes_minutes_before,
      cancellationCutoffMinutes: row.cancellation_cutoff_minutes,
      requiresManualApproval: row.requires_manual_approval,
    },
    lifecycle: opted ? { workflowId: workflowIds.activityLifecycle(row.id), status: lifecycle?.status ?? null } : null,
    createdAt: iso(row.created_at),
    updatedAt: iso(row.updated_at),
  };
}

export function presentSession(row: Selectable<SessionsTable>, maxParticipants: number) {
  return {
    id: row.id,
    activityId: row.activity_id,
    venueId: row.venue_id,
    startsAt: formatInOffset(row.starts_at, row.utc_offset),
    durationMinutes: row.duration_minutes,
    room: row.room,
    instructors: row.instructors,
    status: row.status,
    capacity: row.capacity_override ?? maxParticipants,
    capacityOverride: row.capacity_override,
    aggregatorLimitOverride: row.aggregator_limit_override,
    createdAt: iso(row.created_at),
    updatedAt: iso(row.updated_at),
  };
}
