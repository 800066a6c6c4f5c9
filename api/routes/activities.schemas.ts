import type { Selectable } from 'kysely';
import type { ActivitiesTable, ActivityLifecyclesTable } from '../../db/schema.js';
import { AGGREGATORS, LIFECYCLE_PHASES, LIFECYCLE_STATUSES, SYNC_REASONS, type Aggregator } from '../../domain/model.js';
import { workflowIds } from '../../workflows/ids.js';
import { iso, timestamp, Uuid, updateBody } from '../schemas.js';
import { text } from '../text.js';
import { z } from '../zod.js';

const minutes = z.number().int().min(0).max(525_600);

const registrationRulesShape = {
  allowAggregatorBookings: z.boolean().meta({ description: 'Off by default: nothing is offered until a studio opts in' }),
  aggregatorLimit: z
    .number()
    .int()
    .min(0)
    .max(32000)
    .nullable()
    .meta({ description: 'Most spots of one session aggregators together may take; null = up to capacity' }),
  // An object of optional fields rather than a record, so the document says no other key is allowed.
  aggregatorQuotas: z
    .object(Object.fromEntries(AGGREGATORS.map((a) => [a, z.number().int().min(0).max(32000).optional()])) as Record<Aggregator, z.ZodOptional<z.ZodNumber>>)
    .strict()
    .meta({ description: 'Per-aggregator quotas within the aggregator limit' }),
  bookingOpensMinutesBefore: minutes.nullable().meta({ description: 'null = bookable as soon as published' }),
  bookingClosesMinutesBefore: minutes,
  cancellationCutoffMinutes: minutes,
  requiresManualApproval: z
    .boolean()
    .meta({ description: 'Aggregator requests wait for a backend service to confirm or reject them' }),
  noShowAfterMinutes: z
    .number()
    .int()
    .min(0)
    .max(10080)
    .meta({ description: "Minutes after a session's end when an aggregator booking still reserved (no check-in) becomes no_show; default 120" }),
  releaseAggregatorSpotsMinutesBefore: minutes.nullable().meta({
    description:
      "Hold the aggregators' share of each session (the aggregator limit, else the sum of the quotas) back from direct bookings until this many minutes before the start; then the part nobody booked through an aggregator becomes bookable directly. null (default) = nothing held back",
  }),
  offerDirectSpotsToAggregatorsMinutesBefore: minutes.nullable().meta({
    description:
      'From this many minutes before the start, lift the aggregator limit and quotas: the aggregators may book every spot still free, up to capacity. null (default) = never',
  }),
};

export const RegistrationRules = z.object(registrationRulesShape).meta({ id: 'RegistrationRules' });

const registrationRulesInput = z
  .object({
    allowAggregatorBookings: registrationRulesShape.allowAggregatorBookings.optional(),
    aggregatorLimit: registrationRulesShape.aggregatorLimit.optional(),
    aggregatorQuotas: registrationRulesShape.aggregatorQuotas.optional(),
    bookingOpensMinutesBefore: registrationRulesShape.bookingOpensMinutesBefore.optional(),
    bookingClosesMinutesBefore: registrationRulesShape.bookingClosesMinutesBefore.optional(),
    cancellationCutoffMinutes: registrationRulesShape.cancellationCutoffMinutes.optional(),
    requiresManualApproval: registrationRulesShape.requiresManualApproval.optional(),
    noShowAfterMinutes: registrationRulesShape.noShowAfterMinutes.optional(),
    releaseAggregatorSpotsMinutesBefore: registrationRulesShape.releaseAggregatorSpotsMinutesBefore.optional(),
    offerDirectSpotsToAggregatorsMinutesBefore: registrationRulesShape.offerDirectSpotsToAggregatorsMinutesBefore.optional(),
  })
  .strict();

export const CreateActivityBody = z
  .object({
    venueId: Uuid,
    name: text({ max: 255 }),
    description: text({ min: 0, max: 5000 }).default(''),
    category: text({ max: 100 }).nullable().default(null),
    maxParticipants: z.number().int().min(1).max(32000),
    registrationRules: registrationRulesInput.default({}),
  })
  .strict()
  .meta({ id: 'CreateActivity' });

export const UpdateActivityBody = updateBody({
  name: text({ max: 255 }).optional(),
  description: text({ min: 0, max: 5000 }).optional(),
  category: text({ max: 100 }).nullable().optional(),
  maxParticipants: z.number().int().min(1).max(32000).optional(),
  registrationRules: registrationRulesInput.optional(),
}, 'UpdateActivity');

export const Activity = z
  .object({
    id: Uuid,
    venueId: Uuid,
    name: z.string(),
    description: z.string(),
    category: z.string().nullable(),
    maxParticipants: z.number().int(),
    registrationRules: RegistrationRules,
    lifecycle: z
      .object({ workflowId: z.string(), status: z.enum(LIFECYCLE_STATUSES).nullable() })
      .nullable()
      .meta({ description: 'The lifecycle workflow (Temporal) when the activity is or was opted in' }),
    createdAt: timestamp,
    updatedAt: timestamp,
  })
  .meta({ id: 'Activity' });

export const SyncStatus = z
  .object({
    activityId: Uuid,
    offered: z.boolean().meta({ description: 'Opted in to aggregators' }),
    lifecycle: z
      .object({
        workflowId: z.string(),
        phase: z.enum(LIFECYCLE_PHASES),
        syncPasses: z.number().int(),
        lastSyncReason: z.enum(SYNC_REASONS).nullable(),
        nextHorizonEntryAt: timestamp.nullable().meta({ description: 'When a session next enters the booking horizon' }),
      })
      .nullable()
      .meta({ description: 'The lifecycle workflow; null when the activity was never opted in' }),
    connections: z.array(
      z.object({
        connectionId: Uuid,
        aggregator: z.string(),
        active: z.boolean(),
        pending: z.boolean().meta({ description: 'A change waits for the next pass to this connection' }),
        running: z.boolean().meta({ description: 'A pass runs now, or retries after an error (see lastError)' }),
        passes: z.number().int(),
        lastSuccessAt: timestamp.nullable(),
        lastError: z.object({ message: z.string(), at: timestamp }).nullable(),
        published: z.object({ activity: z.boolean(), sessions: z.number().int() }),
        lastPass: z
          .object({ writes: z.number().int(), reads: z.number().int(), ops: z.record(z.string(), z.number().int()) })
          .nullable()
          .meta({ description: 'Aggregator calls of the last pass: writes by kind, and reads' }),
      }),
    ),
  })
  .meta({ id: 'SyncStatus' });

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
      noShowAfterMinutes: row.no_show_after_minutes,
      releaseAggregatorSpotsMinutesBefore: row.release_aggregator_spots_minutes_before,
      offerDirectSpotsToAggregatorsMinutesBefore: row.offer_direct_spots_to_aggregators_minutes_before,
    },
    lifecycle: opted ? { workflowId: workflowIds.activityLifecycle(row.id), status: lifecycle?.status ?? null } : null,
    createdAt: iso(row.created_at),
    updatedAt: iso(row.updated_at),
  };
}
