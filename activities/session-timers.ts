import type { Db } from '../db/index.js';
import { markNoShows, readSessionTimers } from '../db/session-timers.js';
import type { SessionTimersActivities } from '../workflows/session-timers/contract.js';

export function createSessionTimersActivities(db: Db): SessionTimersActivities {
  return {
    readSessionTimers: ({ sessionId }) => readSessionTimers(db, sessionId),
    async markNoShows({ sessionId, at }) {
      const pass = await markNoShows(db, { sessionId, at: new Date(at) });
      return pass.done ? { done: true, marked: pass.marked } : { done: false, marked: 0 };
    },
  };
}
