// A worker: claims items in batches, runs each through its engine, and writes the outcome back.
// Several workers (in-process or `openrow worker` processes) share one queue through the database.
import { hostname } from 'node:os';
import { randomUUID } from 'node:crypto';
import type { OpenStore } from '../store/db.js';
import type { Mode, Product } from '../store/schema.js';
import type { EngineContext, EngineOutcome, Engines, FindInfo, FindResult, PhoneResult, VerifyResult } from '../engines/types.js';
import { claimItems, completeItem, extendLeases, rescheduleItem, sweepExpiredLeases, type ClaimedItem } from './items-queue.js';

export interface WorkerOptions {
  store: OpenStore;
  /** engines per mode: test-mode items run against the sandbox world */
  engines: Record<Mode, Engines>;
  concurrency: number;
  leaseMs?: number;
  pollMs?: number;
  /**
   * An item whose engine keeps failing (a bug, a broken dependency) is retried with a backoff for this
   * long after its first attempt, then finished as undetermined and refunded. Default 30 min.
   */
  engineFailureWindowMs?: number;
  /**
   * One engine call may take this long; then it is abandoned (its signal aborted, its late answer ignored)
   * and counts as an engine failure: a call that never settles would otherwise hold a worker slot, and
   * renew its lease, for ever. Default 10 min.
   */
  engineCallTimeoutMs?: number;
  /** told when a search completed; `webhookQueued` means an outbox row is waiting */
  onSearchCompleted?: (searchId: string, webhookQueued: boolean) => void;
  log?: { error(obj: unknown, msg?: string): void; debug?(obj: unknown, msg?: string): void };
}

export interface Worker {
  readonly owner: string;
  start(): void;
  wake(): void;
  stop(): Promise<void>;
}

const ENGINE_OF: Record<Product, keyof Engines> = { verify: 'verifier', find: 'finder', phone: 'phone' };
/**
 * Claims of one item beyond which, past the failure window, it is given up. Engines' own retries stay well
 * below in that window: the verifier's backoff, the phone engine's (5 s, 30 s, 2 min, then 5 min; a
 * rate-limited provider's slots are handed out one by one).
 */
const MAX_ATTEMPTS = 50;

/** The result of an item no engine could determine, in its product's shape: nothing in it is guessed. */
function undetermined(item: ClaimedItem, reason: string): VerifyResult | FindResult | PhoneResult {
  const details = { status: 'unknown', reason };
  let input: Record<string, unknown> = {};
  try {
    input = JSON.parse(item.input) as Record<string, unknown>;
  } catch {
    // an unreadable input is one reason the engine failed; the result still has its shape
  }
  const text = (v: unknown) => (typeof v === 'string' ? v : '');
  if (item.product === 'verify') return { email: text(input.email), qualification: 'invalid', details };
  if (item.product === 'phone') return { number: null, country: null, qualification: 'not_found', details };
  const firstname = text(input.first_name);
  const lastname = text(input.last_name);
  const info: FindInfo = { fullname: text(input.fullname) || [firstname, lastname].filter(Boolean).join(' '), firstname, lastname };
  if (typeof input.company_domain === 'string') info.company_domain = input.company_domain;
  return { email: null, qualification: 'invalid', info, details };
}

export function createWorker(opts: WorkerOptions): Worker {
  const owner = `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
  const leaseMs = opts.leaseMs ?? 30_000;
  const pollMs = opts.pollMs ?? 250;
  const engineFailureWindowMs = opts.engineFailureWindowMs ?? 30 * 60_000;
  const engineCallTimeoutMs = opts.engineCallTimeoutMs ?? 10 * 60_000;
  const inflight = new Set<Promise<void>>();
  /** the claims engines are working on: only their leases are kept alive */
  const working = new Set<ClaimedItem>();
  let running = false;
  let wakeUp: (() => void) | null = null;
  let loopDone: Promise<void> = Promise.resolve();
  let heartbeat: NodeJS.Timeout | undefined;
  let sweeper: NodeJS.Timeout | undefined;

  // Only (product, mode) pairs whose engine exists are claimed: the others stay queued (`ongoing`),
  // never invented. Claims are made per mode so a missing test engine never blocks live work.
  const claimable = (['live', 'test'] as Mode[])
    .map((mode) => ({ mode, products: (Object.keys(ENGINE_OF) as Product[]).filter((p) => opts.engines[mode][ENGINE_OF[p]]) }))
    .filter((c) => c.products.length);
  let turn = 0;
  // Test searches are free to run and share the workers with every account's live ones: they hold at
  // most a quarter of the slots, so a flood of them (a tarpit's, say) never makes live work wait.
  const testSlots = Math.max(1, Math.floor(opts.concurrency / 4));
  const testsWorking = () => {
    let n = 0;
    for (const item of working) if (item.mode === 'test') n++;
    return n;
  };

  const wake = () => {
    const w = wakeUp;
    wakeUp = null;
    w?.();
  };

  /** The engine's answer, or a throw once the call has taken engineCallTimeoutMs. */
  function callEngine(item: ClaimedItem, ctx: EngineContext, abort: AbortController): Promise<EngineOutcome<any>> {
    const engines = opts.engines[item.mode];
    const call = (async () => {
      const input = JSON.parse(item.input);
      if (item.product === 'verify') return engines.verifier!.verify(input.email, ctx);
      if (item.product === 'find') return engines.finder!.findEmail(input, ctx);
      return engines.phone!.findPhone(input, ctx);
    })();
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        const limit = engineCallTimeoutMs >= 1000 ? `${Math.round(engineCallTimeoutMs / 1000)} s` : `${engineCallTimeoutMs} ms`;
        const err = new Error(`the engine call took more than ${limit} and was abandoned`);
        abort.abort(err);
        reject(err);
      }, engineCallTimeoutMs);
    });
    // an abandoned call that fails later must not be an unhandled rejection
    call.catch(() => undefined);
    return Promise.race([call, deadline]).finally(() => clearTimeout(timer));
  }

  async function runOne(item: ClaimedItem) {
    const abort = new AbortController();
    const ctx: EngineContext = { attempt: item.attempts, firstAttemptAt: item.first_attempt_at ?? Date.now(), signal: abort.signal };
    // An item claimed again and again without ever finishing (its run crashed the process, or its
    // completion keeps failing) is given up once the failure window is over, without running it again.
    if (item.attempts > MAX_ATTEMPTS && Date.now() - ctx.firstAttemptAt >= engineFailureWindowMs) {
      opts.log?.error({ search_id: item.search_id, idx: item.idx, attempts: item.attempts }, 'item never finished; finished as undetermined');
      return finishItem(item, undetermined(item, `the item was started ${item.attempts} times without finishing, and given up`), false);
    }
    let outcome: EngineOutcome<any>;
    try {
      outcome = await callEngine(item, ctx, abort);
    } catch (err) {
      // An engine bug must not lose the item: back to the queue with a backoff, the error logged; and
      // must not hold it (and its search, its credits, its webhook) for ever: past the window it is
      // finished as what it is, undetermined, and refunded.
      if (Date.now() - ctx.firstAttemptAt >= engineFailureWindowMs) {
        opts.log?.error({ err, search_id: item.search_id, idx: item.idx }, 'engine failed for the whole window; item finished as undetermined');
        const result = undetermined(item, `the ${item.product} engine failed on every attempt: ${(err as Error)?.message ?? String(err)}`);
        return finishItem(item, result, false);
      }
      opts.log?.error({ err, search_id: item.search_id, idx: item.idx }, 'engine failed; item rescheduled');
      await rescheduleItem(opts.store, item, owner, Math.min(60_000, 1000 * 2 ** item.attempts), { status: 'unknown', reason: 'engine error' });
      return;
    }
    if (outcome.kind === 'retry') {
      await rescheduleItem(opts.store, item, owner, outcome.delayMs, outcome.details);
      return;
    }
    const result = outcome.result as { qualification: string };
    const charged = item.product === 'verify' || result.qualification === 'valid' || result.qualification === 'found';
    await finishItem(item, result, charged);
  }

  async function finishItem(item: ClaimedItem, result: { qualification: string }, charged: boolean) {
    const effects = await completeItem(opts.store, item, owner, { result, qualification: result.qualification, charged });
    if (effects?.completedSearch) opts.onSearchCompleted?.(item.search_id, effects.webhookQueued);
  }

  async function loop() {
    while (running) {
      const free = opts.concurrency - inflight.size;
      let claimed: ClaimedItem[] = [];
      if (free > 0) {
        try {
          if (claimable.length) {
            // alternate which mode is asked first, so neither starves the other
            const order = turn++ % 2 === 0 ? claimable : [...claimable].reverse();
            for (const c of order) {
              if (claimed.length >= free) break;
              // one claim per mode: the test items claimed so far are the ones being worked on
              const limit = c.mode === 'test' ? Math.min(free - claimed.length, testSlots - testsWorking()) : free - claimed.length;
              if (limit <= 0) continue;
              claimed.push(...(await claimItems(opts.store, { owner, products: c.products, modes: [c.mode], limit, leaseMs })));
            }
          }
        } catch (err) {
          opts.log?.error({ err }, 'claim failed');
        }
      }
      for (const item of claimed) {
        working.add(item);
        const p: Promise<void> = runOne(item)
          // its lease is no longer extended: it lapses and the item is swept back to the queue
          .catch((err) => opts.log?.error({ err, search_id: item.search_id }, 'completing item failed'))
          .finally(() => {
            working.delete(item);
            inflight.delete(p);
            wake();
          });
        inflight.add(p);
      }
      if (claimed.length && claimed.length === free) continue;
      await new Promise<void>((resolve) => {
        wakeUp = resolve;
        const t = setTimeout(resolve, pollMs);
        t.unref?.();
      });
      wakeUp = null;
    }
  }

  return {
    owner,
    start() {
      if (running) return;
      running = true;
      // an idle worker holds no lease: no write for nothing
      heartbeat = setInterval(() => {
        if (working.size) void extendLeases(opts.store, owner, [...working], leaseMs).catch(() => undefined);
      }, Math.max(50, leaseMs / 3));
      sweeper = setInterval(() => void sweepExpiredLeases(opts.store).then((n) => n && wake()).catch(() => undefined), Math.max(100, leaseMs / 2));
      loopDone = loop();
    },
    wake,
    async stop() {
      running = false;
      wake();
      clearInterval(sweeper);
      await loopDone;
      // the leases of items still being worked on stay alive until they finish: stopped earlier, a long
      // engine call would be swept and run again elsewhere while this one still runs it
      await Promise.allSettled([...inflight]);
      clearInterval(heartbeat);
    },
  };
}
