import { condition, log, patched, proxyActivities, proxyLocalActivities, upsertSearchAttributes } from '@temporalio/workflow';
import { SA } from '../../temporal/search-attributes.js';
import { failureMessage } from '../failures.js';
import { LEDGER_STEP_OPTIONS } from '../ledger-steps.js';
import { LEDGER_STEPS_LOCAL, type ActivityLifecycleActivities, type ConnectionSyncStatus, type SyncReport, type SyncTargets } from './contract.js';

/**
 * One lane per connection: each syncs on its own, so an aggregator that fails for hours (its pass retrying with
 * backoff) holds back none of the others. A lane marked dirty while a pass runs runs once more after it, which is
 * how a burst of changes becomes one or two passes instead of one per change.
 */

// A pass retries until the aggregator is back (hours if need be); what it refuses for good comes back in the report.
const syncActs = proxyActivities<ActivityLifecycleActivities>({
  startToCloseTimeout: '10 minutes',
  // A pass heartbeats before every aggregator call (each bounded by the client's 10 s timeout): an attempt whose worker
  // died is retried on another within half a minute, so counts are not left stale for long.
  heartbeatTimeout: '30 seconds',
  retry: { initialInterval: '2 seconds', backoffCoefficient: 2, maximumInterval: '5 minutes' },
});

const ledgerActs = proxyLocalActivities<ActivityLifecycleActivities>(LEDGER_STEP_OPTIONS);

interface Lane {
  status: ConnectionSyncStatus;
  reconcile: boolean;
  loop: Promise<void> | undefined;
}

export class SyncLanes {
  private readonly lanes = new Map<string, Lane>();
  /** The earliest moment a session enters the horizon, over all lanes' last reports. */
  nextHorizonEntryAt: string | null = null;
  /** The Aggregators search attribute as last set. */
  private aggregators: string[] = [];

  constructor(
    private readonly activityId: string,
    carried: ConnectionSyncStatus[],
  ) {
    for (const status of carried) this.lanes.set(status.connectionId, { status: { ...status, running: false }, reconcile: false, loop: undefined });
  }

  statuses(): ConnectionSyncStatus[] {
    return [...this.lanes.values()].map((lane) => ({ ...lane.status }));
  }

  /** Every lane is between passes with nothing pending: safe to continue-as-new or to stop. */
  idle(): boolean {
    return [...this.lanes.values()].every((lane) => !lane.status.running && !(lane.status.active && lane.status.pending));
  }

  /** Brings the lanes in line with the venue's active connections and asks each for a pass. */
  async refresh(reconcile: boolean): Promise<SyncTargets> {
    const targets = patched(LEDGER_STEPS_LOCAL)
      ? await ledgerActs.listSyncTargets({ activityId: this.activityId })
      : await syncActs.listSyncTargets({ activityId: this.activityId });
    const active = new Set(targets.connections.map((c) => c.connectionId));
    for (const { connectionId, aggregator } of targets.connections) {
      let lane = this.lanes.get(connectionId);
      if (!lane) {
        lane = { status: emptyStatus(connectionId, aggregator), reconcile: false, loop: undefined };
        this.lanes.set(connectionId, lane);
      }
      lane.status.active = true;
      lane.status.pending = true;
      lane.reconcile ||= reconcile;
      lane.loop ??= this.run(lane);
    }
    // A paused or disabled connection receives nothing more; its lane stops after the pass it may be running.
    for (const lane of this.lanes.values()) if (!active.has(lane.status.connectionId)) lane.status.active = false;
    const aggregators = [...new Set(targets.connections.map((c) => c.aggregator))].sort();
    if (aggregators.join(',') !== this.aggregators.join(',')) {
      upsertSearchAttributes([{ key: SA.aggregators, value: aggregators }]);
      this.aggregators = aggregators;
    }
    return targets;
  }

  private async run(lane: Lane): Promise<void> {
    const { status } = lane;
    try {
      for (;;) {
        await condition(() => status.pending || !status.active);
        if (!status.active) return;
        status.pending = false;
        status.running = true;
        const reconcile = lane.reconcile;
        lane.reconcile = false;
        try {
          this.record(status, await syncActs.syncConnection({ activityId: this.activityId, connectionId: status.connectionId, reconcile }));
        } catch (error) {
          // Only a failure the activity itself declares final gets here: retryable ones are retried by Temporal.
          status.lastError = { message: failureMessage(error), at: new Date().toISOString() };
          log.warn('sync pass to connection failed', { activityId: this.activityId, connectionId: status.connectionId, error: status.lastError.message });
        } finally {
          status.running = false;
        }
      }
    } finally {
      lane.loop = undefined;
    }
  }

  private record(status: ConnectionSyncStatus, report: SyncReport): void {
    status.passes += 1;
    status.published = report.published;
    status.lastPass = { writes: report.writes, reads: report.reads, ops: report.ops };
    if (report.outcome === 'synced') {
      status.lastSuccessAt = report.finishedAt;
      status.lastError = null;
    } else if (report.outcome === 'refused') {
      const [first] = report.refused;
      status.lastError = { message: `${first?.what ?? 'sync'}: ${first?.message ?? 'refused'}`, at: report.finishedAt };
    }
    if (report.nextHorizonEntryAt !== null && (this.nextHorizonEntryAt === null || report.nextHorizonEntryAt < this.nextHorizonEntryAt)) {
      this.nextHorizonEntryAt = report.nextHorizonEntryAt;
    }
  }

  /** Forgets a horizon entry that has come (the pass it triggers reports the next one). */
  horizonEntryPassed(now: number): void {
    if (this.nextHorizonEntryAt !== null && Date.parse(this.nextHorizonEntryAt) <= now) this.nextHorizonEntryAt = null;
  }
}

function emptyStatus(connectionId: string, aggregator: string): ConnectionSyncStatus {
  return {
    connectionId,
    aggregator,
    active: true,
    pending: false,
    running: false,
    passes: 0,
    lastSuccessAt: null,
    lastError: null,
    published: { activity: false, sessions: 0 },
    lastPass: null,
  };
}
