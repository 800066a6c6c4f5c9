import type { Aggregator } from '../../domain/model.js';
import type { RejectReason } from '../../domain/reasons.js';
import type { AdapterCapabilities } from '../types.js';
import { DEFAULT_REASON_CODES, type PartnerReasonCode } from './reasons.js';

/**
 * What differs between the aggregators on the generic partner contract. Everything in a profile except the facts
 * marked in CONTRACT.md as known is our assumption until certified with that aggregator.
 */
export interface PartnerProfile {
  aggregator: Exclude<Aggregator, 'wellhub'>;
  /** For messages to people, e.g. "EGYM Wellpass". */
  displayName: string;
  defaultBaseUrl: string;
  capabilities: AdapterCapabilities;
  /** Our reject categories on the codes this aggregator understands. */
  reasonCodes: Readonly<Record<RejectReason, PartnerReasonCode>>;
  webhooks: {
    /** How long the aggregator waits for our answer to a webhook. */
    timeoutMs: number;
    /** Delays before each redelivery of an event we did not acknowledge; empty = never redelivered. */
    retryDelaysMs: readonly number[];
  };
}

/** The redelivery schedule we assume for aggregators that redeliver (to be certified). */
export const STANDARD_RETRY_DELAYS_MS: readonly number[] = [1_000, 5_000, 30_000];
export const STANDARD_WEBHOOK_TIMEOUT_MS = 10_000;
/** Wellhub's published deadline, assumed for the asynchronous aggregators that publish none. */
export const STANDARD_BOOKING_DEADLINE_MS = 15 * 60_000;

/**
 * A profile with the assumptions shared by the asynchronous aggregators (answer by a later call, 15-minute deadline,
 * redelivery on the standard schedule); `capabilities` overrides what is known to differ.
 */
export function asyncPartnerProfile(
  base: Pick<PartnerProfile, 'aggregator' | 'displayName' | 'defaultBaseUrl'> & { capabilities?: Partial<AdapterCapabilities> },
): PartnerProfile {
  return {
    aggregator: base.aggregator,
    displayName: base.displayName,
    defaultBaseUrl: base.defaultBaseUrl,
    capabilities: {
      cancelsWholeSessions: false,
      answersBookingsSynchronously: false,
      bookingDeadlineMs: STANDARD_BOOKING_DEADLINE_MS,
      ...base.capabilities,
    },
    reasonCodes: DEFAULT_REASON_CODES,
    webhooks: { timeoutMs: STANDARD_WEBHOOK_TIMEOUT_MS, retryDelaysMs: STANDARD_RETRY_DELAYS_MS },
  };
}
