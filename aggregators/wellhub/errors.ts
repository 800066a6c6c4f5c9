import { AggregatorHttpError } from '../http.js';
import type { FieldIssue } from './schema-common.js';

/**
 * A request our client refused to send because it breaks Wellhub's documented validations (or the connection lacks
 * a setting it needs). It is an AggregatorHttpError with no status and retryable=false so activities fail it for
 * good, exactly as Wellhub's own 400 would: retrying the same data cannot succeed, and not sending spares a call.
 */
export class WellhubRequestInvalidError extends AggregatorHttpError {
  constructor(
    operation: string,
    readonly issues: FieldIssue[],
  ) {
    super('wellhub', operation, undefined, false, `request refused before sending: ${formatIssues(issues)}`);
    this.name = 'WellhubRequestInvalidError';
  }
}

export function formatIssues(issues: FieldIssue[]): string {
  return issues.map((issue) => `${issue.field}: ${issue.message}`).join('; ');
}
