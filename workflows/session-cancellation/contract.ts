import { defineQuery, defineSignal } from '@temporalio/workflow';
import type { Aggregator } from '../../domain/model.js';

/**
 * The cancellation fan-out's contract. One parent workflow per cancelled session (`session-cancellation:<sessionId>`)
 * and one child per connection the session was pushed to (`session-cancellation:<sessionId>:<aggregator>`), each
 * retried on its own until its aggregator has the cancellation. The API, the workflows and their activities import
 * this module; it imports none of them.
 */

export const SESSION_CANCELLATION_WORKFLOW = 'sessionCancellationWorkflow';
export const CANCELLATION_BRANCH_WORKFLOW = 'cancellationBranchWorkflow';

export interface SessionCancellationInput {
  companyId: string;
  venueId: string;
  activityId: string;
  sessionId: string;
  reason: string;
}

export interface CancellationBranchInput {
  sessionId: string;
  venueId: string;
  connectionId: string;
  aggregator: Aggregator;
  reason: string;
  /** Attempts made by earlier runs (continue-as-new). */
  attemptsBefore?: number | undefined;
}

export type BranchStatus = 'pending' | 'retrying' | 'done' | 'failed';

export interface BranchProgress {
  connectionId: string;
  aggregator: string;
  status: BranchStatus;
  attempts: number;
  lastError: string | null;
}

export interface CancellationProgress {
  sessionId: string;
  phase: 'starting' | 'fanning_out' | 'done';
  inFlightRequestsTold: number;
  branches: BranchProgress[];
}

/** A branch reports each attempt to its parent, so the parent's query shows every aggregator's progress. */
export const branchProgressSignal = defineSignal<[BranchProgress]>('branchProgress');
export const cancellationProgressQuery = defineQuery<CancellationProgress>('cancellationProgress');
/** Sent to a booking request workflow whose session the studio cancelled while the request waited for its answer. */
export const sessionCancelledSignal = defineSignal('sessionCancelled');

export interface SessionCancellationActivities {
  /** The branches still to finish; undefined while the cancellation's transaction is not visible (not committed yet). */
  openBranches(input: { sessionId: string }): Promise<{ connectionId: string; aggregator: Aggregator }[] | undefined>;
  inFlightRequests(input: { sessionId: string }): Promise<{ aggregator: Aggregator; connectionId: string; bookingNumber: string }[]>;
  /** One attempt at telling one aggregator (bookings one by one where it wants that, then the session). */
  cancelAtAggregator(input: CancellationBranchInput & { attempt: number }): Promise<{ bookingsTold: number }>;
  recordBranchFailure(input: { sessionId: string; connectionId: string; attempts: number; error: string; final: boolean }): Promise<void>;
  completeCancellation(input: { sessionId: string }): Promise<void>;
}
