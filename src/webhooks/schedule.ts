// When to try a delivery again. The Standard Webhooks schedule with jitter, bent by what the receiver
// tells us: Retry-After (never earlier than the schedule, capped), a longer pause after timeouts and 429s,
// and 410 Gone as a request to stop.
import type { AttemptErrorKind, NextState } from './types.js';

const S = 1000;
const M = 60 * S;
const H = 60 * M;

/** Delay before attempt n+1 (index n): immediately, 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 14 h, 20 h, 24 h. */
export const STANDARD_SCHEDULE_MS: readonly number[] = [0, 5 * S, 5 * M, 30 * M, 2 * H, 5 * H, 10 * H, 14 * H, 20 * H, 24 * H];

const UNITS: Record<string, number> = { ms: 1, s: S, m: M, h: H, d: 24 * H };

/** Parses `OPENROW_WEBHOOK_RETRY_SCHEDULE`, e.g. `0s,1s,2s`, `5m`, `500ms,2h`. */
export function parseRetrySchedule(spec: string): number[] {
  const parts = spec.split(',').map((s) => s.trim());
  if (!parts.length || parts.some((p) => p === '')) throw new Error(`invalid retry schedule "${spec}": expected e.g. 0s,5s,5m,2h`);
  return parts.map((p) => {
    const m = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)$/.exec(p);
    if (!m) throw new Error(`invalid retry schedule entry "${p}" in "${spec}": expected a number with ms, s, m, h or d`);
    return Math.round(Number(m[1]) * UNITS[m[2]!]!);
  });
}

// RFC 9110 5.6.7: IMF-fixdate, and the obsolete RFC 850 and asctime forms a recipient must still read.
// Matched exactly first: V8's Date.parse reads "1.5", "-5" or "3, 3" as dates in 2001 (so: retry now).
const HTTP_DATE = [
  /(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{2} (?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} \d{2}:\d{2}:\d{2} GMT/g,
  /(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday), \d{2}-(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)-\d{2} \d{2}:\d{2}:\d{2} GMT/g,
  /(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun) (?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) [ \d]\d \d{2}:\d{2}:\d{2} \d{4}/g,
];

/**
 * Seconds or an HTTP date; undefined when absent or unreadable. A header sent twice arrives joined
 * ("120, 120", or seconds and a date): the longest wait it names is kept, since retrying earlier than
 * asked is the one thing not to do. Fractional seconds are honoured to the millisecond.
 */
export function parseRetryAfter(value: string | undefined, now: number): number | undefined {
  if (!value) return undefined;
  let longest: number | undefined;
  // dates first (they hold commas themselves); what is left is read as comma-separated seconds
  let rest = value;
  for (const form of HTTP_DATE) {
    for (const m of value.matchAll(form)) {
      const at = Date.parse(form === HTTP_DATE[2] ? `${m[0]} GMT` : m[0]);
      if (Number.isFinite(at)) longest = Math.max(longest ?? 0, at - now);
      rest = rest.replace(m[0], ',');
    }
  }
  for (const part of rest.split(',')) {
    const t = part.trim();
    if (/^\d+(?:\.\d+)?$/.test(t)) longest = Math.max(longest ?? 0, Math.ceil(Number(t) * S));
  }
  return longest;
}

export interface RetryPolicy {
  scheduleMs: readonly number[];
  /** ±fraction applied to scheduled delays (0.2 = ±20 %) */
  jitter: number;
  /** minimum wait after a timeout or a 429 */
  minDelayAfterThrottleMs: number;
  /** Retry-After values beyond this are cut down to it */
  retryAfterCapMs: number;
}

export const DEFAULT_RETRY_POLICY: RetryPolicy = {
  scheduleMs: STANDARD_SCHEDULE_MS,
  jitter: 0.2,
  minDelayAfterThrottleMs: 60 * S,
  retryAfterCapMs: 10 * H,
};

export interface AttemptOutcome {
  /** 1-based number of the attempt just made */
  attemptNo: number;
  statusCode: number | null;
  errorKind: AttemptErrorKind | null;
  retryAfter?: string;
}

/**
 * Decides the delivery's next state. `random` is in [0, 1). The schedule's entry n is the delay before
 * attempt n+1, so a schedule of length L allows L attempts in all.
 */
export function nextState(o: AttemptOutcome, policy: RetryPolicy, now: number, random: () => number = Math.random): NextState {
  if (o.statusCode !== null && o.statusCode >= 200 && o.statusCode < 300) return { status: 'succeeded' };
  if (o.statusCode === 410) return { status: 'failed', gone: true, reason: 'receiver answered 410 Gone' };
  if (o.errorKind === 'invalid_url') return { status: 'failed', gone: false, reason: 'invalid webhook URL' };
  const base = policy.scheduleMs[o.attemptNo];
  if (base === undefined) {
    return { status: 'failed', gone: false, reason: `no success after ${o.attemptNo} attempt${o.attemptNo === 1 ? '' : 's'}` };
  }
  let delay = base * (1 + (random() * 2 - 1) * policy.jitter);
  const retryAfter = parseRetryAfter(o.retryAfter, now);
  if (retryAfter !== undefined) delay = Math.max(delay, Math.min(retryAfter, policy.retryAfterCapMs));
  if (o.statusCode === 429 || o.errorKind === 'timeout') delay = Math.max(delay, policy.minDelayAfterThrottleMs);
  return { status: 'pending', nextAttemptAt: now + Math.round(delay) };
}
