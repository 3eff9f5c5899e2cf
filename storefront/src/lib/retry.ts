/** Sending a write again on the shopper's behalf while the shop answers "busy". */

import { ApiError } from "./problem";

/** The longest Retry-After the page waits out on its own; a longer one is shown. */
export const MAX_WAIT_SECONDS = 10;
/** How many times the page sends the same request again before it shows the refusal. */
export const MAX_RETRIES = 3;

/**
 * Seconds to wait before sending the same request again, or null to show the error. Only
 * a 503 or 429 with a short Retry-After: the shop decided nothing (a placement's turn in
 * the queue did not come, `busy`), so the same request with the same Idempotency-Key is
 * what it asks for. A lost answer (a 502, 504 or network error) is left to the shopper:
 * the order may exist, and the retry they choose answers it.
 */
export function busyRetryDelay(error: unknown): number | null {
  if (!(error instanceof ApiError) || (error.status !== 503 && error.status !== 429)) return null;
  const seconds = Number(error.retryAfter);
  if (error.retryAfter === null || !Number.isFinite(seconds) || seconds < 0) return null;
  return seconds <= MAX_WAIT_SECONDS ? seconds : null;
}

const pause = (seconds: number) => new Promise<void>((done) => setTimeout(done, seconds * 1000));

/** `send()`, sent again after each short Retry-After of a busy answer (at most MAX_RETRIES). */
export async function retryWhileBusy<T>(
  send: () => Promise<T>,
  sleep: (seconds: number) => Promise<void> = pause,
): Promise<T> {
  for (let retries = 0; ; retries++) {
    try {
      return await send();
    } catch (error) {
      const delay = busyRetryDelay(error);
      if (delay === null || retries >= MAX_RETRIES) throw error;
      await sleep(delay);
    }
  }
}
