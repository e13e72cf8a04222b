// The SQLite outbox's writes in a thread of their own. Claims, attempt results and releases are most of
// what a busy dispatcher does besides HTTP: on the main thread they took about 40 % of its time per
// delivery (`npm run bench -- webhooks-db` prints the CPU of each thread). With the statements, commits
// and WAL appends on another core, the main thread, which also serves the API, keeps to HTTP, signing and
// scheduling. The thread has its own connection to the same
// file; SQLite's locking (IMMEDIATE transactions, busy_timeout) orders its writes with the main
// connection's, as it would a second process's. A write on the main connection may thus wait for an outbox
// commit, but for one at most: the thread only commits batches the main thread sends, one at a time, and
// a main thread waiting for the lock sends none. The thread never holds the lock between batches, so
// neither side can wait on the other in a circle.
import { Worker } from 'node:worker_threads';
import type { Delivery } from '../webhooks/types.js';
import type { Outcome } from './group-commit.js';
import { decodeOutcomes, encodeJobs, errorFromWire, type OutboxJob } from './outbox-sqlite.js';
import type { OutboxReply, OutboxRequest, OutboxWorkerData } from './outbox-worker.js';

export interface OutboxThread {
  commit(jobs: OutboxJob[]): Promise<Array<Outcome<Delivery[] | boolean>>>;
  stop(): Promise<void>;
  /** Ends the thread the way a crash would, answering nothing (tests of the restart). */
  kill(): Promise<void>;
}

// Worker threads do not inherit the TypeScript loader on Node 20: the thread registers it first.
const BOOT = `
const { workerData } = require('node:worker_threads');
import(workerData.tsx).then((m) => { m.register(); return import(workerData.entry); });
`;

export function startOutboxThread(data: OutboxWorkerData): OutboxThread {
  let worker: Worker | null = null;
  let batches = 0;
  const waiting = new Map<number, { resolve(o: Array<Outcome<Delivery[] | boolean>>): void; reject(err: unknown): void }>();
  let stopping: Promise<void> | null = null;

  function spawn(): Worker {
    const w = new Worker(BOOT, {
      eval: true,
      workerData: { ...data, tsx: import.meta.resolve('tsx/esm/api'), entry: import.meta.resolve('./outbox-worker.ts') },
    });
    // only a batch on its way keeps the process alive (see commit)
    w.unref();
    w.on('message', (m: OutboxReply) => {
      if (!('batch' in m)) return;
      const p = waiting.get(m.batch);
      if (!p) return;
      waiting.delete(m.batch);
      if (!waiting.size) w.unref();
      if ('error' in m) p.reject(errorFromWire(m.error));
      else p.resolve(decodeOutcomes(m.outcomes));
    });
    const fail = (err: unknown) => {
      if (worker === w) worker = null;
      // whether an unanswered batch was written is unknown; its callers see a failed store call, as with
      // a lost database connection (a delivery whose result went unrecorded is sent again once its lease
      // expires: at least once), and the next batch starts a new thread
      for (const p of waiting.values()) p.reject(err);
      waiting.clear();
    };
    w.on('error', fail);
    w.on('exit', (code) => fail(new Error(`the outbox thread exited (code ${code})`)));
    return w;
  }

  return {
    commit(jobs) {
      if (stopping) return Promise.reject(new Error('the outbox thread is stopped'));
      worker ??= spawn();
      const w = worker;
      const batch = ++batches;
      return new Promise((resolve, reject) => {
        if (!waiting.size) w.ref();
        waiting.set(batch, { resolve, reject });
        w.postMessage({ batch, jobs: encodeJobs(jobs) } satisfies OutboxRequest);
      });
    },
    async kill() {
      await worker?.terminate();
    },
    stop() {
      stopping ??= (async () => {
        const w = worker;
        if (!w) return;
        const exited = new Promise<void>((resolve) => w.once('exit', () => resolve()));
        // the thread answers every batch sent before the stop, then closes its connection
        w.ref();
        w.postMessage({ stop: true } satisfies OutboxRequest);
        const closed = new Promise<void>((resolve) => w.on('message', (m: OutboxReply) => 'stopped' in m && resolve()));
        await Promise.race([closed, exited, new Promise((r) => setTimeout(r, 5000).unref())]);
        await w.terminate();
      })();
      return stopping;
    },
  };
}
