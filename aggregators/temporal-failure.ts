import { ApplicationFailure } from '@temporalio/common';
import { AggregatorHttpError } from './http.js';

/**
 * Turns an adapter error into what Temporal should do with it: fail for good (the aggregator refused the request),
 * or retry, after the aggregator's Retry-After when it gave one. Activities call this in their catch.
 */
export function toTemporalFailure(error: unknown): unknown {
  if (!(error instanceof AggregatorHttpError)) return error;
  const details = [{ aggregator: error.aggregator, operation: error.operation, status: error.status ?? null, message: error.aggregatorMessage }];
  if (!error.retryable) {
    return ApplicationFailure.create({ type: 'AggregatorRejected', message: error.message, nonRetryable: true, details });
  }
  return ApplicationFailure.create({
    type: 'AggregatorUnavailable',
    message: error.message,
    nonRetryable: false,
    details,
    ...(error.retryAfterMs !== undefined ? { nextRetryDelay: error.retryAfterMs } : {}),
  });
}
