import type { WellhubWebhookPayload } from '../schemas.js';
import { signWellhubBody } from '../webhook.js';

export interface DeliveryAttempt {
  attempt: number;
  startedAt: string;
  /** The receiver's status; undefined while waiting or when no answer came (see error). */
  status?: number | undefined;
  error?: string | undefined;
  durationMs?: number | undefined;
}

/** One webhook event as the sandbox sent it; live while attempts are under way. */
export interface DeliveryReport {
  eventId: string;
  eventType: string;
  bookingNumber: string;
  url: string;
  /** A 2xx came back from some attempt. */
  acknowledged: boolean;
  attempts: DeliveryAttempt[];
}

export interface DeliveryPolicy {
  /** How long Wellhub waits for a 2xx before resending (1 s). */
  answerTimeoutMs: number;
  /** How many copies it resends, all at once (3). */
  retries: number;
  /** When an attempt is abandoned for good, so every report completes. */
  attemptTimeoutMs: number;
  fetchImpl: typeof fetch;
}

/**
 * Sends one event the way Wellhub does: signed (X-Gympass-Signature, upper-case hex HMAC-SHA1 of the raw body), and
 * when no 2xx has come back after answerTimeoutMs (or an attempt already failed), `retries` identical copies at
 * once, while the first request is still left open. The receiver thus sees the same event up to four times,
 * concurrently, which is what its idempotency has to survive.
 */
export async function deliverWebhook(
  url: string,
  payload: WellhubWebhookPayload,
  secret: string,
  policy: DeliveryPolicy,
  report: DeliveryReport,
): Promise<DeliveryReport> {
  const raw = JSON.stringify(payload);
  const headers = {
    'content-type': 'application/json',
    'x-gympass-signature': signWellhubBody(raw, secret),
    'user-agent': 'wellhub-sandbox',
  };

  const attempt = async (n: number): Promise<boolean> => {
    const started = Date.now();
    const entry: DeliveryAttempt = { attempt: n, startedAt: new Date(started).toISOString() };
    report.attempts.push(entry);
    try {
      const response = await policy.fetchImpl(url, { method: 'POST', headers, body: raw, signal: AbortSignal.timeout(policy.attemptTimeoutMs) });
      await response.arrayBuffer().catch(() => undefined);
      entry.status = response.status;
      return response.ok;
    } catch (error) {
      entry.error = error instanceof Error ? (error.cause instanceof Error ? error.cause.message : error.message) : String(error);
      return false;
    } finally {
      entry.durationMs = Date.now() - started;
    }
  };

  const first = attempt(1);
  let timer: NodeJS.Timeout | undefined;
  const patience = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), policy.answerTimeoutMs);
    timer.unref();
  });
  const answeredInTime = await Promise.race([first, patience]);
  clearTimeout(timer);
  if (answeredInTime) {
    report.acknowledged = true;
    return report;
  }
  const copies = await Promise.all(Array.from({ length: policy.retries }, (_, i) => attempt(i + 2)));
  const firstAnswer = await first;
  report.acknowledged = firstAnswer || copies.some(Boolean);
  return report;
}
