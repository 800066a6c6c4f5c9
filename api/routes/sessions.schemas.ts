import type { Selectable } from 'kysely';
import type { SessionsTable } from '../../db/schema.js';
import { SESSION_STATUSES } from '../../domain/model.js';
import { formatInOffset } from '../../domain/time.js';
import { iso, rule, timestamp, Uuid, updateBody } from '../schemas.js';
import { text } from '../text.js';
import { z } from '../zod.js';

const instructor = z.object({ name: text({ max: 100 }), substitute: z.boolean().default(false) }).strict();

export const CreateSessionBody = z
  .object({
    startsAt: timestamp.meta({
      description: "Start in the venue's local time with its offset, e.g. 2026-12-01T18:00:00+01:00",
      example: '2026-12-01T18:00:00+01:00',
    }),
    durationMinutes: z.number().int().min(1).max(1440),
    room: text({ min: 2, max: 200 }).nullable().default(null),
    instructors: z.array(instructor).max(20).default([]),
    capacityOverride: z.number().int().min(0).max(32000).nullable().default(null),
    aggregatorLimitOverride: z.number().int().min(0).max(32000).nullable().default(null),
  })
  .strict()
  .meta({ id: 'CreateSession' });

export const UpdateSessionBody = updateBody({
  startsAt: timestamp.optional(),
  durationMinutes: z.number().int().min(1).max(1440).optional(),
  room: text({ min: 2, max: 200 }).nullable().optional(),
  instructors: z.array(instructor).max(20).optional(),
  capacityOverride: z.number().int().min(0).max(32000).nullable().optional(),
  aggregatorLimitOverride: z.number().int().min(0).max(32000).nullable().optional(),
}, 'UpdateSession');

export const Session = z
  .object({
    id: Uuid,
    activityId: Uuid,
    venueId: Uuid,
    startsAt: timestamp.meta({ description: 'In the offset the session was created with' }),
    durationMinutes: z.number().int(),
    room: z.string().nullable(),
    instructors: z.array(z.object({ name: z.string(), substitute: z.boolean() })),
    status: z.enum(SESSION_STATUSES),
    capacity: z.number().int().meta({ description: 'Effective capacity (override or the activity maximum)' }),
    capacityOverride: z.number().int().nullable(),
    aggregatorLimitOverride: z.number().int().nullable(),
    createdAt: timestamp,
    updatedAt: timestamp,
  })
  .meta({ id: 'Session' });

export const SessionListQuery = z
  .object({
    from: timestamp.optional(),
    to: timestamp.optional(),
    limit: z.coerce.number().int().min(1).max(500).default(100),
  })
  .strict()
  .refine((q) => !q.from || !q.to || Date.parse(q.from) <= Date.parse(q.to), rule('from must not be after to', ['from']));

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
