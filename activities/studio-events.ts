import { parseRetryAfter, shownAggregatorMessage } from '../aggregators/http.js';
import { outboundGuard } from '../aggregators/outbound-guard.js';
import type { Db } from '../db/index.js';
import { cancelDispatch, dispatchForDelivery, nextPendingDispatch, recordAttempt, type AttemptRecord } from '../db/studio-events.js';
import { activeSecrets, parseEndpointSecrets, webhookHeaders } from '../lib/standard-webhooks.js';
import type { DeliveryAttemptResult, StudioEventActivities } from '../workflows/studio-events/contract.js';
import type { ActivitiesDeps } from './deps.js';

/** One attempt's budget: a receiver that has not answered by then is tried again later. */
export const DELIVERY_TIMEOUT_MS = 10_000;

/** What the delivery log keeps of an error: the status and at most 200 cleaned characters (never the whole body). */
function summary(statusCode: number | null, text: string): string {
  const shown = text === '' ? '' : shownAggregatorMessage(text);
  const line = statusCode === null ? shown : shown === '' ? `HTTP ${statusCode}` : `HTTP ${statusCode}: ${shown}`;
  return line.length <= 200 ? line : `${line.slice(0, 199)}…`;
}

function failureText(error: unknown): string {
  if (error instanceof Error) {
    if (error.name === 'TimeoutError' || error.name === 'AbortError') return `no answer within ${DELIVERY_TIMEOUT_MS / 1000} s`;
    const code = (error as NodeJS.ErrnoException).code;
    return code !== undefined ? `${code}: ${error.message}` : error.message;
  }
  return String(error);
}

/** A line of the delivery log for this dispatch's event at its endpoint. */
async function logAttempt(
  db: Db,
  dispatch: { id: number; endpoint_id: string; event_id: string; type: string },
  attempt: Pick<AttemptRecord, 'attempt' | 'outcome' | 'statusCode' | 'error' | 'durationMs'>,
): Promise<void> {
  await recordAttempt(db, { dispatchId: dispatch.id, endpointId: dispatch.endpoint_id, eventId: dispatch.event_id, eventType: dispatch.type, ...attempt });
}

/** The delivery of events to the studio backend: one signed POST per attempt, through the outbound guard. */
export function createStudioEventActivities(deps: ActivitiesDeps): StudioEventActivities {
  const { db, secretBox } = deps;
  return {
    async nextEventDispatch({ endpointId, orderingKey }) {
      return (await nextPendingDispatch(db, endpointId, orderingKey)) ?? null;
    },

    async deliverEvent({ dispatchId, attempt }): Promise<DeliveryAttemptResult> {
      const dispatch = await dispatchForDelivery(db, dispatchId);
      // Gone (its endpoint deleted) or finished (this step ran before): nothing to send.
      if (!dispatch || dispatch.status !== 'pending') return { outcome: 'skipped' };
      if (!dispatch.enabled) {
        await cancelDispatch(db, dispatchId);
        return { outcome: 'skipped' };
      }
      const secrets = activeSecrets(parseEndpointSecrets(secretBox.openJson(dispatch.secrets_sealed)), new Date());
      const body = JSON.stringify(dispatch.payload);
      // The attempt's own time (the receiver's replay window), on the real clock whatever the workflow's says.
      const timestamp = Math.floor(Date.now() / 1000);
      const started = performance.now();
      let statusCode: number | null = null;
      let error: string;
      let retryAfterMs: number | null = null;
      try {
        const response = await outboundGuard().fetch(dispatch.url, {
          method: 'POST',
          headers: {
            'content-type': 'application/json',
            'user-agent': 'aggregator-bookings-events/1',
            ...webhookHeaders({ id: dispatch.event_id, timestamp, body, secrets }),
          },
          body,
          signal: AbortSignal.timeout(DELIVERY_TIMEOUT_MS),
          // Only a 200-character summary of the answer is kept: the rest is not read.
          maxResponseBytes: 4_096,
        });
        statusCode = response.status;
        if (statusCode >= 200 && statusCode < 300) {
          await logAttempt(db, dispatch, { attempt, outcome: 'delivered', statusCode, error: null, durationMs: Math.round(performance.now() - started) });
          return { outcome: 'delivered', statusCode };
        }
        error = summary(statusCode, await response.text().catch(() => ''));
        retryAfterMs = parseRetryAfter(response.headers.get('retry-after')) ?? null;
      } catch (caught) {
        error = summary(null, failureText(caught));
      }
      await logAttempt(db, dispatch, { attempt, outcome: 'failed', statusCode, error, durationMs: Math.round(performance.now() - started) });
      return { outcome: 'failed', statusCode, error, retryAfterMs };
    },

    async giveUpEvent({ dispatchId, attempts, lastError }) {
      const dispatch = await dispatchForDelivery(db, dispatchId);
      if (!dispatch || dispatch.status !== 'pending') return;
      await logAttempt(db, dispatch, {
        attempt: attempts,
        outcome: 'gave_up',
        statusCode: null,
        error: summary(null, `gave up after ${attempts} attempts over 3 days${lastError ? `; last: ${lastError}` : ''}`),
        durationMs: null,
      });
    },
  };
}
