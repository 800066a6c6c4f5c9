import { ActivityFailure, ApplicationFailure } from '@temporalio/workflow';

/** What failed, in words: the cause an activity failure carries, else the error itself. */
export function failureMessage(error: unknown): string {
  const cause = error instanceof ActivityFailure ? (error.cause ?? error) : error;
  return cause instanceof Error ? cause.message : String(cause);
}

/** The failure an activity failure carries, when it is an application failure (with its type, details, retryability). */
export function applicationCause(error: unknown): ApplicationFailure | undefined {
  const cause = error instanceof ActivityFailure ? error.cause : error;
  return cause instanceof ApplicationFailure ? cause : undefined;
}
