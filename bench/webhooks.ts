// Webhook delivery benchmark (issue 5):
// 1. latency from enqueue + wake() to the receiver getting the POST, one at a time on an idle dispatcher
//    (p50, p99; targets ≤ 25 ms, ≤ 100 ms);
// 2. sustained deliveries/s to a local HTTPS keep-alive receiver, against raw undici POSTs to the same
//    receiver with the same concurrency in the same run (target ≥ 70 % of raw);
// 3. the healthy receiver's rate with a dead (hanging) receiver alongside (target ≤ 10 % lower).
// Each phase gets an outbox of its own; rounds alternate raw / alone / beside-a-dead-receiver, and the
// medians of the per-round ratios are reported with the CPU each request cost (main thread, process).
// Run: node --import tsx bench/webhooks.ts   (BENCH_WEBHOOK_N, BENCH_WEBHOOK_CONCURRENCY,
// BENCH_WEBHOOK_ROUNDS to change sizes; the outbox here is in memory: the delivery engine alone)
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { rootCertificates } from 'node:tls';
import { Agent } from 'undici';
import { createDispatcher, type Dispatcher, type DispatcherOptions } from '../src/webhooks/dispatcher.js';
import { InMemoryDeliveryStore, type EnqueueInput } from '../src/webhooks/store-memory.js';
import { generateWebhookSecret, webhookHeaders } from '../src/webhooks/sign.js';
import type { Delivery, DeliveryStore } from '../src/webhooks/types.js';
import { makeTestCertificates, startHttpsReceiver, type HttpsReceiver, type TestCertificates } from '../test/support/https-receiver.js';

/** Any DeliveryStore the bench can also write rows into (the memory store, or the database one). */
export type BenchStore = DeliveryStore & {
  enqueue(input: EnqueueInput): Delivery | Promise<Delivery>;
  /** Writes a backlog in one transaction where there are transactions: it becomes visible all at once, so no delivery starts before the measure does. */
  enqueueAll?(inputs: EnqueueInput[]): Promise<void>;
};

const N = Number(process.env.BENCH_WEBHOOK_N ?? 20_000);
const CONCURRENCY = Number(process.env.BENCH_WEBHOOK_CONCURRENCY ?? 32);
const LATENCY_SAMPLES = 300;
const ROUNDS = Number(process.env.BENCH_WEBHOOK_ROUNDS ?? 5);
const PAYLOAD = JSON.stringify({
  event: 'single_search_finished',
  id: '0190f5c2-7b1a-7c3e-9d4f-2a6b8c0d1e2f',
  credits: { cost: 1 },
  result: { email: 'dwight.schrute@dundermifflin.com', qualification: 'valid', custom: { crm_id: 'lead_001' },
    info: { company_domain: 'dundermifflin.com', fullname: 'Dwight Schrute', firstname: 'Dwight', lastname: 'Schrute' },
    details: { status: 'deliverable', reason: 'RCPT TO accepted (250 2.1.5)', mx: 'mx1.dundermifflin.com' } },
});

const pct = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
const round = (n: number, d = 1) => Math.round(n * 10 ** d) / 10 ** d;

// Waiting without spinning: conditions are re-checked when something happens (an attempt recorded, a
// request received), so the wait costs the process nothing while it measures.
let succeeded = 0;
const waiters = new Set<{ cond: () => boolean; resolve: () => void }>();
function notify(): void {
  for (const w of waiters) {
    if (w.cond()) {
      waiters.delete(w);
      w.resolve();
    }
  }
}
function until(cond: () => boolean): Promise<void> {
  if (cond()) return Promise.resolve();
  return new Promise((resolve) => waiters.add({ cond, resolve }));
}

function dispatcherFor(store: BenchStore, caPem: string, extra: Partial<DispatcherOptions> = {}): Dispatcher {
  return createDispatcher({
    store,
    allowCidrs: '127.0.0.0/8',
    ca: caPem,
    concurrency: CONCURRENCY * 2,
    perOriginConcurrency: CONCURRENCY,
    batchSize: 128,
    maxPollIntervalMs: 1000,
    ...extra,
    onAttempt: (_d, _a, next) => {
      if (next.status === 'succeeded') succeeded++;
      notify();
    },
  });
}

async function enqueueMany(store: BenchStore, url: string, n: number, tag: string): Promise<void> {
  const inputs = Array.from({ length: n }, (_, i) => ({ accountId: 'acc_bench', searchId: `${tag}-${i}`, event: 'single_search_finished', url, payload: PAYLOAD }));
  if (store.enqueueAll) await store.enqueueAll(inputs);
  else for (const input of inputs) await store.enqueue(input);
}

async function latencyPhase(store: BenchStore, r: RemoteReceiver): Promise<{ p50: number; p99: number; max: number }> {
  const d = dispatcherFor(store, r.caPem);
  d.start();
  const samples: number[] = [];
  r.reportArrivals(true);
  try {
    for (let i = 0; i < LATENCY_SAMPLES + 20; i++) {
      const before = r.arrivals.length;
      const done = succeeded;
      const t0 = performance.timeOrigin + performance.now();
      await store.enqueue({ accountId: 'acc_bench', searchId: `lat-${i}`, event: 'single_search_finished', url: r.url, payload: PAYLOAD });
      d.wake();
      await until(() => r.arrivals.length > before);
      // the first 20 warm up connections, TLS sessions and the JIT
      if (i >= 20) samples.push(r.arrivals[before]! - t0);
      // idle again (the attempt is recorded) before the next sample
      await until(() => succeeded > done);
    }
  } finally {
    r.reportArrivals(false);
    await d.stop();
  }
  samples.sort((a, b) => a - b);
  return { p50: round(pct(samples, 50), 2), p99: round(pct(samples, 99), 2), max: round(samples.at(-1)!, 2) };
}

// The healthy receiver runs in its own thread, as a real one runs on its own machine: the client side
// (raw undici or the dispatcher) is then measured without sharing its event loop with the server.
interface RemoteReceiver {
  url: string;
  caPem: string;
  /** absolute arrival times (ms since the epoch, sub-ms precision) while reporting is on */
  arrivals: number[];
  reportArrivals(on: boolean): void;
  close(): Promise<void>;
}

export async function startRemoteReceiver(certs: TestCertificates): Promise<RemoteReceiver> {
  // the TypeScript loader is not inherited by worker threads on Node 20: the thread registers it first
  const tsxApi = import.meta.resolve('tsx/esm/api');
  const boot = `import(${JSON.stringify(tsxApi)}).then((m) => { m.register(); return import(${JSON.stringify(import.meta.url)}); })`;
  const worker = new Worker(boot, { eval: true, workerData: { role: 'receiver', certs } });
  const arrivals: number[] = [];
  const port = await new Promise<number>((resolve, reject) => {
    worker.once('error', reject);
    worker.once('message', (m: { port: number; tid?: string }) => {
      receiverTid = m.tid;
      resolve(m.port);
    });
  });
  worker.on('message', (m: { arrivedAt?: number }) => {
    if (m.arrivedAt !== undefined) {
      arrivals.push(m.arrivedAt);
      notify();
    }
  });
  return {
    url: `https://127.0.0.1:${port}/hook`,
    caPem: certs.caPem,
    arrivals,
    reportArrivals: (on) => worker.postMessage({ report: on }),
    close: async () => {
      worker.postMessage({ close: true });
      await new Promise((r) => worker.once('exit', r));
    },
  };
}

async function receiverThread(certs: TestCertificates): Promise<void> {
  const r = await startHttpsReceiver({ certificates: certs, recordBodies: false });
  let report = false;
  r.onRequest = () => {
    if (report) parentPort!.postMessage({ arrivedAt: performance.timeOrigin + performance.now() });
    // keep memory flat over hundreds of thousands of requests
    if (r.requests.length > 1000) r.requests.length = 0;
  };
  parentPort!.on('message', async (m: { report?: boolean; close?: boolean }) => {
    if (m.report !== undefined) report = m.report;
    if (m.close) {
      await r.close();
      parentPort!.close();
    }
  });
  let tid: string | undefined;
  try {
    tid = readlinkSync('/proc/thread-self').split('/').pop();
  } catch {
    // not Linux: no per-thread figures
  }
  parentPort!.postMessage({ port: r.port, tid });
}

// The baseline sends the very request a delivery sends (same headers, a signature computed once), so
// the ratio measures the dispatcher's own cost, not the receiver parsing a few more header bytes.
const RAW_HEADERS = {
  'content-type': 'application/json',
  'user-agent': 'Openrow-Webhooks/1.0',
  ...webhookHeaders([generateWebhookSecret()], 'msg_0190f5c27b1a7c3e9d4f2a6b8c0d1e2f', Math.floor(Date.now() / 1000), PAYLOAD),
};

async function rawPhase(r: RemoteReceiver): Promise<Measure> {
  const agent = new Agent({ connections: CONCURRENCY, pipelining: 1, connect: { ca: [...rootCertificates, r.caPem] } });
  const url = new URL(r.url);
  let next = 0;
  const post = async () => {
    const res = await agent.request({ origin: url.origin, path: url.pathname, method: 'POST', headers: RAW_HEADERS, body: PAYLOAD });
    await res.body.text();
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, post)); // warm-up: open every connection, as the dispatcher's warm-up does
  const m = await measure(N, () =>
    Promise.all(Array.from({ length: CONCURRENCY }, async () => {
      while (next++ < N) await post();
    })),
    'raw',
  );
  await agent.close();
  return m;
}

/** A throughput measurement, with what each request or delivery cost in CPU. */
interface Measure {
  perSecond: number;
  /** time the main thread (the client side) was busy, per request */
  mainUs: number;
  /** CPU of the whole process, receiver thread included, per request */
  cpuUs: number;
  /** CPU per request of each thread that used any, busiest first ("main", "receiver", others by name; Linux only) */
  threads: Array<[string, number]>;
  /** time per request the main thread, the receiver and all other threads together spent runnable but waiting for a core (Linux schedstat) */
  waits: Record<'main' | 'receiver' | 'others', number>;
}

// Per-thread CPU from /proc (Linux): which thread is the bottleneck is what the process total hides. The
// time a thread waited for a core (schedstat) shows when the threads outnumber the cores: then a
// delivery's cost is all its threads' CPU added up, wherever it is spent.
function threadTimes(): Map<string, { name: string; ticks: number; waitNs: number }> {
  const out = new Map<string, { name: string; ticks: number; waitNs: number }>();
  let tids: string[];
  try {
    tids = readdirSync('/proc/self/task');
  } catch {
    return out;
  }
  for (const tid of tids) {
    try {
      const st = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
      const fields = st.slice(st.lastIndexOf(')') + 2).split(' ');
      const name = tid === String(process.pid) ? 'main' : tid === receiverTid ? 'receiver' : st.slice(st.indexOf('(') + 1, st.lastIndexOf(')'));
      let waitNs = 0;
      try {
        waitNs = Number(readFileSync(`/proc/self/task/${tid}/schedstat`, 'utf8').split(' ')[1]);
      } catch {
        // a kernel without schedstats: no wait figures
      }
      out.set(tid, { name, ticks: Number(fields[11]) + Number(fields[12]), waitNs });
    } catch {
      // the thread ended meanwhile
    }
  }
  return out;
}
const TICK_US = 10_000; // USER_HZ is 100 on Linux
let receiverTid: string | undefined;

// BENCH_WEBHOOK_PROFILE=dir: a CPU profile of the main thread per measured window, written to dir
// (open in Chrome DevTools); what happens outside the measure (setup, warm-up) is left out.
const PROFILE_DIR = process.env.BENCH_WEBHOOK_PROFILE;
let profiled = 0;
async function profiling<T>(label: string, run: () => Promise<T>): Promise<T> {
  if (!PROFILE_DIR) return run();
  const { Session } = await import('node:inspector/promises');
  const { mkdirSync, writeFileSync } = await import('node:fs');
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.start');
  try {
    return await run();
  } finally {
    const { profile } = await session.post('Profiler.stop');
    mkdirSync(PROFILE_DIR, { recursive: true });
    writeFileSync(`${PROFILE_DIR}/${String(profiled++).padStart(2, '0')}-${label}.cpuprofile`, JSON.stringify(profile));
    session.disconnect();
  }
}

async function measure(n: number, run: () => Promise<unknown>, label = 'measure'): Promise<Measure> {
  return profiling(label, () => measureNow(n, run));
}

async function measureNow(n: number, run: () => Promise<unknown>): Promise<Measure> {
  const t0 = performance.now();
  const elu0 = performance.eventLoopUtilization();
  const cpu0 = process.cpuUsage();
  const threads0 = threadTimes();
  await run();
  const threads: Array<[string, number]> = [];
  const waits = { main: 0, receiver: 0, others: 0 };
  for (const [tid, t] of threadTimes()) {
    const us = ((t.ticks - (threads0.get(tid)?.ticks ?? 0)) * TICK_US) / n;
    if (us >= 1) threads.push([t.name, us]);
    const which = t.name === 'main' || t.name === 'receiver' ? t.name : 'others';
    waits[which] += (t.waitNs - (threads0.get(tid)?.waitNs ?? 0)) / 1000 / n;
  }
  threads.sort((a, b) => b[1] - a[1]);
  const seconds = (performance.now() - t0) / 1000;
  const elu = performance.eventLoopUtilization(elu0);
  const cpu = process.cpuUsage(cpu0);
  return { perSecond: n / seconds, mainUs: (elu.active * 1000) / n, cpuUs: (cpu.user + cpu.system) / n, threads, waits };
}

async function dispatcherRate(store: BenchStore, r: RemoteReceiver, d: Dispatcher, tag: string): Promise<Measure> {
  // warm-up as for raw: one delivery per connection
  const warm = succeeded + CONCURRENCY;
  await enqueueMany(store, r.url, CONCURRENCY, `${tag}-warm`);
  d.wake();
  await until(() => succeeded >= warm);
  const target = succeeded + N;
  await enqueueMany(store, r.url, N, tag);
  return measure(N, () => {
    d.wake();
    return until(() => succeeded >= target);
  }, tag);
}

async function withDeadPhase(store: BenchStore, healthy: RemoteReceiver, dead: HttpsReceiver, caPem: string, tag: string): Promise<Measure> {
  // the dead receiver's deliveries are written first, so a naive queue would serve them first
  const d = dispatcherFor(store, caPem, { timeoutMs: 120_000 });
  d.start();
  const before = dead.requests.length;
  await enqueueMany(store, dead.url, 2000, `${tag}-dead`);
  d.wake();
  await until(() => dead.requests.length >= before + CONCURRENCY);
  const rate = await dispatcherRate(store, healthy, d, tag);
  await d.stop(0);
  return rate;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/**
 * `newStore` gives every phase an empty outbox of its own (default: a memory store), so rows a phase
 * leaves behind (the dead receiver's above all) never weigh on the next one.
 */
export async function runWebhookBench(newStore: () => BenchStore | Promise<BenchStore> = () => new InMemoryDeliveryStore()): Promise<Record<string, number | string>> {
  const certs = makeTestCertificates();
  const healthy = await startRemoteReceiver(certs);
  const dead = await startHttpsReceiver({ certificates: certs, recordBodies: false });
  dead.onRequest = notify;
  dead.setBehaviour(() => ({ hang: true }));
  const fresh = newStore;
  const results: Record<string, number | string> = {};
  try {
    // warm-up (not reported): the first run of anything in a process is slower (JIT, TLS, allocations)
    await rawPhase(healthy);
    const sw = await fresh();
    const dw = dispatcherFor(sw, certs.caPem);
    dw.start();
    await dispatcherRate(sw, healthy, dw, 'warm');
    await dw.stop();

    const latency = await latencyPhase(await fresh(), healthy);
    results['latency_p50_ms'] = latency.p50;
    results['latency_p99_ms'] = latency.p99;
    results['latency_max_ms'] = latency.max;

    // rounds alternate raw, dispatcher alone, dispatcher beside a dead receiver, so machine noise
    // falls on all three alike; each round's ratios compare neighbours in time, and their medians
    // are reported
    const raw: Measure[] = [];
    const alone: Measure[] = [];
    const beside: Measure[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      raw.push(await rawPhase(healthy));
      const s1 = await fresh();
      const d1 = dispatcherFor(s1, certs.caPem);
      d1.start();
      alone.push(await dispatcherRate(s1, healthy, d1, `alone-${round}`));
      await d1.stop();
      beside.push(await withDeadPhase(await fresh(), healthy, dead, certs.caPem, `beside-${round}`));
    }
    const rates = (ms: Measure[]) => ms.map((m) => m.perSecond);
    results['raw_undici_posts_per_s'] = round(median(rates(raw)));
    results['deliveries_per_s'] = round(median(rates(alone)));
    results['ratio_to_raw'] = round(median(alone.map((m, i) => m.perSecond / raw[i]!.perSecond)), 3);
    results['deliveries_per_s_with_dead_receiver'] = round(median(rates(beside)));
    results['dead_receiver_slowdown'] = round(median(beside.map((m, i) => 1 - m.perSecond / alone[i]!.perSecond)), 3);
    results['dead_receiver_max_requests_per_round'] = CONCURRENCY;
    results['dead_receiver_requests'] = dead.requests.length;
    // where the time goes: the client side runs on the main thread, the receiver in its own thread
    results['main_thread_us_per_raw_post'] = round(median(raw.map((m) => m.mainUs)));
    results['main_thread_us_per_delivery'] = round(median(alone.map((m) => m.mainUs)));
    results['process_cpu_us_per_raw_post'] = round(median(raw.map((m) => m.cpuUs)));
    results['process_cpu_us_per_delivery'] = round(median(alone.map((m) => m.cpuUs)));
    // the round whose rate is the median's, thread by thread
    const byThreads = (ms: Measure[]) => {
      const m = [...ms].sort((a, b) => a.perSecond - b.perSecond)[Math.floor(ms.length / 2)]!;
      return m.threads.map(([name, us]) => `${name} ${round(us)}`).join(', ');
    };
    results['thread_cpu_us_per_raw_post'] = byThreads(raw);
    results['thread_cpu_us_per_delivery'] = byThreads(alone);
    const byWaits = (ms: Measure[]) => (['main', 'receiver', 'others'] as const).map((w) => `${w} ${round(median(ms.map((m) => m.waits[w])))}`).join(', ');
    results['cpu_wait_us_per_raw_post'] = byWaits(raw);
    results['cpu_wait_us_per_delivery'] = byWaits(alone);
    const list = (ms: Measure[]) => ms.map((m) => round(m.perSecond, 0)).join('/');
    results['rounds'] = `raw ${list(raw)}; alone ${list(alone)}; beside dead ${list(beside)}`;
  } finally {
    await healthy.close();
    await dead.close();
  }
  results['concurrency'] = CONCURRENCY;
  results['deliveries_per_measure'] = N;
  return results;
}

if (!isMainThread && (workerData as { role?: string } | null)?.role === 'receiver') {
  await receiverThread((workerData as { certs: TestCertificates }).certs);
} else if (isMainThread && import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  printWebhookBench('webhook delivery benchmark (in-memory outbox: the delivery engine alone)', await runWebhookBench());
}

export function printWebhookBench(title: string, r: Record<string, number | string>): void {
  const verdict = (ok: boolean) => (ok ? 'ok' : 'MISSED');
  console.log(title);
  console.log(`  latency completion → receipt: p50 ${r.latency_p50_ms} ms (target ≤ 25: ${verdict(Number(r.latency_p50_ms) <= 25)}), p99 ${r.latency_p99_ms} ms (target ≤ 100: ${verdict(Number(r.latency_p99_ms) <= 100)}), max ${r.latency_max_ms} ms`);
  console.log(`  raw undici POSTs: ${r.raw_undici_posts_per_s}/s at concurrency ${r.concurrency}`);
  console.log(`  dispatcher: ${r.deliveries_per_s} deliveries/s = ${round(Number(r.ratio_to_raw) * 100)} % of raw (median of per-round ratios; target ≥ 70 %: ${verdict(Number(r.ratio_to_raw) >= 0.7)})`);
  console.log(`  with a hanging receiver alongside: ${r.deliveries_per_s_with_dead_receiver} deliveries/s, ${round(Number(r.dead_receiver_slowdown) * 100)} % lower (target ≤ 10 %: ${verdict(Number(r.dead_receiver_slowdown) <= 0.1)}); the dead receivers saw ${r.dead_receiver_requests} requests in ${ROUNDS} rounds (at most ${r.dead_receiver_max_requests_per_round} each)`);
  console.log(`  main-thread time per request: raw ${r.main_thread_us_per_raw_post} µs, delivery ${r.main_thread_us_per_delivery} µs; process CPU (receiver thread included): raw ${r.process_cpu_us_per_raw_post} µs, delivery ${r.process_cpu_us_per_delivery} µs`);
  if (r.thread_cpu_us_per_delivery) console.log(`  CPU µs per request by thread (median round): raw: ${r.thread_cpu_us_per_raw_post}; delivery: ${r.thread_cpu_us_per_delivery}`);
  if (r.thread_cpu_us_per_delivery) console.log(`  µs per request threads waited for a free core (median): raw: ${r.cpu_wait_us_per_raw_post}; delivery: ${r.cpu_wait_us_per_delivery}`);
  console.log(`  per round: ${r.rounds}`);
  console.log(JSON.stringify(r));
}
