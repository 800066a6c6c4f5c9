import type { SandboxBookingState } from './store.js';
import type { WellhubBookingStatus } from '../schemas.js';

export type TransitionResult = { ok: true; changed: boolean } | { ok: false; message: string };

/**
 * What a partner's answer does to a booking at Wellhub. Repeating the answer already given is accepted and changes
 * nothing, because a partner retries a PATCH whose answer it lost. An answer that cannot apply any more is 422
 * rather than 409: our HTTP client retries 409, and no retry can make a rejected booking reservable again.
 * - RESERVED: from PENDING only (a booking Wellhub auto-rejected after its deadline can no longer be reserved).
 * - REJECTED: from PENDING; a reserved booking is cancelled (CANCELLED_BY_GYM), not rejected.
 * - CANCELLED_BY_GYM: from RESERVED; on a booking already cancelled by anyone it is a no-op (the member's own
 *   cancellation may cross the gym's); a pending request must be answered REJECTED instead.
 */
export function answerTransition(state: SandboxBookingState, autoRejected: boolean, answer: WellhubBookingStatus): TransitionResult {
  const refuse = (message: string): TransitionResult => ({ ok: false, message });
  const terminal: Partial<Record<SandboxBookingState, string>> = {
    REJECTED: autoRejected
      ? 'the booking was already rejected by Wellhub: no answer came within 15 minutes'
      : 'the booking was already rejected',
    CANCELLED_BY_GYM: 'the booking was already cancelled by the gym',
    CANCELLED_BY_USER: 'the booking was already cancelled by the member',
    LATE_CANCELLED: 'the booking was already cancelled late by the member',
    CHECKED_IN: 'the member already checked in',
  };
  switch (answer) {
    case 'RESERVED':
      if (state === 'PENDING') return { ok: true, changed: true };
      if (state === 'RESERVED') return { ok: true, changed: false };
      return refuse(`cannot reserve: ${terminal[state]}`);
    case 'REJECTED':
      if (state === 'PENDING') return { ok: true, changed: true };
      if (state === 'REJECTED') return { ok: true, changed: false };
      if (state === 'RESERVED') return refuse('cannot reject a reserved booking: cancel it with CANCELLED_BY_GYM');
      return refuse(`cannot reject: ${terminal[state]}`);
    case 'CANCELLED_BY_GYM':
      if (state === 'RESERVED') return { ok: true, changed: true };
      if (state === 'CANCELLED_BY_GYM' || state === 'CANCELLED_BY_USER' || state === 'LATE_CANCELLED') return { ok: true, changed: false };
      if (state === 'PENDING') return refuse('cannot cancel a booking request that was never reserved: answer it with REJECTED');
      return refuse(`cannot cancel: ${terminal[state]}`);
  }
}
