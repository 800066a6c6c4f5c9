import { Context } from '@temporalio/activity';
import { ApplicationFailure, CancelledFailure } from '@temporalio/common';
import { AggregatorHttpError } from '../aggregators/http.js';
import { toTemporalFailure } from '../aggregators/temporal-failure.js';
import type { ConnectionContext } from '../aggregators/types.js';
import {
  activeConnectionsOfVenue,
  bookedFor,
  firstSessionAfter,
  publishedCounts,
  readActivityForSync,
  readActivityPublication,
  readCountFacts,
  readSessionPublications,
  readSessionsInHorizon,
  recordConnectionHealth,
  writeActivityPublication,
  writeSessionPublication,
} from '../db/lifecycle-sync.js';
import { readConnection } from '../db/connections.js';
import { remoteFingerprint } from '../domain/fingerprint.js';
import { aggregatorOffer, spotWindow } from '../domain/free-spots.js';
import { activityListing, nextHorizonEntry, sessionListing, type ActivityFacts } from '../domain/listing.js';
import type { Aggregator } from '../domain/model.js';
import { formatInOffset } from '../domain/time.js';
import { planSync, type PublishedSession, type RemoteSession, type SyncOp } from '../domain/sync-plan.js';
import { connectionContext } from './connection-context.js';
import type { ActivitiesDeps } from './deps.js';
import type { ActivityLifecycleActivities, SyncReport } from '../workflows/activity-lifecycle/contract.js';

type CountWrite = Extract<SyncOp, { kind: 'create_session' | 'update_session' | 'patch_counts' }>;

const isCountWrite = (op: SyncOp): op is CountWrite => op.kind === 'create_session' || op.kind === 'update_session' || op.kind === 'patch_counts';

const countsOf = (op: CountWrite) => (op.kind === 'patch_counts' ? op : op.listing);

/**
 * Heartbeats, and stops the pass once Temporal has given up on this attempt (cancelled, or timed out and retried
 * elsewhere): an attempt that kept writing beside its retry could land an older count after a newer one. Every
 * call to the aggregator is preceded by this check, and a retry starts from what the ledger records as sent.
 */
function stopIfCancelled(next: string): void {
  const context = Context.current();
  context.heartbeat({ next });
  const { cancellationSignal } = context;
  if (!cancellationSignal.aborted) return;
  const reason: unknown = cancellationSignal.reason;
  throw reason instanceof CancelledFailure ? reason : new CancelledFailure(typeof reason === 'string' ? reason : 'CANCELLED');
}

/** A refusal for good: the aggregator answered a 4xx, or the request could not be built from our data. */
function refusedForGood(error: unknown): error is Error {
  if (error instanceof AggregatorHttpError) return !error.retryable;
  return error instanceof Error && error.name.endsWith('InvalidError');
}

/** What the refusal of an op is recorded against, so the same content is not sent again until it changes. */
function contentKey(op: SyncOp): string {
  if (op.kind === 'patch_counts') return `counts:${op.totalCapacity}/${op.totalBooked}`;
  if (op.kind === 'delete_session') return `delete:${op.externalId}`;
  return op.fingerprint;
}

function facts(row: NonNullable<Awaited<ReturnType<typeof readActivityForSync>>>['activity']): ActivityFacts {
  return {
    id: row.id,
    name: row.name,
    description: row.description,
    category: row.category,
    maxParticipants: row.max_participants,
    aggregatorLimit: row.aggregator_limit,
    bookingOpensMinutesBefore: row.booking_opens_minutes_before,
    bookingClosesMinutesBefore: row.booking_closes_minutes_before,
    cancellationCutoffMinutes: row.cancellation_cutoff_minutes,
    spotOptions: spotOptionsOf(row),
  };
}

function spotOptionsOf(row: { release_aggregator_spots_minutes_before: number | null; offer_direct_spots_to_aggregators_minutes_before: number | null }) {
  return {
    releaseAggregatorSpotsMinutesBefore: row.release_aggregator_spots_minutes_before,
    offerDirectSpotsToAggregatorsMinutesBefore: row.offer_direct_spots_to_aggregators_minutes_before,
  };
}

export function createLifecycleSyncActivities(deps: ActivitiesDeps): Pick<ActivityLifecycleActivities, 'listSyncTargets' | 'syncConnection'> {
  const { db } = deps;
  const now = deps.now ?? (() => new Date());

  return {
    async listSyncTargets({ activityId }) {
      const found = await readActivityForSync(db, activityId);
      if (!found) return { offered: false, connections: [] };
      const connections = await activeConnectionsOfVenue(db, found.activity.venue_id);
      return {
        offered: found.activity.allow_aggregator_bookings,
        connections: connections.map((c) => ({ connectionId: c.id, aggregator: c.aggregator })),
      };
    },

    async syncConnection({ activityId, connectionId, reconcile }) {
      const log = Context.current().log;
      const started = now();
      const report: SyncReport = {
        connectionId,
        outcome: 'synced',
        writes: 0,
        reads: 0,
        ops: {},
        refused: [],
        published: { activity: false, sessions: 0 },
        nextHorizonEntryAt: null,
        finishedAt: started.toISOString(),
      };
      const [found, connection] = await Promise.all([readActivityForSync(db, activityId), readConnection(db, connectionId)]);
      if (!found || !connection || connection.status !== 'active') return { ...report, outcome: 'skipped' };
      const aggregator = connection.aggregator as Aggregator;
      const adapter = deps.adapters[aggregator];
      if (connection.external_venue_id === null) {
        const message = "the connection has no externalVenueId (the aggregator's id for the venue)";
        await writeActivityPublication(db, activityId, connectionId, { lastError: message });
        return { ...report, outcome: 'refused', refused: [{ what: 'connection', message }] };
      }
      const ctx: ConnectionContext = connectionContext(deps, connection);

      const activity = facts(found.activity);
      const offered = found.activity.allow_aggregator_bookings;
      const horizonEnd = new Date(started.getTime() + deps.horizonMs);
      const [sessions, publication, sessionRows, beyond] = await Promise.all([
        readSessionsInHorizon(db, activityId, started, horizonEnd),
        readActivityPublication(db, activityId, connectionId),
        readSessionPublications(db, activityId, connectionId),
        firstSessionAfter(db, activityId, horizonEnd),
      ]);
      const quota = found.quotas[aggregator];
      const desired = {
        activity: { listing: activityListing(activity), offered },
        sessions: sessions.map(({ session, bookedBy }) => ({
          sessionId: session.id,
          startsAt: session.starts_at,
          listing: sessionListing(
            activity,
            {
              id: session.id,
              startsAt: session.starts_at,
              utcOffset: session.utc_offset,
              durationMinutes: session.duration_minutes,
              room: session.room,
              instructors: session.instructors,
              capacityOverride: session.capacity_override,
              aggregatorLimitOverride: session.aggregator_limit_override,
            },
            quota,
            bookedFor(bookedBy, aggregator),
            started,
          ),
        })),
      };
      const published = {
        activity: publication
          ? { externalId: publication.external_id, fingerprint: publication.pushed_fingerprint, hidden: publication.hidden }
          : undefined,
        sessions: sessionRows.map(
          (row): PublishedSession => ({
            sessionId: row.session_id,
            externalId: row.external_id,
            fingerprint: row.pushed_fingerprint,
            totalCapacity: row.pushed_total_capacity,
            totalBooked: row.pushed_total_booked,
            startsAt: row.starts_at,
            removed: row.removed,
          }),
        ),
      };

      let remote: RemoteSession[] | undefined;
      const activityExternalId = publication?.external_id ?? null;
      if (reconcile && activityExternalId !== null && offered) {
        const offset = sessions[0]?.session.utc_offset ?? '+00:00';
        try {
          const held = await adapter.listSessions(ctx, activityExternalId, {
            from: formatInOffset(started, offset),
            to: formatInOffset(horizonEnd, offset),
          });
          report.reads += 1;
          remote = held.map((h) => ({
            externalId: h.externalId,
            fingerprint: remoteFingerprint(h),
            totalCapacity: h.totalCapacity,
            totalBooked: h.totalBooked,
            startsAt: new Date(h.startsAt),
          }));
        } catch (error) {
          if (!refusedForGood(error)) throw toTemporalFailure(error);
          report.refused.push({ what: 'read', message: error.message });
        }
      }

      const refusedBefore = new Map<string, string | null>([
        ...sessionRows.map((row): [string, string | null] => [row.session_id, row.refused_fingerprint]),
        [activityId, publication?.refused_fingerprint ?? null],
      ]);
      const ops = planSync(desired, published, { now: started, remote }).filter((op) => {
        const subject = 'sessionId' in op ? op.sessionId : activityId;
        return subject === null || refusedBefore.get(subject) !== contentKey(op);
      });

      let externalActivity = activityExternalId;
      /** Sessions this pass created, by our id: their count follow-ups need the aggregator's id. */
      const createdSessions = new Map<string, string>();
      for (const planned of ops) {
        stopIfCancelled(planned.kind);
        // A session goes in under its activity: with the activity refused for good (and so not there), the session
        // waits, refused by nothing, and goes in with the pass that gets the activity through.
        if (planned.kind === 'create_session' && externalActivity === null) {
          report.refused.push({ what: `session ${planned.sessionId}`, message: 'waits for its activity, which the aggregator has not taken' });
          continue;
        }
        // A pass can take minutes (one call at a time, a slow aggregator): the counts planned at its start may be
        // stale by now, so every write that carries counts takes them from the ledger as it goes out.
        const op = isCountWrite(planned) ? await withFreshCounts(planned) : planned;
        if (op === undefined) continue;
        try {
          externalActivity = await apply(op, externalActivity);
          report.writes += 1;
          report.ops[op.kind] = (report.ops[op.kind] ?? 0) + 1;
          if (isCountWrite(op)) await followBookings(op);
        } catch (error) {
          if (!refusedForGood(error)) {
            const failure = toTemporalFailure(error);
            await writeActivityPublication(db, activityId, connectionId, { lastError: error instanceof Error ? error.message : String(error) });
            // A retryable failure counts toward the connection failing (connection.failing after 5 minutes of them).
            await recordConnectionHealth(db, connectionId, { ok: false, at: now(), error: error instanceof Error ? error.message : String(error) });
            throw failure instanceof Error ? failure : ApplicationFailure.retryable(String(failure));
          }
          report.writes += error instanceof AggregatorHttpError && error.status !== undefined ? 1 : 0;
          report.refused.push({ what: 'sessionId' in op && op.sessionId ? `session ${op.sessionId}` : 'activity', message: error.message });
          await recordRefusal(op, error.message);
          log.warn('aggregator refused a sync call for good', { activityId, connectionId, aggregator, op: op.kind, error: error.message });
        }
      }

      const finishedAt = now();
      if (report.refused.length === 0) {
        await writeActivityPublication(db, activityId, connectionId, { lastError: null, syncedAt: finishedAt });
      } else {
        report.outcome = 'refused';
        const [first] = report.refused;
        await writeActivityPublication(db, activityId, connectionId, { lastError: `${first?.what}: ${first?.message}` });
      }
      // The pass got every answer it asked for (a refusal is an answer): the connection works.
      await recordConnectionHealth(db, connectionId, { ok: true, at: finishedAt });
      const current = await readActivityPublication(db, activityId, connectionId);
      report.published = {
        activity: current?.external_id !== null && current?.external_id !== undefined && !current.hidden,
        sessions: await publishedCounts(db, activityId, connectionId),
      };
      report.nextHorizonEntryAt = offered ? (nextHorizonEntry(beyond, deps.horizonMs)?.toISOString() ?? null) : null;
      report.finishedAt = finishedAt.toISOString();
      if (report.writes > 0 || report.refused.length > 0) {
        log.info('sync pass to connection', { activityId, connectionId, aggregator, writes: report.writes, reads: report.reads, refused: report.refused.length });
      }
      return report;

      /**
       * The op with the session's counts as the ledger holds them now; undefined when there is nothing to send: the
       * studio cancelled the session since the plan was made (it belongs to the cancellation fan-out now). A count
       * patch is still sent when the fresh counts equal what was last pushed: a reconciliation plans it to repair
       * what the aggregator holds.
       */
      async function withFreshCounts(op: CountWrite): Promise<CountWrite | undefined> {
        const counts = await freshCounts(op.sessionId);
        if (counts === undefined) return undefined;
        if (op.kind !== 'patch_counts') return { ...op, listing: { ...op.listing, ...counts } };
        return { ...op, ...counts };
      }

      async function freshCounts(sessionId: string) {
        const row = await readCountFacts(db, sessionId, aggregator);
        if (!row || row.status === 'cancelled') return undefined;
        const offer = aggregatorOffer({
          // The ledger's clock, as the booking decision uses: a count read at the offer moment agrees with it.
          limitsLifted: spotWindow(row.starts_at, spotOptionsOf(row), row.db_now).limitsLifted,
          maxParticipants: row.max_participants,
          capacityOverride: row.capacity_override,
          aggregatorLimit: row.aggregator_limit,
          aggregatorLimitOverride: row.aggregator_limit_override,
          quota: row.quota ?? undefined,
          booked: bookedFor(row.bookedBy, aggregator),
        });
        return { totalCapacity: offer.totalCapacity, totalBooked: offer.totalBooked };
      }

      /**
       * A booking that lands while a count is on its way to the aggregator is not in what was sent. Once the write
       * is answered the ledger is read again and the count sent again until they agree, so the pass that wrote a
       * count never leaves a free spot at the aggregator that the ledger no longer has. Bounded: a session booked
       * faster than the aggregator answers is left to the pass its booking's signal asks for.
       */
      async function followBookings(sent: CountWrite): Promise<void> {
        let sentCounts = countsOf(sent);
        for (let round = 0; round < 3; round += 1) {
          stopIfCancelled('patch_counts');
          const now = await freshCounts(sent.sessionId);
          if (now === undefined || (now.totalCapacity === sentCounts.totalCapacity && now.totalBooked === sentCounts.totalBooked)) return;
          const externalId = sent.kind === 'create_session' ? createdSessions.get(sent.sessionId) : sent.externalId;
          if (externalId === undefined) return;
          const again: CountWrite = { kind: 'patch_counts', sessionId: sent.sessionId, externalId, totalCapacity: now.totalCapacity, totalBooked: now.totalBooked };
          await apply(again, externalActivity);
          report.writes += 1;
          report.ops.patch_counts = (report.ops.patch_counts ?? 0) + 1;
          sentCounts = countsOf(again);
        }
      }

      /** Sends one op and records it at once, so a retry of this activity resumes where it stopped. */
      async function apply(op: SyncOp, classId: string | null): Promise<string | null> {
        switch (op.kind) {
          case 'create_activity': {
            const { externalId } = await adapter.pushActivity(ctx, op.listing);
            await writeActivityPublication(db, activityId, connectionId, { externalId, fingerprint: op.fingerprint, hidden: false, refusedFingerprint: null });
            return externalId;
          }
          case 'update_activity':
          case 'hide_activity': {
            const hidden = op.kind === 'hide_activity';
            await (hidden ? adapter.hideActivity(ctx, op.externalId, op.listing) : adapter.updateActivity(ctx, op.externalId, op.listing));
            await writeActivityPublication(db, activityId, connectionId, { fingerprint: op.fingerprint, hidden, refusedFingerprint: null });
            return classId;
          }
          case 'create_session': {
            if (classId === null) throw new Error('a session cannot be created before its activity');
            const { externalId } = await adapter.createSession(ctx, classId, op.listing);
            createdSessions.set(op.sessionId, externalId);
            await writeSessionPublication(db, op.sessionId, connectionId, {
              externalId,
              fingerprint: op.fingerprint,
              totalCapacity: op.listing.totalCapacity,
              totalBooked: op.listing.totalBooked,
              removed: false,
              refusedFingerprint: null,
              lastError: null,
            });
            return classId;
          }
          case 'update_session': {
            await adapter.updateSession(ctx, { activityExternalId: classId ?? '', sessionExternalId: op.externalId }, op.listing);
            await writeSessionPublication(db, op.sessionId, connectionId, {
              fingerprint: op.fingerprint,
              totalCapacity: op.listing.totalCapacity,
              totalBooked: op.listing.totalBooked,
              refusedFingerprint: null,
              lastError: null,
            });
            return classId;
          }
          case 'patch_counts': {
            const ref = { activityExternalId: classId ?? '', sessionExternalId: op.externalId };
            await adapter.patchSessionCounts(ctx, ref, { totalCapacity: op.totalCapacity, totalBooked: op.totalBooked });
            await writeSessionPublication(db, op.sessionId, connectionId, {
              totalCapacity: op.totalCapacity,
              totalBooked: op.totalBooked,
              refusedFingerprint: null,
              lastError: null,
            });
            return classId;
          }
          case 'delete_session': {
            const ref = { activityExternalId: classId ?? '', sessionExternalId: op.externalId };
            try {
              await adapter.deleteSession(ctx, ref);
            } catch (error) {
              // A session someone booked there cannot be deleted (409): it is cancelled instead, bookings and all.
              if (!(error instanceof AggregatorHttpError && error.status === 409)) throw error;
              await adapter.cancelSession(ctx, ref, 'no longer offered');
            }
            if (op.sessionId !== null) await writeSessionPublication(db, op.sessionId, connectionId, { removed: true, lastError: null });
            return classId;
          }
        }
      }

      async function recordRefusal(op: SyncOp, message: string): Promise<void> {
        const write = { refusedFingerprint: contentKey(op), lastError: message };
        if ('sessionId' in op) {
          if (op.sessionId !== null) await writeSessionPublication(db, op.sessionId, connectionId, write);
        } else {
          await writeActivityPublication(db, activityId, connectionId, write);
        }
      }
    },
  };
}
