import { CANCELLATION_BRANCH_STATUSES } from '../../domain/model.js';
import type { readCancellation } from '../../db/session-cancellations.js';
import { rule, timestamp, Uuid } from '../schemas.js';
import { text } from '../text.js';
import { z } from '../zod.js';

export const CancelSessionBody = z
  .object({ reason: text({ max: 500 }).meta({ description: 'Why the studio cancels: kept on the session and in every booking history' }) })
  .strict()
  .meta({ id: 'CancelSession' });

export const CancelActivitySessionsBody = z
  .object({
    reason: text({ max: 500 }),
    from: timestamp.optional().meta({ description: 'Cancel sessions starting at or after this (default: now)' }),
    to: timestamp.optional().meta({ description: 'Cancel sessions starting at or before this (default: every future one)' }),
  })
  .strict()
  .refine((b) => !b.from || !b.to || Date.parse(b.from) <= Date.parse(b.to), rule('from must not be after to', ['from']))
  .meta({ id: 'CancelActivitySessions' });

export const Cancellation = z
  .object({
    sessionId: Uuid,
    activityId: Uuid,
    venueId: Uuid,
    reason: z.string(),
    status: z.enum(['in_progress', 'done', 'failed']).meta({
      description: 'done: every aggregator has it; failed: one refused it for good (see its lastError); in_progress otherwise',
    }),
    bookingsCancelled: z.number().int().meta({ description: 'Bookings that were reserved and became cancelled_by_gym' }),
    requestedAt: timestamp,
    completedAt: timestamp.nullable(),
    aggregators: z.array(
      z.object({
        aggregator: z.string(),
        connectionId: Uuid,
        status: z.enum(CANCELLATION_BRANCH_STATUSES),
        attempts: z.number().int(),
        lastError: z.string().nullable(),
        lastErrorAt: timestamp.nullable(),
        doneAt: timestamp.nullable(),
      }),
    ),
  })
  .meta({ id: 'Cancellation' });

export const ActivityCancellations = z
  .object({ activityId: Uuid, cancellations: z.array(Cancellation) })
  .meta({ id: 'ActivityCancellations' });

type Row = NonNullable<Awaited<ReturnType<typeof readCancellation>>>;

export function presentCancellation(row: Row): z.input<typeof Cancellation> {
  const failed = row.branches.some((b) => b.status === 'failed');
  return {
    sessionId: row.session_id,
    activityId: row.activity_id,
    venueId: row.venue_id,
    reason: row.reason,
    status: row.completed_at === null ? 'in_progress' : failed ? 'failed' : 'done',
    bookingsCancelled: row.bookings_cancelled,
    requestedAt: row.requested_at.toISOString(),
    completedAt: row.completed_at?.toISOString() ?? null,
    aggregators: row.branches.map((b) => ({
      aggregator: b.aggregator,
      connectionId: b.connection_id,
      status: b.status,
      attempts: b.attempts,
      lastError: b.last_error,
      lastErrorAt: b.last_error_at?.toISOString() ?? null,
      doneAt: b.done_at?.toISOString() ?? null,
    })),
  };
}
