// Retries of transient source failures: `attempts` tries in all (4 by default: 3 retries),
// exponential backoff with full jitter (docs/architecture.md §6). Sleep and randomness are injectable for tests.
import { errorMessage, SourceError } from "../core/errors.ts";

export interface RetryPolicy {
  /** Tries in all, the first included: 1 means no retry. */
  attempts: number;
  /** Backoff factor: retry n waits a random time in [0, factor x 2^(n-1)). */
  backoffMs: number;
  sleep?: (ms: number) => Promise<void>;
  random?: () => number;
  /** Before retry `retry` of `retries` (attempts - 1). */
  onRetry?: (info: { what: string; retry: number; retries: number; delayMs: number; error: unknown }) => void;
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export function isTransient(error: unknown): boolean {
  return error instanceof SourceError && error.transient;
}

export async function withRetries<T>(what: string, attempt: () => Promise<T>, policy: RetryPolicy): Promise<T> {
  for (let retry = 1; ; retry++) {
    try {
      return await attempt();
    } catch (error) {
      if (!isTransient(error) || retry >= policy.attempts) {
        if (retry > 1 && error instanceof SourceError) {
          throw new SourceError(`${errorMessage(error)} (gave up after ${retry} attempts)`, error.transient, error.retryAfterMs);
        }
        throw error;
      }
      const jittered = (policy.random ?? Math.random)() * policy.backoffMs * 2 ** (retry - 1);
      const delayMs = Math.max(jittered, (error as SourceError).retryAfterMs ?? 0);
      policy.onRetry?.({ what, retry, retries: policy.attempts - 1, delayMs, error });
      await (policy.sleep ?? sleep)(delayMs);
    }
  }
}
