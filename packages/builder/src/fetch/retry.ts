import { setTimeout as sleep } from 'node:timers/promises';
import { TransientError } from './http.js';

export interface RetryPolicy {
  /** Further attempts after the first. */
  retries: number;
  /** Wait before the first retry; doubles for each one after. */
  baseDelayMs: number;
  onRetry?: (error: TransientError, retry: number) => void;
}

/** Runs `attempt` until it succeeds, fails with anything but a TransientError, or runs out of retries. */
export async function withRetries<T>(attempt: () => Promise<T>, policy: RetryPolicy): Promise<T> {
  for (let retry = 1; ; retry++) {
    try {
      return await attempt();
    } catch (error) {
      if (!(error instanceof TransientError) || retry > policy.retries) throw error;
      policy.onRetry?.(error, retry);
      await sleep(policy.baseDelayMs * 2 ** (retry - 1));
    }
  }
}
