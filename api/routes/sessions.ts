import { findActivity, findSession } from '../../db/company-scope.js';
import type { Db } from '../../db/index.js';
import { offsetOf } from '../../domain/time.js';
import { companyOf } from '../auth.js';
import { ApiError, found } from '../errors.js';
import { recordSessionChange } from '../../db/lifecycle-outbox.js';
import { recordSessionTimers } from '../../db/session-timers.js';
import type { LifecycleSignals } from '../lifecycle-relay.js';
import { defineRoute, type AnyRoute } from '../route.js';
import { listOf, Uuid } from '../schemas.js';
import { CreateSessionBody, presentSession, Session, SessionListQuery, UpdateSessionBody } from './sessions.schemas.js';
import { z } from '../zod.js';

export function sessionRoutes(db: Db, signals: LifecycleSignals): AnyRoute[] {
  const SessionParams = z.object({ sessionId: Uuid });

  return [
    defineRoute({
      method: 'post',
      path: '/v1/activities/{activityId}/sessions',
      summary: 'Schedule a session (one dated occurrence) of an activity',
      tag: 'Sessions',
      auth: 'company',
      params: z.object({ activityId: Uuid }),
      body: CreateSessionBody,
      response: { status: 201, description: 'Created', schema: Session },
      errors: [404, 409],
      location: (s) => `/v1/sessions/${s.id}`,
      handler: async ({ params, body, auth }) => {
        const activity = found(await findActivity(db, companyOf(auth), params.activityId), 'activity');
        // The session and the change its activity's lifecycle must hear of commit together (the outbox).
        const { row, change } = await db.transaction().execute(async (trx) => {
          const inserted = await trx
          .insertInto('sessions')
          .values({
            company_id: activity.company_id,
            venue_id: activity.venue_id,
            activity_id: activity.id,
            starts_at: new Date(body.startsAt),
            utc_offset: offsetOf(body.startsAt),
            duration_minutes: body.durationMinutes,
            room: body.room,
            instructors: JSON.stringify(body.instructors),
            capacity_override: body.capacityOverride,
            aggregator_limit_override: body.aggregatorLimitOverride,
          })
          .returningAll()
          .executeTakeFirstOrThrow();
          // Its timers (no-show, spot release) are armed by the session timers relay from this row.
          await recordSessionTimers(trx, inserted.id);
          return { row: inserted, change: await recordSessionChange(trx, inserted.id, 'session') };
        });
        await signals.deliver([change]);
        return presentSession(row, activity.max_participants);
      },
    }),
    defineRoute({
      method: 'get',
      path: '/v1/activities/{activityId}/sessions',
      summary: "List an activity's sessions, by start time",
      tag: 'Sessions',
      auth: 'company',
      params: z.object({ activityId: Uuid }),
      query: SessionListQuery,
      response: { status: 200, description: 'Sessions', schema: listOf(Session, 'SessionList') },
      errors: [404, 422],
      handler: async ({ params, query, auth }) => {
        const activity = found(await findActivity(db, companyOf(auth), params.activityId), 'activity');
        let q = db.selectFrom('sessions').selectAll().where('activity_id', '=', activity.id);
        if (query.from) q = q.where('starts_at', '>=', new Date(query.from));
        if (query.to) q = q.where('starts_at', '<=', new Date(query.to));
        const rows = await q.orderBy('starts_at').limit(query.limit).execute();
        return { items: rows.map((row) => presentSession(row, activity.max_participants)) };
      },
    }),
    defineRoute({
      method: 'get',
      path: '/v1/sessions/{sessionId}',
      summary: 'Read a session',
      tag: 'Sessions',
      auth: 'company',
      params: SessionParams,
      response: { status: 200, description: 'The session', schema: Session },
      errors: [404],
      handler: async ({ params, auth }) => {
        const row = found(await findSession(db, companyOf(auth), params.sessionId), 'session');
        return presentSession(row, row.max_participants);
      },
    }),
    defineRoute({
      method: 'patch',
      path: '/v1/sessions/{sessionId}',
      summary: 'Change a scheduled session',
      tag: 'Sessions',
      auth: 'company',
      params: SessionParams,
      body: UpdateSessionBody,
      response: { status: 200, description: 'The changed session', schema: Session },
      errors: [404, 409],
      handler: async ({ params, body, auth }) => {
        const current = found(await findSession(db, companyOf(auth), params.sessionId), 'session');
        if (current.status === 'cancelled') throw ApiError.conflict('a cancelled session cannot be changed');
        const { row, change } = await db.transaction().execute(async (trx) => {
          const updated = await trx
          .updateTable('sessions')
          .set({
            ...(body.startsAt !== undefined ? { starts_at: new Date(body.startsAt), utc_offset: offsetOf(body.startsAt) } : {}),
            ...(body.durationMinutes !== undefined ? { duration_minutes: body.durationMinutes } : {}),
            ...(body.room !== undefined ? { room: body.room } : {}),
            ...(body.instructors !== undefined ? { instructors: JSON.stringify(body.instructors) } : {}),
            ...(body.capacityOverride !== undefined ? { capacity_override: body.capacityOverride } : {}),
            ...(body.aggregatorLimitOverride !== undefined ? { aggregator_limit_override: body.aggregatorLimitOverride } : {}),
            updated_at: new Date(),
          })
          .where('id', '=', current.id)
          .returningAll()
          .executeTakeFirstOrThrow();
          if (body.startsAt !== undefined || body.durationMinutes !== undefined) await recordSessionTimers(trx, updated.id);
          return { row: updated, change: await recordSessionChange(trx, updated.id, 'session') };
        });
        await signals.deliver([change]);
        return presentSession(row, current.max_participants);
      },
    }),
  ];
}
