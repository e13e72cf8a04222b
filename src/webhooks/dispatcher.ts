// Takes due deliveries from the store and gets them delivered. Leases rows in batches, runs attempts
// concurrently under a global cap and a per-origin cap, and keeps a slow or dead receiver from holding
// more than its own share: beyond its cap a few deliveries wait locally ("parked") and the rest go back
// to the store for a moment, and an origin whose circuit breaker is open gets nothing until it half-opens.
// wake() claims at once (called right after a search completes); otherwise it sleeps exactly until the
// store's next due time, bounded by a maximum poll interval (for rows written by other processes).
import { hostname } from 'node:os';
import { randomUUID } from 'node:crypto';
import type { Agent } from 'undici';
import { parseCidrList, type CidrList } from '../net/address-policy.js';
import { CircuitBreakers, type BreakerOptions, type BreakerState } from './breaker.js';
import { DEFAULT_RETRY_POLICY, nextState, parseRetrySchedule, type RetryPolicy } from './schedule.js';
import { sendWebhook, type SendResult } from './send.js';
import { webhookHeaders } from './sign.js';
import { checkWebhookUrl, createGuardedAgent } from './ssrf.js';
import type { AttemptRecord, Delivery, DeliveryStore, NextState } from './types.js';

export interface DispatcherOptions {
  store: DeliveryStore;
  /** lease owner name; unique per process */
  owner?: string;
  /** OPENROW_WEBHOOK_ALLOW_CIDRS: ranges reachable despite the address policy (tests, local development) */
  allowCidrs?: CidrList | string | string[];
  /** OPENROW_DNS_SERVERS; default: the system resolver */
  dnsServers?: string[];
  /** extra trusted CA certificates (PEM) for receivers, added to Node's roots */
  ca?: string | string[];
  /** default 5 s */
  connectTimeoutMs?: number;
  /** whole attempt, default 15 s */
  timeoutMs?: number;
  /** attempts in flight across all origins, default 64 */
  concurrency?: number;
  /** attempts in flight per origin (scheme://host:port), default 8 */
  perOriginConcurrency?: number;
  /** rows claimed per store call, default 64 */
  batchSize?: number;
  /** default max(60 s, 4 × timeoutMs): always longer than an attempt plus a parked wait */
  leaseMs?: number;
  /** longest sleep between store checks when nothing is known to be due, default 1 s */
  maxPollIntervalMs?: number;
  /** longest a delivery to a busy (but progressing) origin waits in the store before being claimed again, default 1 s */
  saturatedDeferMs?: number;
  /** retry schedule (array of ms, or OPENROW_WEBHOOK_RETRY_SCHEDULE syntax) and its modifiers */
  retry?: Partial<Omit<RetryPolicy, 'scheduleMs'>> & { schedule?: readonly number[] | string };
  breaker?: Partial<BreakerOptions>;
  /** for jitter; default Math.random */
  random?: () => number;
  /** called after every recorded attempt (logging, metrics) */
  onAttempt?: (delivery: Delivery, attempt: AttemptRecord, next: NextState) => void;
  /** store or internal errors; the affected lease simply expires and the delivery is claimed again */
  onError?: (err: unknown, context: string) => void;
  /** use this Agent instead of building a guarded one (it must enforce the address policy itself) */
  agent?: Agent;
}

export interface DispatcherStats {
  running: boolean;
  inFlight: number;
  parked: number;
  claimed: number;
  attempts: number;
  succeeded: number;
  retriesScheduled: number;
  failed: number;
  /** claimed deliveries handed back without an attempt (breaker open, origin saturated, shutdown) */
  released: number;
  /** attempts whose result could not be recorded because the lease had been taken over */
  leaseLost: number;
  errors: number;
  breakers: Record<string, BreakerState>;
}

export interface Dispatcher {
  start(): void;
  /** Look for due work now (a delivery was just written). */
  wake(): void;
  /** Stops claiming, hands parked deliveries back, waits up to graceMs (default: timeoutMs) for attempts in flight, then aborts the rest (their leases expire and they are retried). */
  stop(graceMs?: number): Promise<void>;
  stats(): DispatcherStats;
}

interface Claimed {
  delivery: Delivery;
  url: URL;
  origin: string;
  leaseUntil: number;
}

export function createDispatcher(opts: DispatcherOptions): Dispatcher {
  const store = opts.store;
  const owner = opts.owner ?? `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
  const allow: CidrList =
    opts.allowCidrs === undefined ? [] : typeof opts.allowCidrs === 'string' || isStringArray(opts.allowCidrs) ? parseCidrList(opts.allowCidrs) : opts.allowCidrs;
  const connectTimeoutMs = opts.connectTimeoutMs ?? 5000;
  const timeoutMs = opts.timeoutMs ?? 15_000;
  const concurrency = opts.concurrency ?? 64;
  const perOrigin = Math.min(opts.perOriginConcurrency ?? 8, concurrency);
  const batchSize = opts.batchSize ?? 64;
  const leaseMs = opts.leaseMs ?? Math.max(60_000, 4 * timeoutMs);
  const maxPollMs = opts.maxPollIntervalMs ?? 1000;
  const saturatedDeferMs = opts.saturatedDeferMs ?? 1000;
  const random = opts.random ?? Math.random;
  const schedule = opts.retry?.schedule;
  const policy: RetryPolicy = {
    ...DEFAULT_RETRY_POLICY,
    ...stripUndefined({
      jitter: opts.retry?.jitter,
      minDelayAfterThrottleMs: opts.retry?.minDelayAfterThrottleMs,
      retryAfterCapMs: opts.retry?.retryAfterCapMs,
    }),
    scheduleMs: schedule === undefined ? DEFAULT_RETRY_POLICY.scheduleMs : typeof schedule === 'string' ? parseRetrySchedule(schedule) : schedule,
  };
  const ownAgent = !opts.agent;
  const agent =
    opts.agent ??
    createGuardedAgent({ allow, dnsServers: opts.dnsServers, ca: opts.ca, connectTimeoutMs, connectionsPerOrigin: perOrigin });
  const breakers = new CircuitBreakers(opts.breaker);
  const onError = (err: unknown, context: string) => {
    counters.errors++;
    opts.onError?.(err, context);
  };

  const counters = { claimed: 0, attempts: 0, succeeded: 0, retriesScheduled: 0, failed: 0, released: 0, leaseLost: 0, errors: 0 };
  const inFlight = new Map<string, { done: Promise<void>; abort: AbortController }>();
  const originInFlight = new Map<string, number>();
  /** when each busy origin last finished an attempt (or became busy): how long a slot there may take */
  const originProgressAt = new Map<string, number>();
  /** moving average of attempt durations per origin: how soon a slot there frees up */
  const originAvgMs = new Map<string, number>();
  const parked = new Map<string, Claimed[]>();
  let parkedCount = 0;
  // Claims come in due order, whatever the origin; when one busy origin dominates the backlog, most of
  // a big claim could only go straight back. The budget shrinks to what the last claim could use and
  // doubles back after a claim that fit entirely (AIMD), so claim/release churn stays small.
  let claimBudget = batchSize;
  let releasedThisRound = 0;
  let running = false;
  let stopping = false;
  let pumping = false;
  let pumpAgain = false;
  let pumpScheduled = false;
  let timer: NodeJS.Timeout | null = null;

  function schedulePump() {
    if (pumpScheduled || !running) return;
    pumpScheduled = true;
    // coalesces the completions of one tick into a single claim
    setImmediate(() => {
      pumpScheduled = false;
      void pump();
    });
  }

  async function pump(): Promise<void> {
    if (!running) return;
    if (pumping) {
      pumpAgain = true;
      return;
    }
    pumping = true;
    let failed = false;
    try {
      do {
        pumpAgain = false;
        // parked deliveries count, so claims stay bounded; a stuck origin parks nothing (see route)
        const free = concurrency - inFlight.size - parkedCount;
        if (free <= 0) break; // a finishing attempt pumps again
        const limit = Math.min(free, claimBudget);
        const now = Date.now();
        const rows = await store.claimDue(now, limit, owner, leaseMs);
        counters.claimed += rows.length;
        releasedThisRound = 0;
        for (const d of rows) route(d, now);
        if (releasedThisRound) {
          claimBudget = Math.max(1, rows.length - releasedThisRound);
        } else {
          if (rows.length === limit) claimBudget = Math.min(batchSize, claimBudget * 2);
          // a full claim that all fitted: there is probably more due right now
          if (rows.length === limit) pumpAgain = true;
        }
      } while (pumpAgain && running);
    } catch (err) {
      failed = true;
      onError(err, 'claim');
    } finally {
      pumping = false;
    }
    await scheduleSleep(failed);
  }

  async function scheduleSleep(afterError: boolean) {
    if (!running) return;
    let wait = maxPollMs;
    if (!afterError) {
      try {
        const next = await store.nextDueAt();
        if (next !== null) wait = Math.min(maxPollMs, Math.max(5, next - Date.now()));
      } catch (err) {
        onError(err, 'nextDueAt');
      }
    }
    if (!running || pumping) return;
    if (timer) clearTimeout(timer);
    timer = setTimeout(() => {
      timer = null;
      void pump();
    }, wait);
    timer.unref();
  }

  function route(d: Delivery, now: number) {
    const verdict = checkWebhookUrl(d.url, allow);
    if (!verdict.ok) {
      // the URL itself can never be delivered to: record why and stop, no network involved
      void recordFinal(d, verdict.reason);
      return;
    }
    const url = verdict.url;
    const item: Claimed = { delivery: d, url, origin: url.origin, leaseUntil: now + leaseMs };
    const b = breakers.check(item.origin, now, false);
    if (!b.allowed) {
      release(item, b.retryAt);
    } else if ((originInFlight.get(item.origin) ?? 0) < perOrigin) {
      tryStart(item);
    } else {
      const queue = parked.get(item.origin) ?? [];
      const stuckFor = now - (originProgressAt.get(item.origin) ?? now);
      if (stuckFor > saturatedDeferMs) {
        // no attempt there has finished for a while (hanging receiver): it will not free a slot soon
        // either, so nothing waits here for it; back to the store for about as long as it has been stuck
        releasedThisRound++;
        release(item, now + Math.round(Math.min(timeoutMs, stuckFor) * (1 + random() * 0.5)));
      } else if (queue.length < perOrigin && parkedCount < concurrency / 2) {
        queue.push(item);
        parked.set(item.origin, queue);
        parkedCount++;
      } else {
        // busy but progressing: come back about when a slot should be free again
        releasedThisRound++;
        const avg = originAvgMs.get(item.origin) ?? 50;
        const defer = Math.min(saturatedDeferMs, Math.max(5, 2 * avg));
        release(item, now + Math.round(defer * (1 + random() * 0.5)));
      }
    }
  }

  function release(item: Claimed, at: number) {
    counters.released++;
    store.release(item.delivery.id, owner, at).catch((err) => onError(err, 'release'));
  }

  function tryStart(item: Claimed) {
    const now = Date.now();
    // a parked delivery must still have time for a whole attempt inside its lease
    if (item.leaseUntil - now < timeoutMs + 2000) {
      release(item, now);
      return;
    }
    const b = breakers.check(item.origin, now);
    if (!b.allowed) {
      release(item, b.retryAt);
      return;
    }
    const abort = new AbortController();
    const startedAt = now;
    const busy = originInFlight.get(item.origin) ?? 0;
    if (!busy) originProgressAt.set(item.origin, now);
    originInFlight.set(item.origin, busy + 1);
    const done = attempt(item, abort.signal, b.probe)
      .catch((err) => {
        if (b.probe) breakers.cancelProbe(item.origin);
        onError(err, 'attempt');
      })
      .finally(() => {
        inFlight.delete(item.delivery.id);
        const left = (originInFlight.get(item.origin) ?? 1) - 1;
        const end = Date.now();
        originProgressAt.set(item.origin, end);
        const avg = originAvgMs.get(item.origin);
        originAvgMs.set(item.origin, avg === undefined ? end - startedAt : 0.8 * avg + 0.2 * (end - startedAt));
        if (left) originInFlight.set(item.origin, left);
        else {
          originInFlight.delete(item.origin);
          originProgressAt.delete(item.origin);
        }
        startParked(item.origin);
        schedulePump();
      });
    inFlight.set(item.delivery.id, { done, abort });
  }

  function startParked(origin: string) {
    const queue = parked.get(origin);
    if (!queue) return;
    while (queue.length && (originInFlight.get(origin) ?? 0) < perOrigin && running) {
      parkedCount--;
      tryStart(queue.shift()!);
    }
    if (!queue.length) parked.delete(origin);
  }

  async function attempt(item: Claimed, signal: AbortSignal, probe: boolean): Promise<void> {
    const d = item.delivery;
    const secrets = await store.signingSecrets(d.accountId, Date.now());
    const send = () =>
      sendWebhook(agent, {
        url: item.url,
        body: d.payload,
        headers: webhookHeaders(secrets, d.id, Math.floor(Date.now() / 1000), d.payload),
        timeoutMs,
        signal,
      });
    let r: SendResult = await send();
    // a refusal that fast is often a receiver restarting: one immediate second chance
    if (r.errorKind === 'refused' && r.durationMs < 1000 && !signal.aborted) {
      const first = r;
      r = await send();
      r = { ...r, startedAt: first.startedAt, durationMs: first.durationMs + r.durationMs };
      if (r.error) r.error = `${r.error} (second try right after a refused connection)`;
    }
    if (signal.aborted && stopping) {
      if (probe) breakers.cancelProbe(item.origin);
      counters.released++;
      await store.release(d.id, owner, Date.now());
      return;
    }
    const now = Date.now();
    const attemptNo = d.attempts + 1;
    const next = nextState({ attemptNo, statusCode: r.statusCode, errorKind: r.errorKind, retryAfter: r.headers?.['retry-after'] }, policy, now, random);
    breakers.record(item.origin, next.status === 'succeeded', now);
    const record: AttemptRecord = {
      attemptNo,
      startedAt: r.startedAt,
      durationMs: r.durationMs,
      statusCode: r.statusCode,
      responseHeaders: r.headers,
      responseBody: r.body,
      error: r.error,
      errorKind: r.errorKind,
    };
    await finish(d, record, next, now);
  }

  async function recordFinal(d: Delivery, reason: string) {
    const now = Date.now();
    const record: AttemptRecord = {
      attemptNo: d.attempts + 1, startedAt: now, durationMs: 0, statusCode: null,
      responseHeaders: null, responseBody: null, error: reason, errorKind: 'invalid_url',
    };
    const next: NextState = { status: 'failed', gone: false, reason: `webhook URL rejected: ${reason}` };
    try {
      await finish(d, record, next, now);
    } catch (err) {
      onError(err, 'finish');
    }
  }

  async function finish(d: Delivery, record: AttemptRecord, next: NextState, now: number) {
    counters.attempts++;
    const kept = await store.finishAttempt(d.id, owner, record, next);
    if (!kept) {
      counters.leaseLost++;
      return;
    }
    if (next.status === 'succeeded') counters.succeeded++;
    else if (next.status === 'failed') counters.failed++;
    else counters.retriesScheduled++;
    opts.onAttempt?.(d, record, next);
    if (store.urlOutcome) {
      await store.urlOutcome(d.accountId, d.url, next.status === 'succeeded', next.status === 'failed' && next.gone, now);
    }
  }

  return {
    start() {
      if (running || stopping) return;
      running = true;
      void pump();
    },
    wake() {
      if (!running) return;
      if (timer) {
        clearTimeout(timer);
        timer = null;
      }
      void pump();
    },
    async stop(graceMs = timeoutMs) {
      if (!running && !stopping) {
        if (ownAgent) await agent.destroy().catch(() => {});
        return;
      }
      running = false;
      stopping = true;
      if (timer) clearTimeout(timer);
      timer = null;
      const now = Date.now();
      for (const queue of parked.values()) for (const item of queue) release(item, now);
      parked.clear();
      parkedCount = 0;
      while (pumping) await new Promise((r) => setImmediate(r));
      const all = () => Promise.allSettled([...inFlight.values()].map((f) => f.done));
      let graceTimer: NodeJS.Timeout | undefined;
      const grace = new Promise<void>((r) => (graceTimer = setTimeout(r, graceMs)));
      await Promise.race([all(), grace]);
      clearTimeout(graceTimer);
      for (const f of inFlight.values()) f.abort.abort();
      await all();
      if (ownAgent) await agent.destroy().catch(() => {});
      stopping = false;
    },
    stats() {
      return {
        running,
        inFlight: inFlight.size,
        parked: parkedCount,
        ...counters,
        breakers: breakers.snapshot(Date.now()),
      };
    },
  };
}

function isStringArray(v: unknown): v is string[] {
  return Array.isArray(v) && v.every((x) => typeof x === 'string');
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
