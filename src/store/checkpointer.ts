// WAL checkpoints off the main thread. SQLite's automatic checkpoint runs inside whichever COMMIT pushes
// the WAL past 1,000 pages, on the thread that committed: it copies every page back into the database
// file and fsyncs it. Measured on the webhook outbox (claim + finish of 40,000 deliveries), that stall was
// a third of the main thread's time per delivery. A worker thread with its own connection checkpoints
// instead, PASSIVE so it never waits for or blocks a writer; the main connection keeps a much larger
// automatic threshold only as a safety net should the worker ever stop.
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import { stopThread } from './stop-thread.js';

export interface Checkpointer {
  stop(): Promise<void>;
}

/** Pages the WAL may reach before the committing connection checkpoints by itself (default SQLite: 1,000). */
export const SAFETY_NET_AUTOCHECKPOINT_PAGES = 20_000;

// Plain JavaScript evaluated in the worker: it must not depend on the TypeScript loader, which worker
// threads do not inherit on Node 20.
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.driver);
const db = new Database(workerData.file);
db.pragma('busy_timeout = 0');
let timer = null;
const tick = () => {
  try {
    db.pragma('wal_checkpoint(PASSIVE)');
  } catch (err) {
    parentPort.postMessage({ error: String(err && err.message || err) });
  }
  timer = setTimeout(tick, workerData.intervalMs);
};
timer = setTimeout(tick, workerData.intervalMs);
parentPort.on('message', (m) => {
  if (m !== 'stop') return;
  clearTimeout(timer);
  try { db.pragma('wal_checkpoint(PASSIVE)'); } catch {}
  db.close();
  parentPort.postMessage({ stopped: true });
});
`;

export function startCheckpointer(file: string, opts: { intervalMs?: number; onError?: (message: string) => void } = {}): Checkpointer {
  const driver = createRequire(import.meta.url).resolve('better-sqlite3');
  const worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { file, driver, intervalMs: opts.intervalMs ?? 100 } });
  // a background helper must never keep the process alive on its own
  worker.unref();
  let exited = false;
  worker.once('exit', () => (exited = true));
  worker.on('message', (m: { error?: string }) => {
    if (m.error) opts.onError?.(m.error);
  });
  worker.on('error', (err) => opts.onError?.(err.message));
  return {
    async stop() {
      if (!exited) await stopThread(worker, 'stop', 2000);
    },
  };
}
