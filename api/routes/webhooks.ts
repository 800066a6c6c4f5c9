import express, { Router, type Request, type Response } from 'express';
import { WebhookParseError, type AggregatorAdapter, type AggregatorEvent } from '../../aggregators/types.js';
import { decideAggregatorRequest, readBookingRequest } from '../../db/booking-requests.js';
import { findWebhookConnection } from '../../db/connections.js';
import {
  handOverSoon,
  markInboxDispatched,
  markInboxEventsDispatched,
  markInboxOutcomes,
  recordInboxEvent,
  recordSynchronousResponse,
} from '../../db/webhook-inbox.js';
import type { Db } from '../../db/index.js';
import { AGGREGATORS, type Aggregator } from '../../domain/model.js';
import { errorFields, type Logger } from '../../lib/logger.js';
import { openCredentials, webhookSecretsOf, type SecretBox } from '../../lib/secrets.js';
import { answerFor, requestedAtOf, type RequestAnswerBody } from '../../domain/booking-answer.js';
import type { BookingRequestControl } from '../clients/booking-request.js';
import { batcher } from '../../lib/batcher.js';
import { boundedQueue } from '../../lib/bounded-queue.js';
import { aggregatorLabel, recordDecision, webhookAckSeconds, webhooksReceived } from '../../lib/metrics.js';
import { ApiError } from '../errors.js';
import { requestInput, toBookingEvent } from '../webhook-events.js';

/** A webhook body is one small event: anything larger is not from an aggregator. */
const WEBHOOK_BODY_LIMIT = '64kb';
/** Onefit waits about 1 s for the answer in the response; the decision must be back well before. */
export const SYNCHRONOUS_ANSWER_BUDGET_MS = 800;
/** Below this much of the budget left, no decision is attempted: the answer is a rejection at once. */
const MIN_DECISION_MS = 100;
/** How long the route's own hand-over of an event to its workflow may take (after the answer, off the request). */
const HANDOVER_DEADLINE_MS = 5_000;
/** Hand-overs to Temporal in flight at once, per API process. */
const HANDOVERS_IN_FLIGHT = 32;
/** The inbox dispatcher leaves a new event to the route's own hand-over for this long. */
export const HANDOVER_GRACE_MS = 10_000;

export interface WebhookDeps {
  db: Db;
  secretBox: SecretBox;
  adapters: Readonly<Record<Aggregator, AggregatorAdapter>>;
  bookings: BookingRequestControl;
  logger: Logger;
}

const isAggregator = (name: string): name is Aggregator => (AGGREGATORS as readonly string[]).includes(name);

/**
 * `POST /webhooks/{aggregator}`: the aggregators' events. In order, each refusal a 4xx that says why, before anything
 * is written or started: the aggregator must be known (404), the body must name a venue (400) that one of its
 * connections holds (404), the signature must verify with that connection's secret, or its previous one during a
 * rotation (401), and the event must follow the aggregator's contract (400). The connection's status refuses nothing
 * here: an aggregator does not resend an event answered 4xx, so a member's cancellation or check-in on a paused
 * connection would be lost and its spot stay taken; events about existing bookings apply whatever the status, and a
 * new request on a connection that is not active is rejected (USAGE_RESTRICTION) by the decision itself.
 * A verified event is recorded in the inbox once per connection (its id is the key) and handed to the workflow of its
 * booking number as that connection received it; every copy is handed over too, and the workflow makes them one.
 * Then 2xx, at once: the decision follows by the aggregator's API, except for an aggregator that reads it from this
 * response (Onefit), which gets it here.
 */
export function webhookRouter(deps: WebhookDeps): Router {
  const router = Router();
  const raw = express.raw({ type: () => true, limit: WEBHOOK_BODY_LIMIT });
  // Hand-overs follow the answers, a bounded number at a time: under a burst, unbounded ones took a quarter of the
  // process's time from the answers themselves (bench). What waits here is in the inbox already.
  const handOvers = boundedQueue(HANDOVERS_IN_FLIGHT);
  // Events handed over are marked so in batches, one statement for many (under load, one per webhook was a round trip
  // to PostgreSQL for every request). A mark lost with its process costs nothing: after its grace the dispatcher hands
  // the event over again, which its workflow takes as the copy it is.
  const dispatchedMarks = batcher((refs: Array<{ connectionId: string; eventId: string }>) => markInboxEventsDispatched(deps.db, refs), {
    maxItems: 100,
    maxDelayMs: 50,
  });

  // Measured around everything the route does, refusals by the body parser included: each webhook is counted by
  // aggregator and outcome, and an acknowledgement's latency is from its arrival to its 2xx having been written.
  const measure = (req: Request, res: Response, next: () => void) => {
    const arrived = performance.now();
    const aggregator = aggregatorLabel(String(req.params.aggregator));
    res.once('finish', () => {
      const outcome =
        res.statusCode < 300 ? ((res.locals.webhookOutcome as string | undefined) ?? 'accepted') : res.statusCode >= 500 ? 'error' : ((res.locals.errorCode as string | undefined) ?? `http_${res.statusCode}`);
      webhooksReceived.inc({ aggregator, outcome });
      if (res.statusCode < 300) webhookAckSeconds.observe({ aggregator }, (performance.now() - arrived) / 1000);
    });
    // An aggregator that hung up before its answer was written gets none: counted apart, it had no acknowledgement.
    res.once('close', () => {
      if (!res.writableFinished) webhooksReceived.inc({ aggregator, outcome: 'client_closed' });
    });
    next();
  };

  router.post('/webhooks/:aggregator', measure, raw, async (req: Request, res: Response) => {
    const arrived = Date.now();
    // Listened for before anything is awaited: an aggregator that hangs up early must still be seen to have done so.
    let closedAt = Infinity;
    const responseClosed = new Promise<void>((resolve) =>
      res.once('close', () => {
        closedAt = Date.now();
        resolve();
      }),
    );
    const log = (res.locals.log as Logger | undefined) ?? deps.logger;
    const name = String(req.params.aggregator);
    if (!isAggregator(name)) throw new ApiError(404, 'unknown_aggregator', `no aggregator called "${name.slice(0, 40)}"`);
    const adapter = deps.adapters[name];
    const rawBody = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
    if (rawBody.length === 0) throw new ApiError(400, 'body_required', 'the webhook has no body');
    const request = { rawBody, headers: Object.fromEntries(Object.entries(req.headers).map(([k, v]) => [k, Array.isArray(v) ? v.join(',') : v])) };

    const venueId = adapter.webhookVenueId(request);
    if (venueId === undefined) throw new ApiError(400, 'invalid_event', "the body names no venue (the aggregator's venue id)");
    const connection = await findWebhookConnection(deps.db, name, venueId);
    if (!connection) throw new ApiError(404, 'unknown_venue', `no ${name} connection holds this venue id`);

    const secrets = webhookSecretsOf(openCredentials(deps.secretBox, connection.credentials_sealed));
    if (secrets.length === 0) throw new ApiError(401, 'invalid_signature', 'the connection has no webhook secret to verify with');
    const checks = secrets.map((secret) => adapter.verifyWebhook(request, secret));
    if (!checks.some((check) => check.ok)) {
      const reason = checks.find((check): check is { ok: false; reason: string } => !check.ok)?.reason ?? 'signature mismatch';
      throw new ApiError(401, 'invalid_signature', reason);
    }

    let event: AggregatorEvent;
    try {
      event = adapter.parseWebhook(request);
    } catch (error) {
      if (error instanceof WebhookParseError) throw new ApiError(400, 'invalid_event', error.message, error.details);
      throw error;
    }
    if (event.externalVenueId !== venueId) throw new ApiError(400, 'invalid_event', 'the event names two different venues');

    const bookingEvent = toBookingEvent(event);
    const { duplicate } = await recordInboxEvent(deps.db, {
      aggregator: name,
      eventId: event.eventId,
      eventType: event.type,
      connectionId: connection.id,
      bookingNumber: event.bookingNumber,
      payload: bookingEvent,
      handoverGraceMs: HANDOVER_GRACE_MS,
    });
    res.locals.webhookOutcome = duplicate ? 'duplicate' : 'accepted';
    const input = requestInput(adapter, connection, event.bookingNumber);
    const inboxRef = { connectionId: connection.id, eventId: event.eventId };
    const eventLog = { aggregator: name, bookingNumber: event.bookingNumber, eventId: event.eventId, type: event.type, duplicate };

    /**
     * Hands the event to its booking workflow right after the answer, off the request; should that fail (Temporal
     * unreachable, this process gone), the inbox dispatcher of any API process hands it over. A copy of an event
     * already in the inbox needs no hand-over of its own.
     */
    const handOver = () =>
      handOvers.run(() =>
        deps.bookings
          .deliver(input, bookingEvent, HANDOVER_DEADLINE_MS)
          .then(() => dispatchedMarks.add(inboxRef))
          .catch(async (error: unknown) => {
            log.warn({ ...eventLog, ...errorFields(error) }, 'webhook kept in the inbox; the dispatcher hands it over');
            await handOverSoon(deps.db, inboxRef);
          })
          .catch((error: unknown) => {
            log.warn({ ...eventLog, ...errorFields(error) }, 'the dispatcher takes the event after its grace');
          }),
      );

    if (input.answersSynchronously && event.type === 'booking_requested') {
      // The decision is taken here, in this request's own transaction under the session's lock (the same step the
      // workflow takes for the others, so the same invariants hold): the aggregator waits about a second, and a round
      // trip through Temporal under load can take most of it. The workflow, handed the event right after, finds the
      // request decided and owns the aftermath: the lifecycle's counts, whether the answer got through, the read-back.
      let answer: RequestAnswerBody | undefined;
      const budget = SYNCHRONOUS_ANSWER_BUDGET_MS - (Date.now() - arrived);
      // With too little of the budget left for a decision, the answer is a rejection now rather than one too late.
      if (budget >= MIN_DECISION_MS) {
        try {
          const now = Date.now();
          const requestedAt = requestedAtOf(now, bookingEvent.occurredAt, input.bookingDeadlineMs);
          const decided = await decideAggregatorRequest(deps.db, {
            ...input,
            sessionExternalId: bookingEvent.sessionExternalId,
            activityExternalId: bookingEvent.activityExternalId,
            member: bookingEvent.member,
            requestedAt: new Date(requestedAt),
            deadlineAt: new Date(requestedAt + input.bookingDeadlineMs),
            synchronous: true,
            now: new Date(now),
          });
          answer = answerFor(decided);
          if (!decided.known && decided.decision !== 'awaiting_approval') recordDecision(name, decided.decision, new Date(requestedAt), new Date());
        } catch (error) {
          log.error({ ...eventLog, ...errorFields(error) }, 'synchronous booking decision failed');
        }
      }
      // Every copy of the request answers what the ledger decided, whichever copy decided it.
      if (answer === undefined) {
        const decided = await readBookingRequest(deps.db, { connectionId: connection.id, bookingNumber: event.bookingNumber }).catch(() => undefined);
        if (decided !== undefined && decided.decision !== 'awaiting_approval') answer = answerFor(decided);
      }
      const body = answer ?? { status: 'REJECTED' as const, reason: 'TECHNICAL_ERROR' as const, message: 'no decision in time' };
      if (answer === undefined) {
        // Answered without a decision: nothing was held, and no workflow has anything to do.
        await markInboxOutcomes(deps.db, connection.id, [{ eventId: event.eventId, outcome: 'answered_rejected_without_decision' }]);
        await markInboxDispatched(deps.db, inboxRef);
      } else {
        // Whichever copy carries the decision hands it over (the workflow takes each event id once), so the request's
        // aftermath never depends on which copy wrote the inbox row.
        handOver();
      }
      // Whether the decision reached the aggregator in time: written out completely before it hung up and within its
      // wait. An answer that did not becomes the aggregator's own rejection, and the workflow frees the spot. It is
      // recorded in the inbox, where the workflow reads it; the signal only wakes the workflow sooner.
      const answeredAt = Date.now();
      void responseClosed
        .then(async () => {
          // Node reports a response written into a socket the client had already closed as finished all the same.
          const delivered =
            answer !== undefined && res.writableFinished && closedAt >= answeredAt && answeredAt - arrived <= adapter.capabilities.bookingDeadlineMs;
          // A copy of the request does not overwrite what the first delivery's response recorded.
          if (!duplicate) await recordSynchronousResponse(deps.db, inboxRef, delivered);
          if (answer === undefined && budget < MIN_DECISION_MS) return;
          await deps.bookings.reportSynchronousAnswer(input, delivered).catch((error: unknown) => {
            log.info({ ...eventLog, ...errorFields(error) }, 'could not wake the workflow with the synchronous answer; it reads it from the inbox');
          });
        })
        .catch((error: unknown) => {
          log.error({ ...eventLog, ...errorFields(error) }, 'could not record whether the synchronous answer went out');
        });
      log.info({ ...eventLog, answer: body.status, ms: Date.now() - arrived }, 'booking request answered in the webhook response');
      res.status(200).json(adapter.bookingAnswer?.(body.status === 'RESERVED' ? { status: 'confirmed' } : { status: 'rejected', reason: body.reason, message: body.message }) ?? body);
      return;
    }

    // Answered as soon as the event is durably in the inbox: no request waits on Temporal. The hand-over follows at
    // once, off the request; should it fail (Temporal unreachable, this process gone), the inbox dispatcher of any
    // API process hands the event over. A copy of an event already in the inbox needs no hand-over of its own.
    if (!duplicate) handOver();
    log.info(eventLog, 'webhook received');
    // A copy of a request already decided hears the decision again, with the same status and reason.
    const known = duplicate && event.type === 'booking_requested' ? await readBookingRequest(deps.db, { connectionId: connection.id, bookingNumber: event.bookingNumber }) : undefined;
    const decision =
      known === undefined || known.decision === 'awaiting_approval' || (known.answer === 'pending' && known.decision === 'reserve')
        ? undefined
        : known.decision === 'reserve'
          ? { status: 'RESERVED' as const }
          : { status: 'REJECTED' as const, reason: known.reason, message: known.message };
    res.status(200).json({ received: true, duplicate, ...(decision ? { decision } : {}) });
  });
  return router;
}
