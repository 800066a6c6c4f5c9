import { defineQuery, defineSignal } from '@temporalio/workflow';
import type { Aggregator, CancellationBranchStatus } from '../../domain/model.js';

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
  /** The status the parent last heard from earlier runs, so a new run does not tell it again. */
  reportedStatus?: BranchStatus | undefined;
  /** The last error of earlier runs, for the branch's query until the next attempt. */
  lastError?: string | null | undefined;
}

/** What a failed attempt carries in its failure's details, for the branch to pace itself. */
export interface CancelAttemptFailureDetails {
  aggregator: Aggregator;
  operation: string;
  status: number | null;
  /** How long the aggregator asked us to stay away (Retry-After), in ms; null when it did not say. */
  retryAfterMs: number | null;
}

export type BranchStatus = CancellationBranchStatus;

export interface BranchProgress {
  connectionId: string;
  aggregator: string;
  status: BranchStatus;
  attempts: number;
  lastError: string | null;
}

/** A branch's own view: its progress, and when it tries next while it waits (ISO time; null while it is not waiting). */
export interface BranchState extends BranchProgress {
  nextAttemptAt: string | null;
}

export interface CancellationProgress {
  sessionId: string;
  phase: 'starting' | 'fanning_out' | 'done';
  inFlightRequestsTold: number;
  branches: BranchProgress[];
}

/**
 * A branch tells its parent when its status changes (not at every attempt, so the parent's history stays small over
 * days of retries); each attempt is in the ledger (the API's view) and in the branch's own query.
 */
export const branchProgressSignal = defineSignal<[BranchProgress]>('branchProgress');
/** The connection changed (new credentials, another URL): a branch waiting to retry tries again now. */
export const wakeBranchSignal = defineSignal('wakeBranch');
export const cancellationProgressQuery = defineQuery<CancellationProgress>('cancellationProgress');
export const branchStateQuery = defineQuery<BranchState>('cancellationBranchState');

export interface SessionCancellationActivities {
  /**
   * The branches still to finish, read once the transaction that cancelled the session has ended (it holds the
   * session's row lock until it commits or rolls back); undefined when it rolled back: nothing was cancelled.
   */
  openBranches(input: { sessionId: string }): Promise<{ connectionId: string; aggregator: Aggregator }[] | undefined>;
  inFlightRequests(input: { sessionId: string }): Promise<{ aggregator: Aggregator; connectionId: string; bookingNumber: string }[]>;
  /** One attempt at telling one aggregator (bookings one by one where it wants that, then the session). */
  cancelAtAggregator(input: CancellationBranchInput & { attempt: number }): Promise<{ bookingsTold: number }>;
  recordBranchFailure(input: { sessionId: string; connectionId: string; attempts: number; error: string; final: boolean }): Promise<void>;
  completeCancellation(input: { sessionId: string }): Promise<void>;
}
