import { defineQuery, defineSignal } from '@temporalio/workflow';
import type { SessionTimerFacts } from '../../domain/session-timers.js';

/**
 * The per-session timers' contract: one small workflow per session of an offered activity
 * (`session-timers:<sessionId>`), holding the session's durable timers: the release of unsold aggregator spots and
 * the offer of unsold direct spots (free spots pushed again to every aggregator), then the no-show pass after the end.
 * It reads the ledger whenever it wakes, so a session rescheduled or an option changed only needs a signal.
 */

export const SESSION_TIMERS_WORKFLOW = 'sessionTimersWorkflow';

export interface SessionTimersInput {
  sessionId: string;
  /** Carried over continue-as-new: the moments up to this time (ms) were handled already. */
  handledUntil?: number | null | undefined;
}

export interface SessionTimersResult {
  /** Why it ended: the no-show pass ran, or the session is gone or cancelled. */
  ended: 'no_show_pass_done' | 'session_gone';
  noShows: number;
}

export interface SessionTimersState {
  /** When it wakes next (ISO), null when it is not waiting. */
  nextAt: string | null;
  pushes: number;
  noShows: number;
}

/** The session or its activity's options changed: read the ledger again and re-arm. */
export const sessionChangedSignal = defineSignal('sessionChanged');
export const sessionTimersStateQuery = defineQuery<SessionTimersState>('sessionTimersState');

export interface SessionTimersView {
  facts: SessionTimerFacts;
  activityId: string;
  offered: boolean;
}

export interface SessionTimersActivities {
  /** The session's timer facts as the ledger has them now; undefined when there is no such session. */
  readSessionTimers(input: { sessionId: string }): Promise<SessionTimersView | undefined>;
  /** The no-show pass as of `at` (ISO, the timer's time); not done when the session now ends later. */
  markNoShows(input: { sessionId: string; at: string }): Promise<{ done: boolean; marked: number }>;
}
