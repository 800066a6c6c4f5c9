import { defineQuery, defineSignal } from '@temporalio/workflow';
import type { SyncReason } from '../../db/schema.js';

/**
 * The activity lifecycle flow's contract: its input, messages, state and activity interface. The workflow, its
 * activities, its client and the API import this module; it imports none of them.
 */

export const ACTIVITY_LIFECYCLE_WORKFLOW = 'activityLifecycleWorkflow';

export interface ActivityLifecycleInput {
  companyId: string;
  venueId: string;
  activityId: string;
  /** How often a reconciliation pass runs when nothing changes (SPEC §4: default 30 minutes). */
  syncIntervalMs: number;
  /** Carried over continue-as-new; absent on the first run. */
  carried?: CarriedState | undefined;
}

export interface ActivityChange {
  /** What the API saw change: the activity, one of its sessions, or a booking in one. */
  kind: 'activity' | 'session' | 'booking';
  id: string;
}

export interface CarriedState {
  syncPasses: number;
  changesSeen: number;
  pending: ActivityChange[];
}

export interface ActivityLifecycleState extends CarriedState {
  phase: 'starting' | 'running' | 'stopping' | 'stopped';
  optedOut: boolean;
  lastSyncReason: SyncReason | null;
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
}
