// When a temporary answer (greylisting, 4xx, unreachable server) reschedules an item, and when the
// item stops being retried and becomes final. The worker never sleeps: the queue waits for us.
export interface RetryPolicy {
  backoffMs: number[];
  windowMs: number;
}

export type RetryDecision = { retry: true; delayMs: number } | { retry: false };

const MIN_DELAY_MS = 1000;

export function decideRetry(
  policy: RetryPolicy,
  attempt: number,
  firstAttemptAt: number,
  serverDelayMs: number | undefined,
  now = Date.now(),
): RetryDecision {
  const deadline = firstAttemptAt + policy.windowMs;
  if (now >= deadline) return { retry: false };
  const backoff = policy.backoffMs[Math.min(Math.max(attempt, 1) - 1, policy.backoffMs.length - 1)] ?? 60_000;
  // The server's own "try again in N seconds" wins over our schedule; never past the window's end,
  // where one last attempt still fits.
  const wanted = serverDelayMs ?? backoff;
  return { retry: true, delayMs: Math.max(MIN_DELAY_MS, Math.min(wanted, deadline - now)) };
}
