import type { Selectable } from 'kysely';
import { findActivity, findVenue } from '../../db/company-scope.js';
import type { Db } from '../../db/index.js';
import { registrationRuleViolations, type RegistrationRulesCheck } from '../../domain/registration-rules.js';
import type { ActivitiesTable } from '../../db/schema.js';
import { companyOf } from '../auth.js';
import { found, ruleViolation } from '../errors.js';
import type { LifecycleControl } from '../clients/activity-lifecycle.js';
import type { LifecycleSignals } from '../lifecycle-relay.js';
import { recordChange } from '../../db/lifecycle-outbox.js';
import { recordActivitySessionTimers } from '../../db/session-timers.js';
import { defineRoute, type AnyRoute } from '../route.js';
import { listOf, Uuid } from '../schemas.js';
import { Activity, CreateActivityBody, presentActivity, SyncStatus, UpdateActivityBody } from './activities.schemas.js';
import { workflowIds } from '../../workflows/ids.js';
import { z } from '../zod.js';

type Quotas = Partial<Record<string, number>>;

/** The rules that relate fields (and stored state) the document cannot express: a 422 that names each field. */
function checkRules(rules: RegistrationRulesCheck): void {
  const violations = registrationRuleViolations(rules);
  if (violations.length > 0) throw ruleViolation(violations.map((v) => ({ location: 'body', ...v })));
}

const lifecycleKey = (row: { company_id: string; venue_id: string; id: string }) => ({
  companyId: row.company_id,
  venueId: row.venue_id,
  activityId: row.id,
});

export function activityRoutes(db: Db, lifecycle: LifecycleControl, signals: LifecycleSignals): AnyRoute[] {
  const ActivityParams = z.object({ activityId: Uuid });

  /** Quotas and lifecycle status of many activities in two queries, not two per activity. */
  async function presentAll(rows: Selectable<ActivitiesTable>[]) {
    if (rows.length === 0) return [];
    const ids = rows.map((row) => row.id);
    const [quotas, lifecycles] = await Promise.all([
      db.selectFrom('activity_aggregator_quotas').select(['activity_id', 'aggregator', 'quota']).where('activity_id', 'in', ids).orderBy('aggregator').execute(),
      db.selectFrom('activity_lifecycles').select(['activity_id', 'status']).where('activity_id', 'in', ids).execute(),
    ]);
    return rows.map((row) =>
      presentActivity(
        row,
        quotas.filter((q) => q.activity_id === row.id),
        lifecycles.find((l) => l.activity_id === row.id),
      ),
    );
  }

  const present = async (row: Selectable<ActivitiesTable>) => (await presentAll([row]))[0] as ReturnType<typeof presentActivity>;

  async function replaceQuotas(trx: Db, activityId: string, quotas: Quotas) {
    await trx.deleteFrom('activity_aggregator_quotas').where('activity_id', '=', activityId).execute();
    const rows = Object.entries(quotas).flatMap(([aggregator, quota]) =>
      quota === undefined ? [] : [{ activity_id: activityId, aggregator, quota }],
    );
    if (rows.length > 0) await trx.insertInto('activity_aggregator_quotas').values(rows).execute();
  }

  return [
    defineRoute({
      method: 'post',
      path: '/v1/activities',
      summary: 'Create an activity with its registration rules; opting in starts its lifecycle workflow',
      tag: 'Activities',
      auth: 'company',
      body: CreateActivityBody,
      response: { status: 201, description: 'Created', schema: Activity },
      errors: [404, 422],
      location: (a) => `/v1/activities/${a.id}`,
      handler: async ({ body, auth }) => {
        const venue = found(await findVenue(db, companyOf(auth), body.venueId), 'venue');
        const rules = body.registrationRules;
        checkRules({
          maxParticipants: body.maxParticipants,
          aggregatorLimit: rules.aggregatorLimit ?? null,
          quotas: rules.aggregatorQuotas ?? {},
          opensBefore: rules.bookingOpensMinutesBefore ?? null,
          closesBefore: rules.bookingClosesMinutesBefore ?? 0,
        });
        // Opting in is a change in the outbox, committed with the activity: the lifecycle is started right after the
        // commit, or by the relay if Temporal does not take it now. The ledger is the truth and Temporal follows it,
        // so Temporal being down delays the first push instead of refusing the studio's change.
        const { row, change } = await db.transaction().execute(async (trx) => {
          const inserted = await trx
            .insertInto('activities')
            .values({
              company_id: venue.company_id,
              venue_id: venue.id,
              name: body.name,
              description: body.description,
              category: body.category,
              max_participants: body.maxParticipants,
              allow_aggregator_bookings: rules.allowAggregatorBookings ?? false,
              aggregator_limit: rules.aggregatorLimit ?? null,
              booking_opens_minutes_before: rules.bookingOpensMinutesBefore ?? null,
              booking_closes_minutes_before: rules.bookingClosesMinutesBefore ?? 0,
              cancellation_cutoff_minutes: rules.cancellationCutoffMinutes ?? 0,
              requires_manual_approval: rules.requiresManualApproval ?? false,
              ...(rules.noShowAfterMinutes !== undefined ? { no_show_after_minutes: rules.noShowAfterMinutes } : {}),
              release_aggregator_spots_minutes_before: rules.releaseAggregatorSpotsMinutesBefore ?? null,
              offer_direct_spots_to_aggregators_minutes_before: rules.offerDirectSpotsToAggregatorsMinutesBefore ?? null,
            })
            .returningAll()
            .executeTakeFirstOrThrow();
          await replaceQuotas(trx, inserted.id, rules.aggregatorQuotas ?? {});
          const change = inserted.allow_aggregator_bookings
            ? await recordChange(trx, lifecycleKey(inserted), { kind: 'activity', id: inserted.id })
            : undefined;
          return { row: inserted, change };
        });
        await signals.deliver([change]);
        return present(row);
      },
    }),
    defineRoute({
      method: 'get',
      path: '/v1/activities',
      summary: "List the company's activities",
      tag: 'Activities',
      auth: 'company',
      query: z.object({ venueId: Uuid.optional() }).strict(),
      response: { status: 200, description: 'Activities', schema: listOf(Activity, 'ActivityList') },
      handler: async ({ query, auth }) => {
        let q = db.selectFrom('activities').selectAll().where('company_id', '=', companyOf(auth));
        if (query.venueId) q = q.where('venue_id', '=', query.venueId);
        const rows = await q.orderBy('created_at').execute();
        return { items: await presentAll(rows) };
      },
    }),
    defineRoute({
      method: 'get',
      path: '/v1/activities/{activityId}',
      summary: 'Read an activity',
      tag: 'Activities',
      auth: 'company',
      params: ActivityParams,
      response: { status: 200, description: 'The activity', schema: Activity },
      errors: [404],
      handler: async ({ params, auth }) => present(found(await findActivity(db, companyOf(auth), params.activityId), 'activity')),
    }),
    defineRoute({
      method: 'patch',
      path: '/v1/activities/{activityId}',
      summary: 'Change an activity or its registration rules (opting in or out starts or stops its lifecycle)',
      tag: 'Activities',
      auth: 'company',
      params: ActivityParams,
      body: UpdateActivityBody,
      response: { status: 200, description: 'The changed activity', schema: Activity },
      errors: [404, 422],
      handler: async ({ params, body, auth }) => {
        const { updated, change } = await db.transaction().execute(async (trx) => {
          const current = found(await findActivity(trx, companyOf(auth), params.activityId, { forUpdate: true }), 'activity');
          const rules = body.registrationRules ?? {};
          const currentQuotas = await trx
            .selectFrom('activity_aggregator_quotas')
            .select(['aggregator', 'quota'])
            .where('activity_id', '=', current.id)
            .execute();
          const maxParticipants = body.maxParticipants ?? current.max_participants;
          const aggregatorLimit = rules.aggregatorLimit !== undefined ? rules.aggregatorLimit : current.aggregator_limit;
          const quotas = rules.aggregatorQuotas ?? Object.fromEntries(currentQuotas.map((q) => [q.aggregator, q.quota]));
          const opensBefore =
            rules.bookingOpensMinutesBefore !== undefined ? rules.bookingOpensMinutesBefore : current.booking_opens_minutes_before;
          const closesBefore = rules.bookingClosesMinutesBefore ?? current.booking_closes_minutes_before;
          checkRules({ maxParticipants, aggregatorLimit, quotas, opensBefore, closesBefore });

          const updated = await trx
            .updateTable('activities')
            .set({
              ...(body.name !== undefined ? { name: body.name } : {}),
              ...(body.description !== undefined ? { description: body.description } : {}),
              ...(body.category !== undefined ? { category: body.category } : {}),
              max_participants: maxParticipants,
              aggregator_limit: aggregatorLimit,
              booking_opens_minutes_before: opensBefore,
              booking_closes_minutes_before: closesBefore,
              ...(rules.allowAggregatorBookings !== undefined ? { allow_aggregator_bookings: rules.allowAggregatorBookings } : {}),
              ...(rules.cancellationCutoffMinutes !== undefined ? { cancellation_cutoff_minutes: rules.cancellationCutoffMinutes } : {}),
              ...(rules.requiresManualApproval !== undefined ? { requires_manual_approval: rules.requiresManualApproval } : {}),
              ...(rules.noShowAfterMinutes !== undefined ? { no_show_after_minutes: rules.noShowAfterMinutes } : {}),
              ...(rules.releaseAggregatorSpotsMinutesBefore !== undefined
                ? { release_aggregator_spots_minutes_before: rules.releaseAggregatorSpotsMinutesBefore }
                : {}),
              ...(rules.offerDirectSpotsToAggregatorsMinutesBefore !== undefined
                ? { offer_direct_spots_to_aggregators_minutes_before: rules.offerDirectSpotsToAggregatorsMinutesBefore }
                : {}),
              updated_at: new Date(),
            })
            .where('id', '=', current.id)
            .returningAll()
            .executeTakeFirstOrThrow();
          if (rules.aggregatorQuotas !== undefined) await replaceQuotas(trx, current.id, rules.aggregatorQuotas);

          // Any change of an offered activity, opting in and out included, goes to its lifecycle through the outbox
          // (see POST). Signalled after the commit, so the pass it triggers reads the change; whether it is an opt-out
          // is read from the ledger when it is signalled.
          // Opted in, or a timer moved: the sessions' timer workflows re-arm (the relay hands the rows over).
          const timersMoved =
            updated.no_show_after_minutes !== current.no_show_after_minutes ||
            updated.release_aggregator_spots_minutes_before !== current.release_aggregator_spots_minutes_before ||
            updated.offer_direct_spots_to_aggregators_minutes_before !== current.offer_direct_spots_to_aggregators_minutes_before;
          if (updated.allow_aggregator_bookings && (!current.allow_aggregator_bookings || timersMoved)) {
            await recordActivitySessionTimers(trx, updated.id);
          }
          const change =
            current.allow_aggregator_bookings || updated.allow_aggregator_bookings
              ? await recordChange(trx, lifecycleKey(updated), { kind: 'activity', id: updated.id })
              : undefined;
          return { updated, change };
        });
        await signals.deliver([change]);
        return present(updated);
      },
    }),
    defineRoute({
      method: 'get',
      path: '/v1/activities/{activityId}/sync',
      summary: 'Where the sync of an activity stands, per connection: last success, pending changes, last error, what is published',
      tag: 'Activities',
      auth: 'company',
      params: ActivityParams,
      response: { status: 200, description: 'The sync status', schema: SyncStatus },
      errors: [404, 503],
      handler: async ({ params, auth }) => {
        const activity = found(await findActivity(db, companyOf(auth), params.activityId), 'activity');
        const state = await lifecycle.state(activity.id);
        return {
          activityId: activity.id,
          offered: activity.allow_aggregator_bookings,
          lifecycle: state
            ? {
                workflowId: workflowIds.activityLifecycle(activity.id),
                phase: state.phase,
                syncPasses: state.syncPasses,
                lastSyncReason: state.lastSyncReason,
                nextHorizonEntryAt: state.nextHorizonEntryAt,
              }
            : null,
          connections: state?.connections ?? [],
        };
      },
    }),
  ];
}
