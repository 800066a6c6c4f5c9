import type { Db } from '../../db/index.js';
import { findActivity } from '../../db/company-scope.js';
import { cancelSessionInLedger, openBranchesOfConnection, openCancellation, readCancellation } from '../../db/session-cancellations.js';
import { companyOf } from '../auth.js';
import type { CancellationControl } from '../clients/session-cancellation.js';
import { found } from '../errors.js';
import { defineRoute, type AnyRoute } from '../route.js';
import { Uuid } from '../schemas.js';
import { ActivityCancellations, CancelActivitySessionsBody, CancelSessionBody, Cancellation, presentCancellation } from './cancellations.schemas.js';
import { z } from '../zod.js';

/**
 * A connection changed (new credentials, another URL): its cancellation branches waiting to retry try again now
 * instead of sleeping out their backoff. Best effort: a branch not woken retries on its own schedule.
 */
export async function wakeConnectionBranches(db: Db, cancellations: CancellationControl, connectionId: string): Promise<void> {
  const branches = await openBranchesOfConnection(db, connectionId);
  await cancellations.wakeBranches(branches.map((b) => ({ sessionId: b.session_id, aggregator: b.aggregator })));
}

/**
 * The studio cancels sessions (the cancellation fan-out): final in the ledger at once, then told to every
 * aggregator the session was pushed to by a workflow per session. Answers 202 with where to follow it.
 */
export function cancellationRoutes(db: Db, cancellations: CancellationControl): AnyRoute[] {
  /**
   * Cancels one session in the ledger and starts its fan-out in the same transaction; a second cancel finds the first,
   * and starts its fan-out again if it is not completed and no run of it is running.
   */
  async function cancel(companyId: string, sessionId: string, reason: string, actor: string) {
    const outcome = await db.transaction().execute(async (trx) => {
      const result = await cancelSessionInLedger(trx, { companyId, sessionId, reason, actor });
      // Started before the commit: the workflow's first read waits for the commit (it waits on the session's row
      // lock, which this transaction holds), and finds nothing to fan out if it rolls back.
      if (result.outcome === 'started') {
        await cancellations.start({ companyId, venueId: result.venueId, activityId: result.activityId, sessionId, reason });
      }
      return result;
    });
    if (outcome.outcome === 'already') await restartIfOpen(companyId, sessionId);
    return found(await readCancellation(db, companyId, sessionId), 'session');
  }

  /** A committed cancellation whose fan-out ended before its work was done (or never ran) is carried out again. */
  async function restartIfOpen(companyId: string, sessionId: string): Promise<void> {
    const open = await openCancellation(db, companyId, sessionId);
    if (!open) return;
    try {
      await cancellations.restart({ companyId, venueId: open.venue_id, activityId: open.activity_id, sessionId, reason: open.reason });
    } catch {
      // Temporal did not answer: the cancellation is committed all the same, and the periodic sweep restarts it.
    }
  }

  return [
    defineRoute({
      method: 'post',
      path: '/v1/sessions/{sessionId}/cancel',
      summary: 'Cancel a session: every booking ends cancelled_by_gym and every aggregator it was pushed to is told',
      tag: 'Cancellations',
      auth: 'company',
      params: z.object({ sessionId: Uuid }),
      body: CancelSessionBody,
      response: { status: 202, description: 'The cancellation, under way (cancelling again returns the same one)', schema: Cancellation },
      errors: [404, 503],
      location: (c) => `/v1/sessions/${c.sessionId}/cancellation`,
      handler: async ({ params, body, auth }) => presentCancellation(await cancel(companyOf(auth), params.sessionId, body.reason, `api:${companyOf(auth)}`)),
    }),
    defineRoute({
      method: 'get',
      path: '/v1/sessions/{sessionId}/cancellation',
      summary: "A session's cancellation with its progress per aggregator (done, retrying with the last error, attempts)",
      tag: 'Cancellations',
      auth: 'company',
      params: z.object({ sessionId: Uuid }),
      response: { status: 200, description: 'The cancellation', schema: Cancellation },
      errors: [404],
      handler: async ({ params, auth }) => presentCancellation(found(await readCancellation(db, companyOf(auth), params.sessionId), 'cancellation')),
    }),
    defineRoute({
      method: 'post',
      path: '/v1/activities/{activityId}/cancel-sessions',
      summary: "Cancel an activity's future sessions (or those starting in a range), each fanned out like one session",
      tag: 'Cancellations',
      auth: 'company',
      params: z.object({ activityId: Uuid }),
      body: CancelActivitySessionsBody,
      response: { status: 202, description: 'The cancellations, under way', schema: ActivityCancellations },
      errors: [404, 422, 503],
      location: (c) => `/v1/activities/${c.activityId}/cancellations`,
      handler: async ({ params, body, auth }) => {
        const companyId = companyOf(auth);
        const activity = found(await findActivity(db, companyId, params.activityId), 'activity');
        const now = new Date();
        const from = body.from !== undefined && Date.parse(body.from) > now.getTime() ? new Date(body.from) : now;
        // Sessions cancelled already are in the answer too, unchanged: a second call returns the same cancellations.
        let q = db.selectFrom('sessions').select(['id', 'status']).where('activity_id', '=', activity.id).where('starts_at', '>=', from);
        if (body.to !== undefined) q = q.where('starts_at', '<=', new Date(body.to));
        const sessions = await q.orderBy('starts_at').execute();
        const cancellations = [];
        for (const session of sessions) {
          if (session.status !== 'scheduled') await restartIfOpen(companyId, session.id);
          const c = session.status === 'scheduled' ? await cancel(companyId, session.id, body.reason, `api:${companyId}`) : await readCancellation(db, companyId, session.id);
          if (c) cancellations.push(presentCancellation(c));
        }
        return { activityId: activity.id, cancellations };
      },
    }),
    defineRoute({
      method: 'get',
      path: '/v1/activities/{activityId}/cancellations',
      summary: "The cancellations of an activity's sessions, newest first, with their progress",
      tag: 'Cancellations',
      auth: 'company',
      params: z.object({ activityId: Uuid }),
      response: { status: 200, description: 'The cancellations', schema: ActivityCancellations },
      errors: [404],
      handler: async ({ params, auth }) => {
        const companyId = companyOf(auth);
        const activity = found(await findActivity(db, companyId, params.activityId), 'activity');
        const rows = await db
          .selectFrom('session_cancellations')
          .select('session_id')
          .where('company_id', '=', companyId)
          .where('activity_id', '=', activity.id)
          .orderBy('requested_at', 'desc')
          .limit(500)
          .execute();
        const cancellations = [];
        for (const row of rows) {
          const c = await readCancellation(db, companyId, row.session_id);
          if (c) cancellations.push(presentCancellation(c));
        }
        return { activityId: activity.id, cancellations };
      },
    }),
  ];
}
