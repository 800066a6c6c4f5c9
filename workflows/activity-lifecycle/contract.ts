import { defineQuery, defineSignal } from '@temporalio/workflow';
import type { LifecyclePhase, SyncReason } from '../../domain/model.js';

/**
 * The activity lifecycle flow's contract: its input, messages, state and activity interface. The workflow, its
 * activities, its client and the API import this module; it imports none of them.
 */

export const ACTIVITY_LIFECYCLE_WORKFLOW = 'activityLifecycleWorkflow';

export interface ActivityLifecycleInput {
  companyId: string;
  venueId: string;
  activityId: string;
  /** How often a reconciliation pass runs when nothing changes (default 30 minutes). */
  syncIntervalMs: number;
  /**
   * Continue-as-new after this many passes in one run, to bound a run's history below what Temporal suggests
   * (default: only when Temporal suggests it).
   */
  continueAsNewAfterPasses?: number | undefined;
  /** Carried over continue-as-new; absent on the first run. */
  carried?: CarriedState | undefined;
}

export interface ActivityChange {
  /** What the API saw change: the activity, one of its sessions, a booking in one, or one of the venue's connections. */
  kind: 'activity' | 'session' | 'booking' | 'connection';
  id: string;
}

/** Where the sync to one connection stands: the lifecycle query and `GET /v1/activities/{id}/sync` show it. */
export interface ConnectionSyncStatus {
  connectionId: string;
  aggregator: string;
  /** Whether the connection is active now; an inactive one receives nothing more. */
  active: boolean;
  /** A change is waiting for the next pass to this connection. */
  pending: boolean;
  /** A pass to this connection is running (or retrying: see lastError). */
  running: boolean;
  passes: number;
  lastSuccessAt: string | null;
  lastError: { message: string; at: string } | null;
  published: { activity: boolean; sessions: number };
  /** Calls of the last pass: writes (by kind) and reads. */
  lastPass: { writes: number; reads: number; ops: Partial<Record<SyncOpKind, number>> } | null;
}

export interface CarriedState {
  syncPasses: number;
  changesSeen: number;
  pending: ActivityChange[];
  connections: ConnectionSyncStatus[];
  lastReconcileAt: number | null;
}

export interface ActivityLifecycleState extends CarriedState {
  phase: LifecyclePhase;
  optedOut: boolean;
  lastSyncReason: SyncReason | null;
  /** When a session next enters the booking horizon (a pass runs then). */
  nextHorizonEntryAt: string | null;
}

export type SyncOpKind = 'create_activity' | 'update_activity' | 'hide_activity' | 'create_session' | 'update_session' | 'patch_counts' | 'delete_session';

export interface SyncTargets {
  /** The activity is opted in to aggregators (when not, a pass hides it and removes its future sessions). */
  offered: boolean;
  /** The venue's active connections. */
  connections: Array<{ connectionId: string; aggregator: string }>;
}

export interface SyncConnectionInput {
  activityId: string;
  connectionId: string;
  /** Also read what the aggregator holds and repair drift (the periodic reconciliation). */
  reconcile: boolean;
}

export interface SyncReport {
  connectionId: string;
  /** synced: everything sent; refused: the aggregator refused part for good (see refused); skipped: not active. */
  outcome: 'synced' | 'refused' | 'skipped';
  writes: number;
  reads: number;
  ops: Partial<Record<SyncOpKind, number>>;
  refused: Array<{ what: string; message: string }>;
  published: { activity: boolean; sessions: number };
  nextHorizonEntryAt: string | null;
  finishedAt: string;
}

export type ActivityLifecycleWorkflow = (input: ActivityLifecycleInput) => Promise<ActivityLifecycleState>;

/** The API signals every change of the activity, its sessions or their bookings. */
export const activityChangedSignal = defineSignal<[ActivityChange]>('activityChanged');
/** The studio turned aggregator bookings off for the activity. */
export const optOutSignal = defineSignal('optOut');
export const lifecycleStateQuery = defineQuery<ActivityLifecycleState>('lifecycleState');

/** The Temporal activities the workflow calls; `activities/activity-lifecycle.ts` implements them. */
export interface ActivityLifecycleActivities {
  /** Records that the activity's lifecycle workflow runs (idempotent: a retry or a new run overwrites the row). */
  recordLifecycleStarted(input: ActivityLifecycleInput): Promise<void>;
  recordLifecycleStopped(input: ActivityLifecycleInput): Promise<void>;
  /** Records one sync pass of the lifecycle: when, why, and how many changes it covered. */
  recordSyncPass(input: { activityId: string; reason: SyncReason; changes: ActivityChange[] }): Promise<void>;
  /** Whether the activity is offered, and the connections a pass reaches. */
  listSyncTargets(input: { activityId: string }): Promise<SyncTargets>;
  /**
   * One pass to one connection: sends exactly the difference between what should be listed and what was pushed (or,
   * reconciling, what the aggregator holds). Safe to run twice: each call is recorded as it succeeds. Retryable
   * aggregator failures fail the activity (Temporal retries it); what the aggregator refuses for good is recorded
   * and reported, and not sent again until it changes.
   */
  syncConnection(input: SyncConnectionInput): Promise<SyncReport>;
}

/**
 * Patch id: a pass's two ledger steps (listing its targets, recording the pass) run as local activities, in the
 * workflow task that starts the pass, instead of as two activity tasks each with its own round trips to the server.
 * Histories of runs started before it replay with the activity tasks they recorded.
 */
export const LEDGER_STEPS_LOCAL = 'lifecycle-ledger-steps-as-local-activities';
