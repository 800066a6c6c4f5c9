import { allHandlersFinished, condition, setHandler } from '@temporalio/workflow';
import { BookingRun } from './booking.js';
import {
  approvalUpdate,
  bookingEventSignal,
  bookingRequestStateQuery,
  requestDecisionUpdate,
  sessionCancelledSignal,
  synchronousAnswerSignal,
  type ApprovalInput,
  type BookingEvent,
  type BookingRequestInput,
  type BookingRequestState,
  type RequestAnswerBody,
} from './contract.js';

export { ANSWER_MARGIN_MS, APPROVAL_MARGIN_MS, CONFIRM_MARGIN_MS } from './booking.js';

/** How long the workflow lingers after its last event, so copies of a webhook sent at once join this run. */
const LINGER_MS = 10_000;

/**
 * One aggregator booking, from its request to its end: the decision under the session's lock, the answer before
 * the aggregator's deadline (a manual approval or a failing aggregator included), and the member's later
 * cancellation or check-in. Every event about the booking reaches this workflow (id
 * `booking:<aggregator>:<connectionId>:<number>`), so copies of one webhook have one effect; a run that finds the
 * request decided by an earlier run answers the same. The steps are `BookingRun`'s; this wires the messages to it
 * and runs the event loop until the booking has been quiet for a while.
 */
export async function bookingRequestWorkflow(input: BookingRequestInput): Promise<BookingRequestState> {
  const run = new BookingRun(input);
  setHandler(bookingEventSignal, (event) => run.enqueue(event));
  // Runs started by an API that sent a synchronous aggregator's request as an update finish as they began.
  setHandler(requestDecisionUpdate, async (event) => {
    run.enqueue(event);
    await condition(() => run.state.answer !== null);
    return run.state.answer as RequestAnswerBody;
  });
  setHandler(synchronousAnswerSignal, (report) => run.reportSynchronousAnswer(report));
  setHandler(
    approvalUpdate,
    async (decision) => {
      run.approve(decision);
      await condition(() => run.approvalAnswer !== undefined);
      return run.approvalAnswer as RequestAnswerBody;
    },
    {
      validator: (_decision: ApprovalInput) => {
        if (run.state.phase !== 'awaiting_approval') throw new Error(`the request is not waiting for approval (it is ${run.state.phase})`);
      },
    },
  );
  setHandler(bookingRequestStateQuery, () => run.state);
  setHandler(sessionCancelledSignal, () => run.cancelSession());

  for (;;) {
    const more = await condition(() => run.queue.length > 0, Math.max(1, run.lastEventAt + LINGER_MS - Date.now()));
    if (!more) {
      if (Date.now() - run.lastEventAt >= LINGER_MS) break;
      continue;
    }
    const event = run.queue.shift() as BookingEvent;
    if (event.type === 'booking_requested') await run.onRequest(event);
    else await run.onMemberEvent(event);
  }
  await run.notified();
  run.state.phase = 'done';
  await condition(allHandlersFinished);
  return run.state;
}
