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
import { sendWebhook, type CancelToken, type SendResult } from './send.js';
import { deliverySignerId, webhookHeaders } from './sign.js';
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
  /** attempts in flight per account and origin (scheme://host:port), default 8 */
  perOriginConcurrency?: number;
  /** rows claimed per store call, default 64 */
  batchSize?: number;
  /** default max(60 s, 4 × timeoutMs): always longer than an attempt plus a parked wait */
  leaseMs?: number;
  /** longest sleep between store checks when nothing is known to be due, default 1 s */
  maxPollIntervalMs?: number;
  /** longest a delivery to a busy (but progressing) origin waits in the store before being claimed again, default 1 s */
  saturatedDeferMs?: number;
  /** how often a URL that keeps succeeding is reported as such again to store.urlOutcome, default 5 s (another process may have reported a failure meanwhile) */
  urlSuccessReportEveryMs?: number;
  /** how long an account's signing secrets are reused before asking the store again, default 1 s (0: every attempt) */
  secretsCacheMs?: number;
  /** retry schedule (array of ms, or OPENROW_WEBHOOK_RETRY_SCHEDULE syntax) and its modifiers */
  retry?: Partial<Omit<RetryPolicy, 'scheduleMs'>> & { schedule?: readonly number[] | string };
  breaker?: Partial<BreakerOptions>;
  /** for jitter; default Math.random */
  random?: () => number;
  /** called after every recorded attempt (logging, metrics) */
  onAttempt?: (delivery: Delivery, attempt: AttemptRecord, next: NextState) => void;
  /** an account's global URL was just disabled (410, or 5 days of failures): the operator's log line */
  onUrlDisabled?: (accountId: string, url: string, reason: string) => void;
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
  /** keyed by account id and origin, space-separated */
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
  /**
   * The lane the per-origin cap, the breaker and the parking apply to: the account and the URL's origin.
   * Keyed by origin alone, one tenant's failing (or free test-mode) deliveries to a shared receiver host
   * opened the breaker for every other tenant there, and its half-open trials were mostly theirs.
   */
  origin: string;
  leaseUntil: number;
}

const USER_AGENT = 'Openrow-Webhooks/1.0';
/** what must be left of a lease beyond one attempt's timeout for the attempt to start */
const LEASE_MARGIN_MS = 2000;

/** An attempt in flight; also the token stop() cancels it by once its grace period is over. */
class Flight implements CancelToken {
  cancel?: () => void;
  /** stop() gave up on this attempt: if it has not sent its request yet, it never does */
  cancelled = false;
  done: Promise<void> = Promise.resolve();
  /** the HTTP exchange is over (see land) */
  landed = false;
  /** the breaker has this attempt's outcome: a later error must not cancel the next probe's reservation */
  recorded = false;
  constructor(
    readonly item: Claimed,
    /** this attempt is the half-open breaker's probe */
    readonly probe: boolean,
    readonly startedAt: number,
  ) {}
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
  // tryStart needs a whole attempt plus a margin inside the lease; anything shorter would claim and hand
  // back every row forever without sending it, and a parked delivery may wait out one attempt first
  if (!(leaseMs >= 2 * timeoutMs + LEASE_MARGIN_MS)) {
    throw new Error(`leaseMs (${leaseMs}) must be at least 2 × timeoutMs + ${LEASE_MARGIN_MS} ms (${2 * timeoutMs + LEASE_MARGIN_MS})`);
  }
  const maxPollMs = opts.maxPollIntervalMs ?? 1000;
  const saturatedDeferMs = opts.saturatedDeferMs ?? 1000;
  const secretsCacheMs = opts.secretsCacheMs ?? 1000;
  const successReportEveryMs = opts.urlSuccessReportEveryMs ?? 5000;
  // claims wait for a third of the room to be free: each is a transaction on a database, and parked
  // deliveries keep the origins busy meanwhile
  const claimLowWater = Math.max(1, Math.floor(Math.min(batchSize, concurrency) / 3));
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
    createGuardedAgent({
      allow, dnsServers: opts.dnsServers, ca: opts.ca, connectTimeoutMs,
      // as many as attempts may be in flight at all: several accounts may use one origin, each under its
      // own cap, and a smaller limit here would queue one account's requests behind another's hanging ones
      connectionsPerOrigin: concurrency,
    });
  const breakers = new CircuitBreakers(opts.breaker);
  const onError = (err: unknown, context: string) => {
    counters.errors++;
    opts.onError?.(err, context);
  };

  const counters = { claimed: 0, attempts: 0, succeeded: 0, retriesScheduled: 0, failed: 0, released: 0, leaseLost: 0, errors: 0 };
  const inFlight = new Map<string, Flight>();
  /** flights whose HTTP exchange is over and whose result is being written */
  const recording = new Map<string, Flight>();
  const originInFlight = new Map<string, number>();
  /** when each busy origin last finished an attempt (or became busy): how long a slot there may take */
  const originProgressAt = new Map<string, number>();
  /** moving average of attempt durations per origin: how soon a slot there frees up (kept while the process lives; one number per origin) */
  const originAvgMs = new Map<string, number>();
  const parked = new Map<string, Claimed[]>();
  /** ids of the parked deliveries, all origins: their number bounds claims, and a row this dispatcher claims again while it holds it is not started twice */
  const parkedIds = new Set<string>();
  // Claims come in due order, whatever the origin; when one busy origin dominates the backlog, most of
  // a big claim could only go straight back. The budget shrinks to what the last claim could use and
  // doubles back after a claim that fit entirely (AIMD), so claim/release churn stays small.
  let claimBudget = batchSize;
  /** deliveries of busy, progressing origins handed back in the current claim round */
  let releasedThisRound = 0;
  let running = false;
  let stopping = false;
  let stopped = false;
  /** store writes not tied to a flight (releases, rejected URLs) not yet finished; stop() waits for them so the store can be closed after it */
  const pendingWrites = new Set<Promise<void>>();
  let pumping = false;
  let pumpAgain = false;
  let pumpScheduled = false;
  let timer: NodeJS.Timeout | null = null;
  let timerAt = 0;

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
    // true when the store had fewer due rows than we asked for: only then is its next due time news
    let drained = false;
    try {
      releaseParkedOfStuckOrigins(Date.now());
      do {
        pumpAgain = false;
        // parked deliveries count, so claims stay bounded; a stuck origin parks nothing (see route)
        const free = freeSlots();
        // a finishing attempt pumps again; so does a result written while the store is behind
        if (free <= 0 || recording.size >= 2 * concurrency) break;
        // never fewer than the low-water mark: when a hanging receiver holds many slots, slots free up one
        // at a time, and claiming one row per freed slot would make every claim a transaction for a
        // single delivery; the few beyond the cap wait parked (bounded by the parking limits in route)
        const limit = Math.min(Math.max(free, claimLowWater), claimBudget);
        const now = Date.now();
        const rows = await store.claimDue(now, limit, owner, leaseMs);
        counters.claimed += rows.length;
        if (!running) {
          // stop() began while this claim was on its way: nothing new starts, the rows go back at once
          for (const d of rows) releaseId(d.id, Date.now());
          break;
        }
        if (rows.length < limit) drained = true;
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
    await scheduleSleep(failed, drained);
  }

  // Sets the timer for the next look at the store: the next due time when the store was drained,
  // otherwise (we stopped for lack of capacity; finishing attempts pump again) the maximum poll interval.
  // An earlier timer already set is kept.
  async function scheduleSleep(afterError: boolean, drained: boolean) {
    if (!running) return;
    let wakeAt = Date.now() + maxPollMs;
    if (drained && !afterError) {
      try {
        const next = await store.nextDueAt();
        if (next !== null) wakeAt = Math.min(wakeAt, Math.max(Date.now() + 5, next));
      } catch (err) {
        onError(err, 'nextDueAt');
      }
    }
    if (!running || pumping) return;
    if (timer && timerAt <= wakeAt) return;
    if (timer) clearTimeout(timer);
    timerAt = wakeAt;
    timer = setTimeout(() => {
      timer = null;
      void pump();
    }, Math.max(0, wakeAt - Date.now()));
    timer.unref();
  }

  /** the last outcome reported to store.urlOutcome per account and URL, and when */
  const lastUrlOk = new Map<string, { ok: boolean; at: number }>();

  // Secrets are read at most once per secretsCacheMs per signer (an account, or its test mode): at
  // thousands of deliveries per second that saves a query per delivery. A rotation is seen within that
  // time; meanwhile the previous secret, still valid for 24 h, keeps signing.
  const secretsCache = new Map<string, { at: number; secrets: Promise<string[]>; value?: string[] }>();
  function secretsFor(signer: string): Promise<string[]> {
    const now = Date.now();
    const hit = secretsCache.get(signer);
    if (hit && now - hit.at < secretsCacheMs) return hit.secrets;
    const secrets = store.signingSecrets(signer, now);
    if (secretsCacheMs > 0) {
      if (secretsCache.size >= 10_000) secretsCache.clear();
      const entry: { at: number; secrets: Promise<string[]>; value?: string[] } = { at: now, secrets };
      secretsCache.set(signer, entry);
      secrets.then((v) => (entry.value = v), () => secretsCache.delete(signer));
    }
    return secrets;
  }
  /** the cached secrets when already known, so the common case does not wait a turn for them */
  function cachedSecrets(signer: string): string[] | undefined {
    const hit = secretsCache.get(signer);
    return hit?.value && Date.now() - hit.at < secretsCacheMs ? hit.value : undefined;
  }

  // the same few URLs come back again and again; their request-time verdict does not change
  const urlVerdicts = new Map<string, ReturnType<typeof checkWebhookUrl>>();
  function urlVerdict(raw: string) {
    let v = urlVerdicts.get(raw);
    if (!v) {
      v = checkWebhookUrl(raw, allow);
      if (urlVerdicts.size >= 10_000) urlVerdicts.clear();
      urlVerdicts.set(raw, v);
    }
    return v;
  }

  function route(d: Delivery, now: number) {
    // A row whose lease ran out while this dispatcher still holds it (a very slow store read before the
    // send, say) comes back to the same owner: the attempt already under way writes its result (the store
    // fences by owner), a second one would send the same delivery twice at once.
    if (inFlight.has(d.id) || recording.has(d.id) || parkedIds.has(d.id)) return;
    const verdict = urlVerdict(d.url);
    if (!verdict.ok) {
      // the URL itself can never be delivered to: record why and stop, no network involved
      trackWrite(recordFinal(d, verdict.reason));
      return;
    }
    const url = verdict.url;
    const item: Claimed = { delivery: d, url, origin: `${d.accountId} ${url.origin}`, leaseUntil: now + leaseMs };
    const b = breakers.check(item.origin, now, false);
    if (!b.allowed) {
      release(item, b.retryAt);
    } else if ((originInFlight.get(item.origin) ?? 0) < perOrigin && inFlight.size < concurrency) {
      tryStart(item);
    } else {
      // its origin is at its cap, or every slot is taken (a claim may bring a few more rows than free slots)
      const queue = parked.get(item.origin) ?? [];
      if (originStuck(item.origin, now)) {
        // nothing there has finished for a while, or ever (hanging or unknown receiver): it will not free
        // a slot soon either, so nothing waits here for it; back to the store until a slot there can
        // free up (these do not shrink the claim budget: they will not come back soon)
        release(item, stuckRetryAt(item.origin, now));
      } else if (queue.length < perOrigin && parkedIds.size < concurrency / 2) {
        queue.push(item);
        parked.set(item.origin, queue);
        parkedIds.add(d.id);
      } else {
        // busy but progressing: come back about when a slot should be free again
        releasedThisRound++;
        const avg = originAvgMs.get(item.origin) ?? 50;
        const defer = Math.min(saturatedDeferMs, Math.max(5, 2 * avg));
        release(item, now + Math.round(defer * (1 + random() * 0.5)));
      }
    }
  }

  // Deliveries parked behind an origin that has since stopped answering would otherwise hold global
  // capacity until its attempts time out.
  function releaseParkedOfStuckOrigins(now: number) {
    for (const [origin, queue] of parked) {
      if (!originStuck(origin, now)) continue;
      for (const item of queue) {
        parkedIds.delete(item.delivery.id);
        release(item, stuckRetryAt(origin, now));
      }
      parked.delete(origin);
    }
  }

  /**
   * False while a busy origin is making progress: it has a known attempt duration and finished an
   * attempt recently. An origin whose attempts have never finished counts as stuck from the start, so a
   * dead receiver's deliveries never wait locally.
   */
  function originStuck(origin: string, now: number): boolean {
    // nothing in flight there: waiting for the global cap, not for the origin
    if (!originInFlight.get(origin)) return false;
    const quietFor = now - (originProgressAt.get(origin) ?? now);
    const avg = originAvgMs.get(origin);
    return avg === undefined || quietFor > Math.max(saturatedDeferMs, 4 * avg);
  }

  // When deliveries of a stuck origin come back from the store. Four times as long as the origin has been
  // quiet: an origin that is merely new (nothing finished yet, none of it long ago) gets them back soon,
  // a hanging one ever later, and never later than when its oldest attempt must end (it started about
  // when the origin last made progress, or became busy). Brought back sooner, they would only be
  // released again: a claim and a release each, on a database, for nothing; with 2,000 queued for a
  // hanging receiver, that churn cost the healthy ones 15 % of their rate. Jittered, so that they do not
  // all come back in one claim.
  function stuckRetryAt(origin: string, now: number): number {
    const since = originProgressAt.get(origin) ?? now;
    const defer = Math.max(saturatedDeferMs, Math.min(since + timeoutMs - now, 4 * (now - since)));
    return now + Math.round(defer * (1 + random() * 0.5));
  }

  function release(item: Claimed, at: number) {
    releaseId(item.delivery.id, at);
  }

  function releaseId(id: string, at: number) {
    counters.released++;
    trackWrite(store.release(id, owner, at).then(() => undefined, (err) => onError(err, 'release')));
  }

  function trackWrite(write: Promise<void>) {
    const op = write.finally(() => pendingWrites.delete(op));
    pendingWrites.add(op);
  }

  function tryStart(item: Claimed) {
    const now = Date.now();
    // a parked delivery must still have time for a whole attempt inside its lease
    if (item.leaseUntil - now < timeoutMs + LEASE_MARGIN_MS) {
      release(item, now);
      return;
    }
    const b = breakers.check(item.origin, now);
    if (!b.allowed) {
      release(item, b.retryAt);
      return;
    }
    const busy = originInFlight.get(item.origin) ?? 0;
    if (!busy) originProgressAt.set(item.origin, now);
    originInFlight.set(item.origin, busy + 1);
    const flight = new Flight(item, b.probe, now);
    inFlight.set(item.delivery.id, flight);
    flight.done = fly(flight);
  }

  async function fly(f: Flight): Promise<void> {
    try {
      await attempt(f);
    } catch (err) {
      // a probe whose outcome the breaker already has holds no reservation any more: cancelling now
      // would free the next probe's
      if (f.probe && !f.recorded) breakers.cancelProbe(f.item.origin);
      onError(err, 'attempt');
    } finally {
      land(f);
      recording.delete(f.item.delivery.id);
      maybePump();
    }
  }

  // The HTTP exchange is over. The origin's slot and the flight's place under the global cap are given
  // back before the result is written to the store, so neither the next delivery there nor the next
  // claim waits for a database write (stop() still waits for it, and a backlog of unwritten results
  // pauses claiming).
  function land(f: Flight) {
    if (f.landed) return;
    f.landed = true;
    inFlight.delete(f.item.delivery.id);
    recording.set(f.item.delivery.id, f);
    const origin = f.item.origin;
    const left = (originInFlight.get(origin) ?? 1) - 1;
    const end = Date.now();
    originProgressAt.set(origin, end);
    const avg = originAvgMs.get(origin);
    originAvgMs.set(origin, avg === undefined ? end - f.startedAt : 0.8 * avg + 0.2 * (end - f.startedAt));
    if (left) originInFlight.set(origin, left);
    else {
      originInFlight.delete(origin);
      originProgressAt.delete(origin);
    }
    startParked(origin);
    startAnyParked();
    maybePump();
  }

  // Claim again once a few slots are free rather than after every single attempt: fewer, larger claims
  // (a transaction each on a database) while parked deliveries bridge the gap; with nothing parked,
  // every free slot is claimed for at once.
  /** room under the global cap: parked deliveries hold theirs */
  function freeSlots() {
    return concurrency - inFlight.size - parkedIds.size;
  }

  function maybePump() {
    const free = freeSlots();
    if (free >= claimLowWater || (free > 0 && parkedIds.size === 0)) schedulePump();
  }

  function startParked(origin: string) {
    const queue = parked.get(origin);
    if (!queue) return;
    while (queue.length && (originInFlight.get(origin) ?? 0) < perOrigin && inFlight.size < concurrency && running) {
      const item = queue.shift()!;
      parkedIds.delete(item.delivery.id);
      tryStart(item);
    }
    if (!queue.length) parked.delete(origin);
  }

  /** A global slot is free: deliveries parked for want of one (any origin) may go. */
  function startAnyParked() {
    for (const origin of parked.keys()) {
      if (inFlight.size >= concurrency || !running) return;
      startParked(origin);
    }
  }

  function send(f: Flight, secrets: string[]): Promise<SendResult> {
    const d = f.item.delivery;
    const headers = webhookHeaders(secrets, d.id, Math.floor(Date.now() / 1000), d.payload);
    headers['content-type'] = 'application/json';
    headers['user-agent'] = USER_AGENT;
    return sendWebhook(agent, { url: f.item.url, body: d.payload, headers, timeoutMs, cancelToken: f });
  }

  async function attempt(f: Flight): Promise<void> {
    const item = f.item;
    const d = item.delivery;
    const signer = deliverySignerId(d.accountId, d.id);
    const secrets = cachedSecrets(signer) ?? (await secretsFor(signer));
    // while the secrets were read, stop() may have given up on this attempt or the lease run short:
    // then nothing is sent, and the delivery goes back to the store
    if (f.cancelled || item.leaseUntil - Date.now() < timeoutMs + LEASE_MARGIN_MS) return giveBack(f);
    let r: SendResult = await send(f, secrets);
    // One immediate second chance: a refusal that fast is often a receiver restarting, and a connection
    // found closed before any answer is usually a kept-alive one the receiver had just closed (without
    // it, a healthy receiver cost a schedule step, and a redrive's only attempt)
    // Only when the first try failed at once (a stale socket fails as soon as it is written to; a receiver
    // that held the request and then dropped it has probably handled it), and only with a whole attempt
    // left inside the lease: two full tries could outlast it, and another dispatcher send the same delivery.
    const refusedFast = r.errorKind === 'refused' && r.durationMs < 1000;
    const closedFast = r.closedBeforeAnswer === true && r.durationMs < 1000;
    if ((refusedFast || closedFast) && item.leaseUntil - Date.now() >= timeoutMs + LEASE_MARGIN_MS && !stopping && !f.cancelled) {
      const first = r;
      r = await send(f, secrets);
      r = { ...r, startedAt: first.startedAt, durationMs: first.durationMs + r.durationMs };
      if (r.error) r.error = `${r.error} (second try right after ${refusedFast ? 'a refused connection' : `the connection was closed: ${first.error}`})`;
    }
    if (r.cancelled) return giveBack(f);
    const now = Date.now();
    const attemptNo = d.attempts + 1;
    const next = nextState({ attemptNo, statusCode: r.statusCode, errorKind: r.errorKind, retryAfter: r.headers?.['retry-after'] }, policy, now, random);
    // the breaker learns the outcome before the slot is given back: land() starts the delivery parked
    // behind this one, which must see the breaker this attempt may just have opened (or closed)
    // a 4xx other than 408 and 429 is the receiver answering promptly about this URL (a deleted endpoint
    // on a shared host): no reason to hold back the other URLs of that origin
    const answered = r.statusCode !== null && r.statusCode >= 400 && r.statusCode < 500 && r.statusCode !== 408 && r.statusCode !== 429;
    breakers.record(item.origin, next.status === 'succeeded' || answered, now, f.probe);
    f.recorded = true;
    land(f);
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

  /** An attempt that ended without an outcome of the receiver's (cancelled): its delivery is due again at once. */
  async function giveBack(f: Flight): Promise<void> {
    land(f);
    if (f.probe) breakers.cancelProbe(f.item.origin);
    counters.released++;
    await store.release(f.item.delivery.id, owner, Date.now());
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
    const ok = next.status === 'succeeded';
    const gone = next.status === 'failed' && next.gone;
    // Failures always; a success when it may change something: first seen here, after failures here, or
    // a few seconds after the last one reported, since another process may have reported a failure since
    // (else the URL would stay "failing since" and be disabled while this process delivers to it).
    const key = `${d.accountId}\n${d.url}`;
    const last = lastUrlOk.get(key);
    if (store.urlOutcome && (!ok || !last?.ok || now - last.at >= successReportEveryMs)) {
      if (lastUrlOk.size >= 10_000) lastUrlOk.clear();
      const entry = { ok, at: now };
      lastUrlOk.set(key, entry);
      // forgotten again (if still ours) when the store did not take it: the next success reports it
      const forget = () => lastUrlOk.get(key) === entry && lastUrlOk.delete(key);
      try {
        const outcome = await store.urlOutcome(d.accountId, d.url, ok, gone, now, d.searchId);
        // not the global URL's outcome (a test search's): a live success after it must still be reported
        if (!outcome.counted) forget();
        if (outcome.disabledReason) opts.onUrlDisabled?.(d.accountId, d.url, outcome.disabledReason);
      } catch (err) {
        forget();
        throw err;
      }
    }
  }

  return {
    start() {
      if (stopped) throw new Error('this dispatcher was stopped; create a new one');
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
      if (stopped) return;
      stopped = true;
      running = false;
      stopping = true;
      if (timer) clearTimeout(timer);
      timer = null;
      const now = Date.now();
      for (const queue of parked.values()) for (const item of queue) release(item, now);
      parked.clear();
      parkedIds.clear();
      while (pumping) await new Promise((r) => setImmediate(r));
      const all = () => Promise.allSettled([...inFlight.values(), ...recording.values()].map((f) => f.done));
      let graceTimer: NodeJS.Timeout | undefined;
      const grace = new Promise<void>((r) => (graceTimer = setTimeout(r, graceMs)));
      await Promise.race([all(), grace]);
      clearTimeout(graceTimer);
      for (const f of inFlight.values()) {
        f.cancelled = true;
        f.cancel?.();
      }
      await all();
      await Promise.allSettled([...pendingWrites]);
      if (ownAgent) await agent.destroy().catch(() => {});
      stopping = false;
    },
    stats() {
      return {
        running,
        inFlight: inFlight.size,
        parked: parkedIds.size,
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
