// The SQLite outbox's writes in a thread of their own. Claims, attempt results and releases are most of
// what a busy dispatcher does besides HTTP: on the main thread they took about 40 % of its time per
// delivery (`npm run bench -- webhooks-db` prints the CPU of each thread). With the statements, commits
// and WAL appends on another core, the main thread, which also serves the API, keeps to HTTP, signing and
// scheduling. The thread has its own connection to the same file, and commits while the main connection is
// held for it (OpenStore.holdConnection): main-thread statements wait for an outbox commit in the event
// loop, as they waited for one when it ran on their connection, instead of sleeping in SQLite's busy
// handler (1, 2, 5, 10 ms steps that block the thread: 20 ms at p99 under load, measured). Other processes
// on the file are ordered by SQLite's locking (IMMEDIATE transactions, busy_timeout) as before.
import { Worker } from 'node:worker_threads';
import { stopThread } from './stop-thread.js';
import type { Delivery } from '../webhooks/types.js';
import type { Outcome } from './group-commit.js';
import { decodeOutcomes, encodeJobs, errorFromWire, type OutboxJob } from './outbox-sqlite.js';
import type { OutboxReply, OutboxRequest, OutboxWorkerData } from './outbox-worker.js';

export interface OutboxThread {
  /** Starts the thread if need be; resolves once its connection is open (loading it takes ~100–200 ms). */
  ready(): Promise<void>;
  commit(jobs: OutboxJob[]): Promise<Array<Outcome<Delivery[] | boolean>>>;
  stop(): Promise<void>;
  /** Makes the thread throw, as a bug in it would: an 'error' event, then its exit (tests of the restart). */
  crash(): void;
}

// Worker threads do not inherit the TypeScript loader on Node 20: the thread registers it first.
const BOOT = `
const { workerData } = require('node:worker_threads');
import(workerData.tsx).then((m) => { m.register(); return import(workerData.entry); });
`;

type Waiting = Map<number, { resolve(o: Array<Outcome<Delivery[] | boolean>>): void; reject(err: unknown): void }>;
type Spawned = { worker: Worker; waiting: Waiting; ready: Promise<void> };

export function startOutboxThread(data: OutboxWorkerData): OutboxThread {
  let current: Spawned | null = null;
  let batches = 0;
  let stopping: Promise<void> | null = null;

  function spawn(): Spawned {
    const w = new Worker(BOOT, {
      eval: true,
      workerData: { ...data, tsx: import.meta.resolve('tsx/esm/api'), entry: import.meta.resolve('./outbox-worker.ts') },
    });
    // each thread answers its own batches: a dead thread's last events never touch its successor's
    const waiting: Waiting = new Map();
    let started!: () => void;
    let broken!: (err: unknown) => void;
    const ready = new Promise<void>((resolve, reject) => ((started = resolve), (broken = reject)));
    ready.catch(() => undefined); // a thread nobody waited for may die unobserved
    // only a batch on its way keeps the process alive (see commit)
    w.unref();
    w.on('message', (m: OutboxReply) => {
      if ('ready' in m) started();
      if (!('batch' in m)) return;
      const p = waiting.get(m.batch);
      waiting.delete(m.batch);
      if (!waiting.size) w.unref();
      if (!p) return;
      if ('error' in m) p.reject(errorFromWire(m.error));
      else p.resolve(decodeOutcomes(m.outcomes));
    });
    const fail = (err: unknown) => {
      if (current?.worker === w) current = null;
      // whether an unanswered batch was written is unknown; its callers see a failed store call, as with
      // a lost database connection (a delivery whose result went unrecorded is sent again once its lease
      // expires: at least once), and the next batch starts a new thread
      for (const p of waiting.values()) p.reject(err);
      waiting.clear();
      broken(err);
    };
    w.on('error', fail);
    w.on('exit', (code) => fail(new Error(`the outbox thread exited (code ${code})`)));
    return { worker: w, waiting, ready };
  }

  return {
    ready() {
      if (stopping) return Promise.reject(new Error('the outbox thread is stopped'));
      current ??= spawn();
      return current.ready;
    },
    commit(jobs) {
      if (stopping) return Promise.reject(new Error('the outbox thread is stopped'));
      current ??= spawn();
      const { worker: w, waiting } = current;
      const batch = ++batches;
      return new Promise((resolve, reject) => {
        if (!waiting.size) w.ref();
        waiting.set(batch, { resolve, reject });
        w.postMessage({ batch, jobs: encodeJobs(jobs) } satisfies OutboxRequest);
      });
    },
    crash() {
      current?.worker.postMessage({ crash: true } satisfies OutboxRequest);
    },
    stop() {
      stopping ??= (async () => {
        // the thread answers every batch sent before the stop, then closes its connection
        if (current) await stopThread(current.worker, { stop: true } satisfies OutboxRequest, 5000);
      })();
      return stopping;
    },
  };
}
